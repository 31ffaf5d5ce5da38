package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stf-farm/components"
	"stf-farm/components/engine"
	"stf-farm/components/model"
)

// The versions that the SDKs in go.mod request. The engine loads exactly these plugins,
// and tools/tools.mk builds and installs the same versions.
const (
	cliVersion           = "v3.276.0"
	commandPluginVersion = "1.2.1"
	randomPluginVersion  = "4.21.2"
)

// stepTimeout bounds one engine operation (a preview or an up), so a command that hangs
// fails its test instead of blocking the whole run.
const stepTimeout = 2 * time.Minute

// testPassphrase protects the secrets of the temporary stacks. It protects nothing of
// value: every stack lives in a temporary folder that the test removes.
const testPassphrase = "stf-farm engine tests"

// shellTools are the programs that the farm's scripts and the stand-ins run. The tests
// link each of them into a folder of their own and put only that folder (and the
// stand-ins) on the engine's PATH, so the farm's scripts cannot reach a real vagrant,
// ssh or fleetctl.
var shellTools = []string{
	"awk", "basename", "cat", "cut", "date", "dirname", "grep", "head", "id", "mkdir",
	"mktemp", "mv", "rm", "sed", "sha256sum", "sleep", "sort", "tr",
}

// repoRoot returns the top of the repository: the nearest folder above the test whose
// go.mod declares the stf-farm module.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module stf-farm\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("cannot find the top of the repository (the go.mod of module stf-farm) above the test folder")
		}
		dir = parent
	}
}

// pluginsDir returns the plugins folder that `make tools` fills: the one in
// STF_FARM_PULUMI_HOME when the Makefile sets it, else .pulumi-home at the top of the
// repository.
func pluginsDir(root string) string {
	if home := os.Getenv("STF_FARM_PULUMI_HOME"); home != "" {
		return filepath.Join(home, "plugins")
	}
	return filepath.Join(root, ".pulumi-home", "plugins")
}

