// Package engine drives the farm's program through the real Pulumi engine with the
// Automation API. The program runs in this process as an inline program, so no Go
// language host plugin is needed. The engine, the backend and the provider plugins are
// the real ones.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"stf-farm/components"
	"stf-farm/components/model"
)

// Options choose the project folder, the stack and where progress goes.
type Options struct {
	// ProjectDir is the folder with Pulumi.yaml and the stack files.
	ProjectDir string
	// Stack is the stack name, for example dev.
	Stack string
	// Progress receives the engine's progress output.
	Progress io.Writer
	// Env adds variables to the engine's environment; they win over the defaults.
	Env map[string]string
}

// StateDir is the default local file backend, inside the project folder.
const StateDir = ".pulumi-state"

// Environment returns the engine's environment. PULUMI_BACKEND_URL from the process wins
// over the default local file backend with a passphrase file, so no account or login is
// needed. The Pulumi home is the project's .pulumi-home with the stand-in plugins, or
// STF_FARM_PULUMI_HOME, or with STF_FARM_OFFICIAL_PLUGINS=1 the user's own. The CLI is
// always kept off the network.
func Environment(projectDir string, extra map[string]string) (map[string]string, error) {
	env := map[string]string{
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_DISABLE_REGISTRY_RESOLVE":             "true",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":    "true",
		"PULUMI_HOME":        filepath.Join(projectDir, ".pulumi-home"),
		"PULUMI_BACKEND_URL": "file://" + filepath.Join(projectDir, StateDir),
	}
	if value := os.Getenv("PULUMI_BACKEND_URL"); value != "" {
		env["PULUMI_BACKEND_URL"] = value
	}
	// The stand-in plugins are installed in the project's own Pulumi home, never in the
	// user's, where they would replace official plugins of the same version.
	if value := os.Getenv("STF_FARM_PULUMI_HOME"); value != "" {
		env["PULUMI_HOME"] = value
	}
	if os.Getenv("STF_FARM_OFFICIAL_PLUGINS") == "1" {
		// The official plugins live in the user's own Pulumi home, ~/.pulumi by default.
		delete(env, "PULUMI_HOME")
		if value := os.Getenv("PULUMI_HOME"); value != "" {
			env["PULUMI_HOME"] = value
		}
	}
	_, hasPassphrase := os.LookupEnv("PULUMI_CONFIG_PASSPHRASE")
	_, hasPassphraseFile := os.LookupEnv("PULUMI_CONFIG_PASSPHRASE_FILE")
	if !hasPassphrase && !hasPassphraseFile {
		file, err := passphraseFile(filepath.Join(projectDir, StateDir))
		if err != nil {
			return nil, err
		}
		env["PULUMI_CONFIG_PASSPHRASE_FILE"] = file
	}
	for k, v := range extra {
		env[k] = v
	}
	return env, nil
}

// passphraseFile returns the file that holds the passphrase of the stacks' secrets,
// creating it with a random passphrase on first use. Losing it makes the secrets in the
// stack files unreadable, so it is never overwritten.
func passphraseFile(dir string) (string, error) {
	path := filepath.Join(dir, "passphrase")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("cannot create the state folder %s: %w", dir, err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot create the passphrase file %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(secret) + "\n"); err != nil {
		return "", err
	}
	return path, nil
}

// OpenStack selects the stack, creating it when it does not exist, with the farm's
// program as an inline program. It uses bin/pulumi in the project folder when it
// exists, else the pulumi on PATH.
func OpenStack(ctx context.Context, opts Options) (auto.Stack, error) {
	if err := checkStackFile(opts.ProjectDir, opts.Stack); err != nil {
		return auto.Stack{}, err
	}
	env, err := Environment(opts.ProjectDir, opts.Env)
	if err != nil {
		return auto.Stack{}, err
	}

	commandOpts := &auto.PulumiCommandOptions{SkipVersionCheck: true}
	if _, err := os.Stat(filepath.Join(opts.ProjectDir, "bin", "pulumi")); err == nil {
		commandOpts.Root = opts.ProjectDir
	}
	cli, err := auto.NewPulumiCommand(commandOpts)
	if err != nil {
		return auto.Stack{}, fmt.Errorf("the Pulumi CLI cannot run (build it with `make tools`): %w", err)
	}

	workspaceOpts := []auto.LocalWorkspaceOption{
		auto.WorkDir(opts.ProjectDir),
		auto.EnvVars(env),
		auto.Pulumi(cli),
		auto.SecretsProvider("passphrase"),
	}
	if home, ok := env["PULUMI_HOME"]; ok {
		workspaceOpts = append(workspaceOpts, auto.PulumiHome(home))
	}
	stack, err := auto.UpsertStackInlineSource(ctx, opts.Stack, model.Namespace, components.ProgramWithEnv(opts.ProjectDir, opts.Env),
		workspaceOpts...)
	if err != nil {
		if wrongPassphrase(err) {
			return auto.Stack{}, fmt.Errorf("cannot open stack %s: Pulumi.%s.yaml has an encryptionsalt line "+
				"that another passphrase wrote, not the one this project uses (%s). Fix: when the file holds "+
				"no secure: values, delete its encryptionsalt line; otherwise set PULUMI_CONFIG_PASSPHRASE "+
				"to the passphrase that encrypted them. (%w)", opts.Stack, opts.Stack, passphraseSource(env), err)
		}
		return auto.Stack{}, fmt.Errorf("cannot open stack %s: %w", opts.Stack, err)
	}
	return stack, nil
}

