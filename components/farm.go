package components

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stf-farm/components/model"
	"stf-farm/components/placement"
	"stf-farm/components/render"
	"stf-farm/components/vagrant"
)

// FarmType is the type token of Farm.
const FarmType = "stf-farm:index:Farm"

// machineBootTimeout bounds one `vagrant up` or `vagrant reload`, which includes adding
// the box on the first boot.
const machineBootTimeout = 30 * time.Minute

// FarmArgs describe a farm.
type FarmArgs struct {
	// Config is the validated stack configuration.
	Config *model.Config
	// Stack names the farm's machines and etcd cluster.
	Stack string
	// ProjectDir is the folder that relative box paths start from.
	ProjectDir string
	// FarmDir is the stack's Vagrant project folder.
	FarmDir string
	// Secret signs STF's sessions. Nil means a generated random password.
	Secret pulumi.StringInput
	// Env holds environment variables of the engine that the program's reads of machine
	// states use over the process's own (DOCKER_HOST).
	Env map[string]string
}

// Farm is a whole STF farm: its machines, the fleet units and the nginx configuration.
type Farm struct {
	pulumi.ResourceState

	URL         pulumi.StringOutput         `pulumi:"url"`
	DBAddress   pulumi.StringOutput         `pulumi:"dbAddress"`
	Machines    pulumi.MapArrayOutput       `pulumi:"machines"`
	Units       pulumi.MapMapOutput         `pulumi:"units"`
	NginxDigest pulumi.StringOutput         `pulumi:"nginxConfigDigest"`
	Placement   pulumi.StringArrayMapOutput `pulumi:"placement"`
	UnitFiles   pulumi.StringMapOutput      `pulumi:"unitFiles"`
}

// Plan is the part of the farm that the configuration alone decides: the units and
// the machines fleet may run them on.
type Plan struct {
	Units     []render.Unit
	Placement []placement.Result
}

// PlanFarm renders the units with the configured addresses and evaluates their
// placement. Addresses do not change a unit's [X-Fleet] section, so the result holds for
// the reported addresses too. A unit that no machine can run fails here, before any
// resource is registered.
func PlanFarm(cfg *model.Config) (Plan, error) {
	addresses := render.Addresses{DB: cfg.DB.Address, Machines: map[string]string{}}
	var machines []placement.Machine
	for _, m := range cfg.Machines {
		addresses.Machines[m.Name] = m.Address
		metadata := map[string]string{}
		for _, kv := range m.FleetMetadata() {
			metadata[kv[0]] = kv[1]
		}
		machines = append(machines, placement.Machine{Name: m.Name, Metadata: metadata})
	}

	units, err := render.Units(cfg, render.UnitValues{Addresses: addresses, Secret: "planning"})
	if err != nil {
		return Plan{}, err
	}
	placementUnits := make([]placement.Unit, len(units))
	for i, u := range units {
		placementUnits[i] = placement.Unit{Name: u.Name, Text: u.Text}
	}
	results, err := placement.Evaluate(placementUnits, machines)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Units: units, Placement: results}, nil
}

