package components

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stf-farm/components/model"
	"stf-farm/components/render"
	"stf-farm/components/vagrant"
	"stf-farm/files"
)

// MachineArgs describe one Vagrant machine of the farm.
type MachineArgs struct {
	// Provider is the Vagrant provider that boots the machine.
	Provider string
	// FarmDir is the stack's Vagrant project folder.
	FarmDir string
	// Network is the farm network; the machine's address is the one it reports inside it.
	Network netip.Prefix
	// Files are the machine's data file and cloud-config or provisioning script.
	Files render.MachineFiles
	// ReplaceOn lists the settings Vagrant cannot change on an existing machine (box,
	// address, provider): a change of any of them destroys and recreates the machine.
	ReplaceOn []string
	// BootTimeout bounds `vagrant up` and `vagrant reload`.
	BootTimeout time.Duration
	// Docker holds the docker provider's settings; it is nil for VirtualBox.
	Docker *model.Docker
	// DockerImage is the image of the machine's container with the docker provider.
	DockerImage string
	// Finding is the machine's state as read before planning. A machine that is down
	// gets a new FARM_STARTS value, so the plan updates it and the update starts it.
	Finding vagrant.Finding
}

// Machine is a Vagrant machine: the db machine or a cluster machine. Its outputs are the
// values the machine reports once it runs, not the configured ones.
type Machine struct {
	pulumi.ResourceState

	Name     pulumi.StringOutput `pulumi:"name"`
	Address  pulumi.StringOutput `pulumi:"address"`
	State    pulumi.StringOutput `pulumi:"state"`
	Provider pulumi.StringOutput `pulumi:"provider"`
	SSHHost  pulumi.StringOutput `pulumi:"sshHost"`
	SSHPort  pulumi.StringOutput `pulumi:"sshPort"`
	SSHUser  pulumi.StringOutput `pulumi:"sshUser"`
	SSHKey   pulumi.StringOutput `pulumi:"sshKey"`
	// BootID changes whenever the machine is created again, which loses what ran on it.
	BootID pulumi.StringOutput `pulumi:"bootId"`
}

// MachineType is the type token of Machine.
const MachineType = "stf-farm:index:Machine"

// script joins shell files into one command text, the shared functions first. Its first
// line names the files, since a preview shows only the start of a command.
func script(names ...string) string {
	parts := []string{"# stf-farm: " + strings.Join(names, " + "), shellCode(files.Read("scripts/lib.sh"))}
	for _, name := range names {
		parts = append(parts, shellCode(files.Read("scripts/"+name)))
	}
	return strings.Join(parts, "\n")
}

// shellCode drops the comment lines and blank lines of a shell script. The engine keeps
// every command text in each resource's inputs, writes it to its logs and sends it to
// the provider at each step, so a shorter text makes every preview faster. It also keeps
// an edit of a comment from changing, and so updating, every machine and unit. The
// scripts have no here-documents or multi-line strings, where such a line would be data.
func shellCode(text string) string {
	var code []string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		code = append(code, line)
	}
	return strings.Join(code, "\n")
}

// vagrantEnvironment keeps Vagrant from contacting its servers on every call.
func vagrantEnvironment() pulumi.StringMap {
	return pulumi.StringMap{
		"VAGRANT_CHECKPOINT_DISABLE":       pulumi.String("1"),
		"VAGRANT_BOX_UPDATE_CHECK_DISABLE": pulumi.String("1"),
	}
}