// wrongPassphrase reports whether err is the CLI's failure to decrypt a stack's secrets
// with the passphrase it was given.
func wrongPassphrase(err error) bool {
	return err != nil && strings.Contains(err.Error(), "incorrect passphrase")
}

// ExplainPassphrase returns err with the fix when the CLI rejected the passphrase of
// a stack that exists in the backend, and err unchanged otherwise. The CLI's own
// message names neither the stack file nor where the passphrase came from.
func ExplainPassphrase(opts Options, err error) error {
	if !wrongPassphrase(err) {
		return err
	}
	env, envErr := Environment(opts.ProjectDir, opts.Env)
	if envErr != nil {
		return err
	}
	return fmt.Errorf("the passphrase from %s does not decrypt stack %s, because its encryptionsalt "+
		"line in Pulumi.%s.yaml, or the secrets in its state, came from another passphrase. Fix: set "+
		"PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the passphrase that created the "+
		"stack. If the stack file holds no secure: values and the stack has no resources, deleting the "+
		"encryptionsalt line also works. (the CLI reported: incorrect passphrase)",
		passphraseSource(env), opts.Stack, opts.Stack)
}

// passphraseSource names where the engine's secrets passphrase comes from.
func passphraseSource(env map[string]string) string {
	if path, ok := env["PULUMI_CONFIG_PASSPHRASE_FILE"]; ok {
		return "the file " + path
	}
	if path, ok := os.LookupEnv("PULUMI_CONFIG_PASSPHRASE_FILE"); ok {
		return "the file " + path
	}
	return "PULUMI_CONFIG_PASSPHRASE"
}

// previewEnvironment holds the variables that a preview adds to the engine's
// environment. A preview keeps no state, yet the engine serializes its whole snapshot
// after every step unless checkpoints are skipped, which makes a preview's time grow with
// the square of the number of resources. Skipping them changes no step of the preview.
// An up keeps its checkpoints, so state written before a failure is not lost.
var previewEnvironment = map[string]string{"PULUMI_SKIP_CHECKPOINTS": "true"}

// Preview runs a preview of stack with the variables of previewEnvironment added to
// the engine's environment for that preview only.
func Preview(ctx context.Context, stack auto.Stack, opts ...optpreview.Option) (auto.PreviewResult, error) {
	ws := stack.Workspace()
	// GetEnvVars returns the workspace's own map, which SetEnvVar changes.
	previous := maps.Clone(ws.GetEnvVars())
	for name, value := range previewEnvironment {
		ws.SetEnvVar(name, value)
	}
	defer func() {
		for name := range previewEnvironment {
			if value, ok := previous[name]; ok {
				ws.SetEnvVar(name, value)
			} else {
				ws.UnsetEnvVar(name)
			}
		}
	}()
	return stack.Preview(ctx, opts...)
}

// checkStackFile requires the stack's settings file, so a mistyped stack name does not
// create a stack, and rejects settings the program does not read, so a misspelt key is
// not silently ignored.
func checkStackFile(projectDir, stack string) error {
	path := filepath.Join(projectDir, "Pulumi."+stack+".yaml")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("stack %s has no settings file %s: create it, for example by copying Pulumi.dev.yaml", stack, path)
	}
	project, err := workspace.LoadProject(filepath.Join(projectDir, "Pulumi.yaml"))
	if err != nil {
		return err
	}
	settings, err := workspace.LoadProjectStack(diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never}),
		project, path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	settingsText := map[string]string{}
	var secrets []string
	raw := map[string]string{}
	for key, value := range settings.Config {
		if key.Namespace() != model.Namespace {
			continue
		}
		settingsText[key.Name()] = ""
		if value.Secure() {
			secrets = append(secrets, key.Name())
			continue
		}
		if text, err := value.Value(config.NopDecrypter); err == nil {
			raw[key.Name()] = text
			settingsText[key.Name()] = text
		}
	}
	// The program validates the same settings. Validating them here too gives the
	// problems in one short message, where the engine would wrap the program's error in
	// its own output. Unknown keys and the problems of the known ones come together.
	_, err = model.Load(raw)
	return model.Merge(model.CheckKeys(settingsText, secrets), err)
}