// NewFarm creates the farm. It plans before it registers anything, so a configuration
// fleet could not schedule fails without running a command.
func NewFarm(ctx *pulumi.Context, name string, args FarmArgs, opts ...pulumi.ResourceOption) (*Farm, error) {
	cfg := args.Config
	plan, err := PlanFarm(cfg)
	if err != nil {
		return nil, err
	}
	network, err := netip.ParsePrefix(cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("%s:network: %w", model.Namespace, err)
	}

	f := &Farm{}
	if err := ctx.RegisterComponentResource(FarmType, name, f, opts...); err != nil {
		return nil, err
	}

	secret := args.Secret
	if secret == nil {
		password, err := random.NewRandomPassword(ctx, name+"-secret", &random.RandomPasswordArgs{
			Length:  pulumi.Int(32),
			Special: pulumi.Bool(false),
		}, pulumi.Parent(f))
		if err != nil {
			return nil, err
		}
		secret = password.Result
	}

	db, cores, err := newMachines(ctx, f, args, network)
	if err != nil {
		return nil, err
	}
	addresses := collectAddresses(db, cores)

	proxyConfig := addresses.ApplyT(func(all map[string]string) (string, error) {
		a := splitAddresses(cfg, all)
		return render.NginxConf(cfg, render.ProxyValues{Addresses: a.Machines, Placement: plan.Placement})
	}).(pulumi.StringOutput)
	nginxMachine, _ := cfg.MachineWithRole(model.RoleNginx)
	proxy, err := NewProxy(ctx, name+"-proxy", ProxyArgs{
		Config:  proxyConfig,
		Image:   cfg.STF.NginxImage,
		Machine: cores[nginxMachine.Name],
	}, pulumi.Parent(f))
	if err != nil {
		return nil, err
	}

	units, err := NewFleetUnits(ctx, name+"-units", FleetUnitsArgs{
		Units:        plan.Units,
		Texts:        unitTexts(cfg, plan.Units, db, cores, secret),
		Placement:    plan.Placement,
		Endpoint:     fleetEndpoint(cfg, cores),
		ClusterBoot:  clusterBoot(cfg, cores),
		MachineNames: machineNames(cfg, addresses),
		Timeout:      time.Duration(cfg.UnitTimeoutSeconds) * time.Second,
		ProxyReady:   []pulumi.Resource{proxy},
	}, pulumi.Parent(f))
	if err != nil {
		return nil, err
	}

	f.setOutputs(cfg, plan, db, cores, addresses, proxy, units)
	// The farm's outputs are the stack's outputs, which the program exports. Recording
	// them on the component too would store them twice, and the SDK expands the
	// dependencies of each value to every command of the farm, which made up a large
	// part of a preview's processor time.
	if err := ctx.RegisterResourceOutputs(f, pulumi.Map{}); err != nil {
		return nil, err
	}
	return f, nil
}

// newMachines boots the db machine and every cluster machine. Docker nodes boot side by
// side. VirtualBox machines boot one after the other, because Vagrant's VirtualBox
// provider does not support parallel runs and concurrent first boots race to add the
// same box.
func newMachines(ctx *pulumi.Context, f *Farm, args FarmArgs, network netip.Prefix) (*Machine, map[string]*Machine, error) {
	cfg := args.Config
	var docker *model.Docker
	if cfg.Provider == model.ProviderDocker {
		docker = &cfg.Docker
	}
	prober := &vagrant.Prober{
		ProjectDir: args.ProjectDir,
		FarmDir:    args.FarmDir,
		Provider:   cfg.Provider,
		DockerHost: cfg.Docker.Host,
		Getenv: func(name string) string {
			if value, ok := args.Env[name]; ok {
				return value
			}
			return os.Getenv(name)
		},
	}
	var previous []pulumi.Resource
	after := func() pulumi.ResourceOption {
		if cfg.Provider == model.ProviderVirtualBox {
			return pulumi.DependsOn(previous)
		}
		return pulumi.DependsOn(nil)
	}

	dbFiles, err := render.DBMachine(cfg, args.Stack)
	if err != nil {
		return nil, nil, err
	}
	db, err := NewMachine(ctx, cfg.DB.Name, MachineArgs{
		Provider:    cfg.Provider,
		FarmDir:     args.FarmDir,
		Network:     network,
		Files:       dbFiles,
		ReplaceOn:   replaceOn(cfg.Provider, cfg.DB.Address, cfg.DB.Box),
		BootTimeout: machineBootTimeout,
		Docker:      docker,
		DockerImage: cfg.Docker.DBImage,
		Finding:     prober.Machine(cfg.DB.Name),
	}, pulumi.Parent(f))
	if err != nil {
		return nil, nil, err
	}
	previous = []pulumi.Resource{db}

	cores := map[string]*Machine{}
	for _, m := range cfg.Machines {
		machineFiles, err := render.CoreMachine(cfg, args.Stack, m)
		if err != nil {
			return nil, nil, err
		}
		core, err := NewMachine(ctx, m.Name, MachineArgs{
			Provider:    cfg.Provider,
			FarmDir:     args.FarmDir,
			Network:     network,
			Files:       machineFiles,
			ReplaceOn:   replaceOn(cfg.Provider, m.Address, cfg.Box),
			BootTimeout: machineBootTimeout,
			Docker:      docker,
			DockerImage: cfg.Docker.NodeImage,
			Finding:     prober.Machine(m.Name),
		}, pulumi.Parent(f), after())
		if err != nil {
			return nil, nil, err
		}
		cores[m.Name] = core
		previous = []pulumi.Resource{core}
	}
	return db, cores, nil
}