// requireTools fails the test unless the CLI and both provider plugins are in place. It
// returns the CLI run through a link in linkDir/bin, because the Automation API puts the
// CLI's folder first on the PATH it inherits, and the repository's bin/ also holds the
// real fleetctl.
func requireTools(tb testing.TB, root, linkDir string) auto.PulumiCommand {
	tb.Helper()
	cliPath := filepath.Join(root, "bin", "pulumi")
	if _, err := os.Stat(cliPath); err != nil {
		tb.Fatalf("the Pulumi CLI is missing at %s: run `make tools` at the top of the repository (%v)", cliPath, err)
	}
	plugins := pluginsDir(root)
	for _, plugin := range []string{
		"resource-command-v" + commandPluginVersion + "/pulumi-resource-command",
		"resource-random-v" + randomPluginVersion + "/pulumi-resource-random",
	} {
		if _, err := os.Stat(filepath.Join(plugins, plugin)); err != nil {
			tb.Fatalf("the provider plugin %s is not installed in %s: run `make tools` at the top of the repository",
				plugin, plugins)
		}
	}
	if err := os.MkdirAll(filepath.Join(linkDir, "bin"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink(cliPath, filepath.Join(linkDir, "bin", "pulumi")); err != nil {
		tb.Fatal(err)
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: linkDir, SkipVersionCheck: true})
	if err != nil {
		tb.Fatalf("%s does not run: %v. Run `make tools` at the top of the repository", cliPath, err)
	}
	if got := "v" + cli.Version().String(); got != cliVersion {
		tb.Fatalf("%s reports version %s but the SDK in go.mod needs %s: run `make tools` to rebuild it",
			cliPath, got, cliVersion)
	}
	return cli
}

// options describe one temporary stack.
type options struct {
	// stack is the stack name.
	stack string
	// stackFile is the content of Pulumi.<stack>.yaml. Empty means a copy of the
	// repository's file of that stack.
	stackFile []byte
	// program is the inline program. Nil means components.Program.
	program pulumi.RunFunc
	// standIns lists the stand-ins (vagrant, fleetctl, ssh) to put on PATH. PATH has
	// none of these programs otherwise, so a command that needs a missing one fails.
	standIns []string
}

// farmStack is a stack of a temporary copy of the project, with its own file backend,
// Pulumi home folder and PATH. Its methods take the test that calls them, so subtests
// can use one stack.
type farmStack struct {
	stack auto.Stack
	// dir is the project folder: Pulumi.yaml and the stack file.
	dir string
	// env holds the environment variables of the engine, the providers and the commands.
	env map[string]string
	// path is the PATH the engine, the providers and the commands see.
	path string
	// standIns holds the stand-ins' data and call log; nil when they are off.
	standIns *standIns
}

// newStack copies Pulumi.yaml and the stack file into a temporary folder and opens the
// stack there with the inline program.
func newStack(tb testing.TB, opts options) *farmStack {
	tb.Helper()
	root := repoRoot(tb)
	base := tb.TempDir()
	cli := requireTools(tb, root, filepath.Join(base, "cli"))

	dir := filepath.Join(base, "project")
	home := filepath.Join(base, "pulumi-home")
	backend := filepath.Join(base, "state")
	tools := filepath.Join(base, "tools")
	for _, d := range []string{dir, home, backend, tools} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	copyFile(tb, filepath.Join(root, "Pulumi.yaml"), filepath.Join(dir, "Pulumi.yaml"))
	stackFile := filepath.Join(dir, "Pulumi."+opts.stack+".yaml")
	settings := opts.stackFile
	if len(settings) == 0 {
		settings = readStackFile(tb, filepath.Join(root, "Pulumi."+opts.stack+".yaml"))
	}
	if err := os.WriteFile(stackFile, settings, 0o644); err != nil {
		tb.Fatal(err)
	}

	// The home folder is private to the test, so the CLI writes its workspace settings
	// there. Its plugins folder is a link to the installed plugins, because the CLI
	// does not accept a link per plugin. The engine only reads the plugins, but it does
	// touch the empty <plugin>.lastused file beside each one that it loads.
	if err := os.Symlink(pluginsDir(root), filepath.Join(home, "plugins")); err != nil {
		tb.Fatal(err)
	}
	linkShellTools(tb, tools)

	pathDirs := []string{tools}
	env := map[string]string{
		"PULUMI_BACKEND_URL":       "file://" + backend,
		"PULUMI_HOME":              home,
		"PULUMI_CONFIG_PASSPHRASE": testPassphrase,
		// An inherited passphrase file would compete with the passphrase above.
		"PULUMI_CONFIG_PASSPHRASE_FILE": "",
		// These keep the CLI off the network (no update check, plugin download or
		// registry look-up) and skip the Automation API's own check of the CLI's
		// version, which requireTools makes.
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_DISABLE_REGISTRY_RESOLVE":             "true",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":    "true",
	}
	s := &farmStack{dir: dir}
	if len(opts.standIns) > 0 {
		s.standIns = installStandIns(tb, filepath.Join(base, "stand-ins"), opts.standIns)
		pathDirs = append([]string{s.standIns.bin}, pathDirs...)
		env[standInDirVariable] = s.standIns.dir
	}
	// A PATH in the workspace variables comes after the inherited one in the CLI's
	// environment and so wins: the engine, the providers and the commands see exactly
	// this list.
	s.path = strings.Join(pathDirs, string(os.PathListSeparator))
	env["PATH"] = s.path
	s.env = env

	program := opts.program
	if program == nil {
		program = components.Program
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	stack, err := auto.UpsertStackInlineSource(ctx, opts.stack, model.Namespace, program,
		auto.WorkDir(dir),
		auto.Pulumi(cli),
		auto.PulumiHome(home),
		auto.EnvVars(env),
		auto.SecretsProvider("passphrase"),
	)
	if err != nil {
		tb.Fatalf("cannot create the stack %s in the temporary project: %v", opts.stack, err)
	}
	s.stack = stack
	if s.standIns != nil {
		cfg := s.config(tb)
		s.standIns.describe(tb, cfg)
		placeBoxFiles(tb, cfg, dir)
	}
	return s
}

// placeBoxFiles creates an empty file at each relative box path of cfg, because `up`
// requires the box files of the VirtualBox provider to exist. The stand-in vagrant never
// reads them.
func placeBoxFiles(tb testing.TB, cfg *model.Config, dir string) {
	tb.Helper()
	for _, box := range []model.Box{cfg.Box, cfg.DB.Box} {
		if box.URL == "" || strings.Contains(box.URL, "://") || filepath.IsAbs(box.URL) {
			continue
		}
		path := filepath.Join(dir, box.URL)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// machineNames returns the names of the db machine and of every cluster machine.
func machineNames(cfg *model.Config) []string {
	names := []string{cfg.DB.Name}
	for _, m := range cfg.Machines {
		names = append(names, m.Name)
	}
	return names
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		tb.Fatalf("cannot read %s for the temporary project: %v", from, err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// readStackFile returns the stack file at path without its encryptionsalt line. Any
// preview or up in the checkout adds that line for the checkout's own passphrase, and
// the temporary project's stack uses the test's passphrase.
func readStackFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("cannot read %s for the temporary project: %v", path, err)
	}
	var lines []string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(line, "encryptionsalt:") {
			lines = append(lines, line)
		}
	}
	return []byte(strings.Join(lines, ""))
}

// linkShellTools links every program of shellTools, as found on the test's own PATH,
// into dir.
func linkShellTools(tb testing.TB, dir string) {
	tb.Helper()
	for _, name := range shellTools {
		target, err := exec.LookPath(name)
		if err != nil {
			tb.Fatalf("the farm's scripts need %s, which is not on PATH: install it "+
				"(Debian's coreutils, grep, sed and mawk packages hold them all)", name)
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			tb.Fatal(err)
		}
	}
}

// config reads the stack's configuration back from the CLI and loads it as the program
// does.
func (s *farmStack) config(tb testing.TB) *model.Config {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	values, err := s.stack.GetAllConfig(ctx)
	if err != nil {
		tb.Fatalf("cannot read the configuration of stack %s: %v", s.stack.Name(), err)
	}
	raw := map[string]string{}
	for key, value := range values {
		if name, ok := strings.CutPrefix(key, model.Namespace+":"); ok {
			raw[name] = value.Value
		}
	}
	cfg, err := model.Load(raw)
	if err != nil {
		tb.Fatalf("the configuration of stack %s is invalid: %v", s.stack.Name(), err)
	}
	return cfg
}

// setConfig sets one configuration value by path (for example
// stf-farm:machines[1].memory) until the test ends, when its cleanup restores the stack
// file. As with `pulumi config set --path`, a whole number is stored as a number.
func (s *farmStack) setConfig(tb testing.TB, path, value string) {
	tb.Helper()
	file := filepath.Join(s.dir, "Pulumi."+s.stack.Name()+".yaml")
	before, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.WriteFile(file, before, 0o644); err != nil {
			tb.Errorf("cannot restore the stack file %s: %v", file, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	err = s.stack.SetConfigWithOptions(ctx, path, auto.ConfigValue{Value: value}, &auto.ConfigOptions{Path: true})
	if err != nil {
		tb.Fatalf("cannot set %s to %s: %v", path, value, err)
	}
}

// step is one step of a preview or an update, as the engine reports it.
type step struct {
	op     string
	urn    string
	typ    string
	parent string
	diffs  []string
}

// name returns the resource name at the end of the step's URN.
func (s step) name() string {
	return s.urn[strings.LastIndex(s.urn, "::")+2:]
}

func (s step) String() string {
	if len(s.diffs) == 0 {
		return s.op + " " + s.name()
	}
	return s.op + " " + s.name() + " (changed: " + strings.Join(s.diffs, ", ") + ")"
}

// outcome is what one preview or up reported.
type outcome struct {
	// summary counts the resources by operation: create, update, replace, delete, same.
	summary map[string]int
	// steps are the engine's steps in the order it announced them.
	steps []step
	// output is the engine's progress output.
	output string
}

// changes returns every step that is not "same".
func (o outcome) changes() []step {
	var out []step
	for _, s := range o.steps {
		if s.op != "same" {
			out = append(out, s)
		}
	}
	return out
}

// summaryText formats the change summary in a stable order, for messages.
func (o outcome) summaryText() string {
	ops := make([]string, 0, len(o.summary))
	for op, n := range o.summary {
		ops = append(ops, fmt.Sprintf("%s=%d", op, n))
	}
	sort.Strings(ops)
	return strings.Join(ops, " ")
}

// changedSummary returns the summary without the "same" count.
func (o outcome) changedSummary() map[string]int {
	out := map[string]int{}
	for op, n := range o.summary {
		if op != "same" && n != 0 {
			out[op] = n
		}
	}
	return out
}

// collectSteps reads engine events until the channel closes and returns the steps.
func collectSteps(ch <-chan events.EngineEvent, done chan<- []step) {
	var steps []step
	for e := range ch {
		if e.ResourcePreEvent == nil {
			continue
		}
		m := e.ResourcePreEvent.Metadata
		st := step{op: string(m.Op), urn: m.URN, typ: m.Type, diffs: m.Diffs}
		if m.New != nil {
			st.parent = m.New.Parent
		} else if m.Old != nil {
			st.parent = m.Old.Parent
		}
		steps = append(steps, st)
	}
	done <- steps
}

// inProjectDir runs fn with the process's working directory set to the project folder
// and the stack's environment variables set. The inline program runs in this process.
// It takes its project folder (where relative box paths start) from the working
// directory, because the engine gives an inline program no root directory. It runs the
// programs that read machine states (VBoxManage) with the stack's PATH and stand-ins. No test of this package runs in parallel, so
// changing the process-wide directory and environment is safe.
func (s *farmStack) inProjectDir(tb testing.TB, fn func()) {
	tb.Helper()
	previous, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chdir(s.dir); err != nil {
		tb.Fatal(err)
	}
	restore := map[string]*string{}
	for name, value := range s.env {
		if old, ok := os.LookupEnv(name); ok {
			restore[name] = &old
		} else {
			restore[name] = nil
		}
		if err := os.Setenv(name, value); err != nil {
			tb.Fatal(err)
		}
	}
	defer func() {
		for name, old := range restore {
			if old == nil {
				os.Unsetenv(name)
			} else {
				os.Setenv(name, *old)
			}
		}
		if err := os.Chdir(previous); err != nil {
			tb.Errorf("cannot return to the folder %s: %v", previous, err)
		}
	}()
	fn()
}

// preview runs a preview and fails the test when it fails.
func (s *farmStack) preview(tb testing.TB) outcome {
	tb.Helper()
	o, err := s.tryPreview(tb)
	if err != nil {
		tb.Fatalf("preview of stack %s failed: %v", s.stack.Name(), err)
	}
	return o
}

// tryPreview runs a preview and returns what it reported.
func (s *farmStack) tryPreview(tb testing.TB) (outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	ch := make(chan events.EngineEvent)
	done := make(chan []step)
	go collectSteps(ch, done)
	var progress bytes.Buffer
	var res auto.PreviewResult
	var err error
	s.inProjectDir(tb, func() {
		res, err = engine.Preview(ctx, s.stack, optpreview.EventStreams(ch), optpreview.ProgressStreams(&progress))
	})
	steps := <-done
	if err != nil {
		return outcome{}, fmt.Errorf("%w\nengine output:\n%s", err, progress.String())
	}
	summary := map[string]int{}
	for op, n := range res.ChangeSummary {
		summary[string(op)] = n
	}
	return outcome{summary: summary, steps: steps, output: progress.String()}, nil
}

// up runs an update and fails the test when it fails.
func (s *farmStack) up(tb testing.TB) outcome {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	ch := make(chan events.EngineEvent)
	done := make(chan []step)
	go collectSteps(ch, done)
	var progress bytes.Buffer
	var res auto.UpResult
	var err error
	s.inProjectDir(tb, func() {
		res, err = s.stack.Up(ctx, optup.EventStreams(ch), optup.ProgressStreams(&progress))
	})
	steps := <-done
	if err != nil {
		tb.Fatalf("up of stack %s failed: %v\nengine output:\n%s", s.stack.Name(), err, progress.String())
	}
	summary := map[string]int{}
	if res.Summary.ResourceChanges != nil {
		for op, n := range *res.Summary.ResourceChanges {
			summary[op] = n
		}
	}
	return outcome{summary: summary, steps: steps, output: progress.String()}
}
