package components

import (
	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stf-farm/files"
)

// ProxyType is the type token of Proxy.
const ProxyType = "stf-farm:index:Proxy"

// ProxyArgs describe the nginx configuration and the machine it goes to.
type ProxyArgs struct {
	// Config is the rendered nginx.conf.
	Config pulumi.StringInput
	// Image is the nginx image that checks the file with nginx -t on the machine.
	Image string
	// Machine is the nginx machine; its reported SSH settings reach it.
	Machine *Machine
}

// Proxy is the nginx configuration on the nginx machine.
type Proxy struct {
	pulumi.ResourceState

	// Digest is the SHA-256 of the uploaded nginx.conf.
	Digest pulumi.StringOutput `pulumi:"digest"`
}

// NewProxy uploads nginx.conf to the nginx machine over SSH, checks it there with
// nginx -t before it replaces the live file, then reloads nginx. The command runs again
// only when one of its inputs changes: the file, the image or the machine's SSH settings.
func NewProxy(ctx *pulumi.Context, name string, args ProxyArgs, opts ...pulumi.ResourceOption) (*Proxy, error) {
	p := &Proxy{}
	if err := ctx.RegisterComponentResource(ProxyType, name, p, opts...); err != nil {
		return nil, err
	}

	upload := script("proxy-upload.sh")
	_, err := local.NewCommand(ctx, name+"-nginx-conf", &local.CommandArgs{
		// Without an update command, an update runs the create command again.
		Create: pulumi.String(upload),
		Environment: pulumi.StringMap{
			"FARM_NGINX_CONF":    args.Config,
			"FARM_NGINX_IMAGE":   pulumi.String(args.Image),
			"FARM_REMOTE_SCRIPT": pulumi.String(shellCode(files.Read("scripts/proxy-install.sh"))),
			"FARM_SSH_HOST":      args.Machine.SSHHost,
			"FARM_SSH_PORT":      args.Machine.SSHPort,
			"FARM_SSH_USER":      args.Machine.SSHUser,
			"FARM_SSH_KEY":       args.Machine.SSHKey,
		},
	}, pulumi.Parent(p))
	if err != nil {
		return nil, err
	}

	p.Digest = args.Config.ToStringOutput().ApplyT(digest).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{"digest": p.Digest}); err != nil {
		return nil, err
	}
	return p, nil
}