// NewMachine boots the machine with `vagrant up`, re-provisions it in place with
// `vagrant reload --provision` when a setting Vagrant can apply changes, and destroys it
// on delete, tolerating a machine that is already gone.
func NewMachine(ctx *pulumi.Context, name string, args MachineArgs, opts ...pulumi.ResourceOption) (*Machine, error) {
	m := &Machine{}
	if err := ctx.RegisterComponentResource(MachineType, name, m, opts...); err != nil {
		return nil, err
	}

	env := vagrantEnvironment()
	env["FARM_DIR"] = pulumi.String(args.FarmDir)
	env["FARM_MACHINE"] = pulumi.String(name)
	env["FARM_PROVIDER"] = pulumi.String(args.Provider)
	env["FARM_VAGRANTFILE"] = pulumi.String(render.Vagrantfile())
	env["FARM_MACHINE_DATA"] = pulumi.String(args.Files.Data)
	env["FARM_MACHINE_EXTRA_PATH"] = pulumi.String(args.Files.ExtraPath)
	env["FARM_MACHINE_EXTRA"] = pulumi.String(args.Files.Extra)
	env["FARM_STARTS"] = pulumi.String(strconv.Itoa(args.Finding.Starts))

	reportEnv := pulumi.StringMap{
		"FARM_DIR":                         pulumi.String(args.FarmDir),
		"FARM_MACHINE":                     pulumi.String(name),
		"FARM_PROVIDER":                    pulumi.String(args.Provider),
		"VAGRANT_CHECKPOINT_DISABLE":       pulumi.String("1"),
		"VAGRANT_BOX_UPDATE_CHECK_DISABLE": pulumi.String("1"),
	}
	if d := args.Docker; d != nil {
		env["FARM_NETWORK"] = pulumi.String(args.Network.String())
		env["FARM_DOCKER_NETWORK"] = pulumi.String(d.NetworkName)
		env["FARM_DOCKER_IMAGES"] = pulumi.String(d.ImagesDir)
		env["FARM_DOCKER_IMAGE"] = pulumi.String(args.DockerImage)
		if d.Host != "" {
			env["DOCKER_HOST"] = pulumi.String(d.Host)
			reportEnv["DOCKER_HOST"] = pulumi.String(d.Host)
		}
	}

	triggers := pulumi.Array{}
	for _, value := range args.ReplaceOn {
		triggers = append(triggers, pulumi.String(value))
	}

	timeout := args.BootTimeout.String()
	cmd, err := local.NewCommand(ctx, name+"-vagrant", &local.CommandArgs{
		Create:      pulumi.String(script("machine-files.sh", "machine-up.sh")),
		Update:      pulumi.String(script("machine-files.sh", "machine-update.sh")),
		Delete:      pulumi.String(script("machine-files.sh", "machine-destroy.sh")),
		Environment: env,
		Triggers:    triggers,
	},
		pulumi.Parent(m),
		// The Vagrant machine name is fixed, so the old machine must go first.
		pulumi.DeleteBeforeReplace(true),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: timeout, Update: timeout, Delete: timeout}),
	)
	if err != nil {
		return nil, err
	}
	// The finding goes on the boot command, whose update it explains.
	if f := args.Finding; f.Down != "" {
		msg := fmt.Sprintf("%s is down: %s. up starts it again.", name, f.Down)
		if err := ctx.Log.Warn(msg, &pulumi.LogArgs{Resource: cmd}); err != nil {
			return nil, err
		}
	} else if f.Warning != "" {
		msg := fmt.Sprintf("whether %s runs is unknown (%s); up starts it only if a setting changed.", name, f.Warning)
		if err := ctx.Log.Warn(msg, &pulumi.LogArgs{Resource: cmd}); err != nil {
			return nil, err
		}
	}

	// The report is a command of its own that runs again only when the machine is
	// created again. An in-place reload keeps the machine's address, so a preview of a
	// memory change does not turn every address, and all that is rendered from them,
	// unknown.
	reportCmd, err := local.NewCommand(ctx, name+"-report", &local.CommandArgs{
		// Without an update command, an update runs the create command again.
		Create:      pulumi.String(script("machine-files.sh", "machine-report.sh")),
		Environment: reportEnv,
		Triggers:    pulumi.Array{cmd.ID()},
	}, pulumi.Parent(m), pulumi.DependsOn([]pulumi.Resource{cmd}))
	if err != nil {
		return nil, err
	}

	report := reportCmd.Stdout.ApplyT(func(out string) (vagrant.Report, error) {
		r, err := vagrant.ParseReport(name, out, args.Network)
		if err != nil {
			return r, err
		}
		msg := fmt.Sprintf("%s is %s at %s (%s provider)", name, r.State, r.Address, r.Provider)
		return r, ctx.Log.Info(msg, &pulumi.LogArgs{Resource: m})
	})
	field := func(get func(vagrant.Report) string) pulumi.StringOutput {
		return report.ApplyT(func(v any) string { return get(v.(vagrant.Report)) }).(pulumi.StringOutput)
	}
	m.Name = pulumi.String(name).ToStringOutput()
	m.BootID = cmd.ID().ToStringOutput()
	m.Address = field(func(r vagrant.Report) string { return r.Address })
	m.State = field(func(r vagrant.Report) string { return r.State })
	m.Provider = field(func(r vagrant.Report) string { return r.Provider })
	m.SSHHost = field(func(r vagrant.Report) string { return r.SSH.Host })
	m.SSHPort = field(func(r vagrant.Report) string { return r.SSH.Port })
	m.SSHUser = field(func(r vagrant.Report) string { return r.SSH.User })
	m.SSHKey = field(func(r vagrant.Report) string { return r.SSH.IdentityFile })

	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{
		"name":     m.Name,
		"address":  m.Address,
		"state":    m.State,
		"provider": m.Provider,
		"sshHost":  m.SSHHost,
		"sshPort":  m.SSHPort,
		"sshUser":  m.SSHUser,
		"sshKey":   m.SSHKey,
		"bootId":   m.BootID,
	}); err != nil {
		return nil, err
	}
	return m, nil
}
