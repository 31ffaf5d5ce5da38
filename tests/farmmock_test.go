package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"stf-farm/components"
	"stf-farm/components/model"
)

const (
	commandType  = "command:local:Command"
	passwordType = "random:index/randomPassword:RandomPassword"
	mockPassword = "mock-random-password-0123456789"
)

// registered is one resource the program registered with the mock engine.
type registered struct {
	Type   string
	Name   string
	URN    string
	Parent string
	Custom bool
	// Env is a command's environment with secrets unwrapped; SecretEnv names the
	// variables that arrived as secrets. Unknown values (in a preview) are left out.
	Env       map[string]string
	SecretEnv map[string]bool
	Inputs    resource.PropertyMap
	// Dependencies are the URNs the resource depends on.
	Dependencies []string
}

// farmMocks is a mock engine whose commands print what Vagrant and fleetctl would.
// Machines report the addresses in Reported (keyed by machine name), not the configured
// ones, and each unit reports the machine of the first fleet endpoint as its machine.
type farmMocks struct {
	Reported map[string]string
	DryRun   bool

	mu        sync.Mutex
	resources []registered
}

func (m *farmMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

func (m *farmMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := registered{
		Type:      args.TypeToken,
		Name:      args.Name,
		Custom:    args.Custom,
		Inputs:    args.Inputs,
		Env:       map[string]string{},
		SecretEnv: map[string]bool{},
	}
	if args.RegisterRPC != nil {
		r.Parent = args.RegisterRPC.GetParent()
		r.Dependencies = args.RegisterRPC.GetDependencies()
	}
	if env, ok := args.Inputs["environment"]; ok && env.IsObject() {
		for k, v := range env.ObjectValue() {
			if v.IsSecret() {
				r.SecretEnv[string(k)] = true
				v = v.SecretValue().Element
			}
			if v.IsString() {
				r.Env[string(k)] = v.StringValue()
			}
		}
	}

	outputs := args.Inputs.Copy()
	switch args.TypeToken {
	case commandType:
		if stdout, ok := m.stdout(r); ok {
			outputs["stdout"] = resource.NewStringProperty(stdout)
			outputs["stderr"] = resource.NewStringProperty("")
		}
	case passwordType:
		if !m.DryRun {
			outputs["result"] = resource.MakeSecret(resource.NewStringProperty(mockPassword))
		}
	}

	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return args.Name + "-id", outputs, nil
}

// stdout returns what the command would print. In a preview commands do not run, so
// there is no stdout and everything computed from it stays unknown.
func (m *farmMocks) stdout(r registered) (string, bool) {
	if m.DryRun {
		return "", false
	}
	if machine, ok := r.Env["FARM_MACHINE"]; ok {
		return vagrantReport(machine, m.Reported[machine]), true
	}
	if unit, ok := r.Env["FARM_UNIT"]; ok {
		endpoints := strings.Split(r.Env["FARM_FLEET_ENDPOINT"], ",")
		addr := strings.TrimSuffix(strings.TrimPrefix(endpoints[0], "http://"), ":2379")
		return fmt.Sprintf("%s\t0123456789abcdef/%s\tactive\trunning\n", unit, addr), true
	}
	return "", true
}

// vagrantReport is the output of report_machine for a running VirtualBox machine with a
// NAT interface and a host-only interface at address.
func vagrantReport(machine, address string) string {
	return strings.Join([]string{
		"== status",
		"1733000000,," + "metadata,machine-count,1",
		"1733000000," + machine + ",provider-name,virtualbox",
		"1733000000," + machine + ",state,running",
		"1733000000," + machine + ",state-human-short,running",
		"== ssh-config",
		"Host " + machine,
		"  HostName 127.0.0.1",
		"  User core",
		"  Port 2222",
		"  UserKnownHostsFile /dev/null",
		"  IdentityFile /home/user/.vagrant.d/insecure_private_key",
		"== addresses",
		"1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
		"2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global dynamic eth0",
		"3: eth1    inet " + address + "/24 brd 192.168.56.255 scope global eth1",
		"",
	}, "\n")
}

func (m *farmMocks) all() []registered {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]registered(nil), m.resources...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (m *farmMocks) byName(t testing.TB, name string) registered {
	t.Helper()
	for _, r := range m.all() {
		if r.Name == name {
			return r
		}
	}
	require.Failf(t, "resource not registered", "no resource named %s", name)
	return registered{}
}

func (m *farmMocks) ofType(typ string) []registered {
	var out []registered
	for _, r := range m.all() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// reportedShift returns reported addresses that differ from the configured ones: the
// last octet plus 100, so any configured address leaking downstream is caught.
func reportedShift(t testing.TB, cfg *model.Config) map[string]string {
	t.Helper()
	reported := map[string]string{}
	shift := func(addr string) string {
		parts := strings.Split(addr, ".")
		require.Len(t, parts, 4)
		var last int
		_, err := fmt.Sscanf(parts[3], "%d", &last)
		require.NoError(t, err)
		parts[3] = fmt.Sprint((last + 100) % 254)
		return strings.Join(parts, ".")
	}
	reported[cfg.DB.Name] = shift(cfg.DB.Address)
	for _, mach := range cfg.Machines {
		reported[mach.Name] = shift(mach.Address)
	}
	return reported
}

// pulumiConfig turns raw values keyed without the namespace into the engine's form.
func pulumiConfig(raw map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range raw {
		out[model.Namespace+":"+k] = v
	}
	return out
}

// runProgram runs components.Program against the mocks with the given configuration.
func runProgram(t testing.TB, raw map[string]string, mocks *farmMocks, extra ...pulumi.RunOption) error {
	t.Helper()
	dir := t.TempDir()
	// The dev stack's box is a local file that an update requires to exist.
	box := filepath.Join(dir, "boxes", "coreos_production_vagrant.box")
	require.NoError(t, os.MkdirAll(filepath.Dir(box), 0o755))
	require.NoError(t, os.WriteFile(box, []byte("box"), 0o644))
	opts := []pulumi.RunOption{
		pulumi.WithMocks(model.Namespace, "dev", mocks),
		func(info *pulumi.RunInfo) {
			info.Config = pulumiConfig(raw)
			info.RootDirectory = dir
			info.DryRun = mocks.DryRun
		},
	}
	return pulumi.RunErr(components.Program, append(opts, extra...)...)
}

// withConfig returns a copy of raw with key set to the JSON of value.
func withConfig(t testing.TB, raw map[string]string, key string, value any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range raw {
		out[k] = v
	}
	if s, ok := value.(string); ok {
		out[key] = s
		return out
	}
	data, err := json.Marshal(value)
	require.NoError(t, err)
	out[key] = string(data)
	return out
}
