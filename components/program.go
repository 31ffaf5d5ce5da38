// Package components holds the farm's Pulumi component resources (machines, fleet
// units, the proxy and the farm that wires them) and Program, the body of the Pulumi
// program.
package components

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"stf-farm/components/model"
)

// LoadConfig reads and validates the stack configuration. It runs before any resource
// is registered, so an invalid stack fails at preview without running a command.
func LoadConfig(ctx *pulumi.Context) (*model.Config, error) {
	raw := map[string]string{}
	for _, key := range model.Keys {
		if value, err := config.Try(ctx, model.Namespace+":"+key); err == nil {
			raw[key] = value
		}
	}
	return model.Load(raw)
}

// Program is the farm's Pulumi program: it reads the stack configuration, builds the
// farm and exports its outputs. The project folder is the one Pulumi reports, else the
// working directory.
func Program(ctx *pulumi.Context) error {
	return ProgramIn("")(ctx)
}

// ProgramIn returns the program for the project in projectDir, for drivers that run it
// as an inline program, where Pulumi reports no project folder. An empty projectDir
// means the one Pulumi reports, else the working directory.
func ProgramIn(projectDir string) pulumi.RunFunc {
	return ProgramWithEnv(projectDir, nil)
}

// ProgramWithEnv is ProgramIn for a driver that gives the engine environment variables
// of its own. A program that the CLI starts inherits the engine's variables, but an
// inline program runs in the driver's process, so env passes them on: the program's
// reads of machine states then use the same DOCKER_HOST as the machine commands.
func ProgramWithEnv(projectDir string, env map[string]string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		dir := projectDir
		if dir == "" {
			dir = ctx.RootDirectory()
		}
		if dir == "" {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			dir = wd
		}
		return run(ctx, dir, env)
	}
}

func run(ctx *pulumi.Context, projectDir string, env map[string]string) error {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return err
	}

	var secret pulumi.StringInput
	secretKey := model.Namespace + ":" + model.SecretKey
	if value := config.Get(ctx, secretKey); value != "" {
		if !ctx.IsConfigSecret(secretKey) {
			return fmt.Errorf("%s is stored as plain text in Pulumi.%s.yaml. Fix: set it again with "+
				"`make pulumi ARGS='config set --secret %s --stack %s'`, which asks for the value, or with "+
				"`pulumi config set --secret %s <value> --stack %s` where the pulumi on PATH uses this "+
				"stack's backend", secretKey, ctx.Stack(), secretKey, ctx.Stack(), secretKey, ctx.Stack())
		}
		secret = config.GetSecret(ctx, secretKey)
	}
	if !ctx.DryRun() {
		// Checked at update only: a preview must work before the box file is in place.
		if err := checkBoxFiles(cfg, projectDir); err != nil {
			return err
		}
	}

	farm, err := NewFarm(ctx, model.Namespace, FarmArgs{
		Config:     cfg,
		Stack:      ctx.Stack(),
		ProjectDir: projectDir,
		// Relative, because the engine runs commands in the project folder: moving the
		// project then changes no command.
		FarmDir: filepath.Join(".farm", ctx.Stack()),
		Secret:  secret,
		Env:     env,
	})
	if err != nil {
		return err
	}

	ctx.Export("stfUrl", farm.URL)
	ctx.Export("dbAddress", farm.DBAddress)
	ctx.Export("machines", farm.Machines)
	ctx.Export("units", farm.Units)
	ctx.Export("nginxConfigDigest", farm.NginxDigest)
	// Secret, because some unit files contain the STF secret.
	ctx.Export("unitFiles", farm.UnitFiles)
	return nil
}

// checkBoxFiles fails when a box of the VirtualBox provider is a local path that does
// not exist, before any machine is touched.
func checkBoxFiles(cfg *model.Config, projectDir string) error {
	if cfg.Provider != model.ProviderVirtualBox {
		return nil
	}
	for key, box := range map[string]model.Box{"box": cfg.Box, "db.box": cfg.DB.Box} {
		path := box.URL
		if path == "" || strings.Contains(path, "://") && !strings.HasPrefix(path, "file://") {
			continue
		}
		path = strings.TrimPrefix(path, "file://")
		if !filepath.IsAbs(path) {
			path = filepath.Join(projectDir, path)
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s:%s.url = %q: the box file %s does not exist. Fix: put a Container "+
				"Linux Vagrant box there, or point %s.url at one", model.Namespace, key, box.URL, path, key)
		}
	}
	return nil
}