func replaceOn(provider, address string, box model.Box) []string {
	return []string{
		"provider=" + provider,
		"address=" + address,
		"box=" + box.Name + "@" + box.Version + " " + box.URL,
	}
}

// collectAddresses gathers every machine's reported address, db included, into one
// output keyed by machine name.
func collectAddresses(db *Machine, cores map[string]*Machine) pulumi.StringMapOutput {
	all := pulumi.StringMap{}
	for name, m := range cores {
		all[name] = m.Address
	}
	return pulumi.All(db.Name, db.Address, all).ApplyT(func(values []any) map[string]string {
		out := map[string]string{values[0].(string): values[1].(string)}
		for name, addr := range values[2].(map[string]string) {
			out[name] = addr
		}
		return out
	}).(pulumi.StringMapOutput)
}

// splitAddresses separates the db machine's address from the cluster machines'.
func splitAddresses(cfg *model.Config, all map[string]string) render.Addresses {
	a := render.Addresses{DB: all[cfg.DB.Name], Machines: map[string]string{}}
	for _, m := range cfg.Machines {
		a.Machines[m.Name] = all[m.Name]
	}
	return a
}

// unitTexts renders each unit with the reported addresses of only the machines it
// uses, so a unit depends on a handful of machines however large the farm is. Units that
// carry the STF secret get secret texts; the others are rendered without it, so they
// stay readable in previews and state.
func unitTexts(cfg *model.Config, units []render.Unit, db *Machine, cores map[string]*Machine,
	secret pulumi.StringInput) []pulumi.StringOutput {
	texts := make([]pulumi.StringOutput, len(units))
	for i, u := range units {
		addresses := pulumi.StringMap{}
		for _, name := range render.UnitMachines(cfg, u.Name) {
			addresses[name] = cores[name].Address
		}
		var unitSecret pulumi.StringInput = pulumi.String("")
		if u.UsesSecret {
			unitSecret = secret
		}
		name := u.Name
		texts[i] = pulumi.All(db.Address, addresses, unitSecret).ApplyT(func(values []any) (string, error) {
			machines := values[1].(map[string]string)
			return render.UnitText(cfg, name, render.UnitValues{
				Addresses: render.Addresses{DB: values[0].(string), Machines: machines},
				Secret:    values[2].(string),
			})
		}).(pulumi.StringOutput)
	}
	return texts
}

// fleetEndpoint lists the etcd client URLs of the machines with a role (nginx, appside,
// devside). Every cluster machine is an etcd member, so fleetctl reaches the cluster
// while one of them is up, and a unit command depends on at most three machines.
func fleetEndpoint(cfg *model.Config, cores map[string]*Machine) pulumi.StringOutput {
	var addresses []any
	for _, name := range roleMachines(cfg) {
		addresses = append(addresses, cores[name].Address)
	}
	return pulumi.All(addresses...).ApplyT(func(values []any) string {
		urls := make([]string, len(values))
		for i, v := range values {
			urls[i] = "http://" + v.(string) + ":2379"
		}
		return strings.Join(urls, ",")
	}).(pulumi.StringOutput)
}

// roleMachines returns the names of the machines with the roles nginx, appside and
// devside, each once, in configuration order.
func roleMachines(cfg *model.Config) []string {
	var names []string
	for _, m := range cfg.Machines {
		if len(m.Roles) > 0 {
			names = append(names, m.Name)
		}
	}
	return names
}

func machineNames(cfg *model.Config, addresses pulumi.StringMapOutput) pulumi.StringMapOutput {
	return addresses.ApplyT(func(all map[string]string) map[string]string {
		names := map[string]string{}
		for _, m := range cfg.Machines {
			names[all[m.Name]] = m.Name
		}
		return names
	}).(pulumi.StringMapOutput)
}

// clusterBoot joins the boot ids of the machines with a role. fleet keeps its units in
// etcd, which survives the loss of a minority of machines. When the role machines are
// created again, the cluster is new, so the units must be submitted again.
func clusterBoot(cfg *model.Config, cores map[string]*Machine) pulumi.StringOutput {
	var ids []any
	for _, name := range roleMachines(cfg) {
		ids = append(ids, cores[name].BootID)
	}
	return pulumi.All(ids...).ApplyT(func(values []any) string {
		parts := make([]string, len(values))
		for i, v := range values {
			parts[i] = v.(string)
		}
		return strings.Join(parts, ",")
	}).(pulumi.StringOutput)
}
