// Package components holds the farm's Pulumi component resources (machines, fleet
// units, the proxy and the farm that wires them) and Program, the body of the Pulumi
// program.
package components

import (
	"os"
	"path/filepath"

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
// farm and exports its outputs.
func Program(ctx *pulumi.Context) error {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return err
	}

	projectDir := ctx.RootDirectory()
	if projectDir == "" {
		if projectDir, err = os.Getwd(); err != nil {
			return err
		}
	}

	var secret pulumi.StringInput
	if value := config.Get(ctx, model.Namespace+":"+model.SecretKey); value != "" {
		secret = config.GetSecret(ctx, model.Namespace+":"+model.SecretKey)
	}

	farm, err := NewFarm(ctx, model.Namespace, FarmArgs{
		Config:     cfg,
		Stack:      ctx.Stack(),
		ProjectDir: projectDir,
		FarmDir:    filepath.Join(projectDir, ".farm", ctx.Stack()),
		Secret:     secret,
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
