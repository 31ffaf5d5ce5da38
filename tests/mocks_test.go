package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components"
	"stf-farm/components/model"
)

// runDev runs the program on the dev stack with shifted reported addresses.
func runDev(t *testing.T) (*farmMocks, *model.Config) {
	t.Helper()
	cfg := devConfig(t)
	mocks := &farmMocks{Reported: reportedShift(t, cfg)}
	require.NoError(t, runProgram(t, stackConfig(t, "dev"), mocks))
	return mocks, cfg
}

func TestProgramUsesReportedAddresses(t *testing.T) {
	mocks, cfg := runDev(t)
	reported := mocks.Reported

	conf := mocks.byName(t, "stf-farm-proxy-nginx-conf").Env["FARM_NGINX_CONF"]
	require.NotEmpty(t, conf)
	for _, m := range cfg.Machines {
		assert.Contains(t, conf, reported[m.Name]+":3100", "nginx.conf lacks the reported address of %s", m.Name)
		assert.NotContains(t, conf, m.Address+":", "nginx.conf uses the configured address of %s", m.Name)
	}

	dbProxy := mocks.byName(t, "rethinkdb-proxy-28015.service").Env["FARM_UNIT_TEXT"]
	assert.Contains(t, dbProxy, "tcp://"+reported["db"]+":28015")
	assert.NotContains(t, dbProxy, "tcp://"+cfg.DB.Address+":")

	api := mocks.byName(t, "stf-api@3700.service").Env["FARM_UNIT_TEXT"]
	assert.Contains(t, api, "tcp://"+reported["core-02"]+":7150", "api must subscribe to the appside machine")
	assert.Contains(t, api, "tcp://"+reported["core-03"]+":7250", "api must subscribe to the devside machine")

	provider := mocks.byName(t, "stf-provider@1.service").Env["FARM_UNIT_TEXT"]
	assert.Contains(t, provider, `--public-ip "`+reported["core-01"]+`"`)
	assert.Contains(t, provider, "ws://"+reported["core-01"]+"/d/1/")

	endpoint := mocks.byName(t, "stf-app@3100.service").Env["FARM_FLEET_ENDPOINT"]
	assert.Equal(t, "http://"+reported["core-01"]+":2379,http://"+reported["core-02"]+":2379,http://"+
		reported["core-03"]+":2379", endpoint)
}

func TestAddressChangeReachesProxyAndUnits(t *testing.T) {
	cfg := devConfig(t)
	first := &farmMocks{Reported: reportedShift(t, cfg)}
	require.NoError(t, runProgram(t, stackConfig(t, "dev"), first))

	second := &farmMocks{Reported: reportedShift(t, cfg)}
	second.Reported["core-02"] = "192.168.56.77"
	require.NoError(t, runProgram(t, stackConfig(t, "dev"), second))

	before := first.byName(t, "stf-farm-proxy-nginx-conf").Env["FARM_NGINX_CONF"]
	after := second.byName(t, "stf-farm-proxy-nginx-conf").Env["FARM_NGINX_CONF"]
	assert.NotContains(t, before, "192.168.56.77:")
	assert.Contains(t, after, "192.168.56.77:3100")
	assert.NotContains(t, after, first.Reported["core-02"]+":")

	api := second.byName(t, "stf-api@3700.service").Env["FARM_UNIT_TEXT"]
	assert.Contains(t, api, "tcp://192.168.56.77:7150")
}

func TestProviderPinnedToItsIndex(t *testing.T) {
	mocks, cfg := runDev(t)
	plan, err := components.PlanFarm(cfg)
	require.NoError(t, err)

	for _, r := range plan.Placement {
		if r.Unit == "stf-provider@1.service" {
			assert.Equal(t, []string{"core-01"}, r.Candidates)
		}
	}
	text := mocks.byName(t, "stf-provider@1.service").Env["FARM_UNIT_TEXT"]
	assert.Contains(t, text, "MachineMetadata=index=%i")

	conf := mocks.byName(t, "stf-farm-proxy-nginx-conf").Env["FARM_NGINX_CONF"]
	assert.Contains(t, conf, `location ~ "^/d/1/([^/]+)/(?<port>(?:15[0-4][0-9]{2}|15500))/$"`)
	assert.Contains(t, conf, "proxy_pass http://"+mocks.Reported["core-01"]+":$port/;")
	assert.NotContains(t, conf, "/d/2/", "only machine 1 runs a provider in the dev stack")
}

func TestEveryChildHasParent(t *testing.T) {
	mocks, _ := runDev(t)
	urnOf := map[string]registered{}
	for _, r := range mocks.all() {
		urnOf[r.Name] = r
	}

	parentTypes := map[string]string{
		"db-vagrant":                    components.MachineType,
		"core-01-vagrant":               components.MachineType,
		"stf-farm-proxy-nginx-conf":     components.ProxyType,
		"stf-app@3100.service":          components.FleetUnitsType,
		"nginx.service":                 components.FleetUnitsType,
		"stf-farm-secret":               components.FarmType,
		"db":                            components.FarmType,
		"stf-farm-units":                components.FarmType,
		"stf-farm-proxy":                components.FarmType,
		"stf-processor@3.service":       components.FleetUnitsType,
		"rethinkdb-proxy-28015.service": components.FleetUnitsType,
	}
	for _, r := range mocks.all() {
		if r.Type == components.FarmType {
			assert.Contains(t, r.Parent, "pulumi:pulumi:Stack", "the farm is a child of the stack")
			continue
		}
		assert.Contains(t, r.Parent, "::", "%s (%s) has no parent", r.Name, r.Type)
		if want, ok := parentTypes[r.Name]; ok {
			assert.Contains(t, r.Parent, want, "%s has the wrong parent", r.Name)
		}
	}
	for name := range parentTypes {
		_, ok := urnOf[name]
		assert.True(t, ok, "resource %s was not registered", name)
	}
}

func TestGeneratedSecretStaysSecret(t *testing.T) {
	mocks, _ := runDev(t)
	require.Len(t, mocks.ofType(passwordType), 1, "without stfSecret the program generates one")

	for _, r := range mocks.ofType(commandType) {
		unit, ok := r.Env["FARM_UNIT"]
		if !ok {
			continue
		}
		text := r.Env["FARM_UNIT_TEXT"]
		if strings.Contains(text, mockPassword) {
			assert.True(t, r.SecretEnv["FARM_UNIT_TEXT"], "%s contains the secret but its text is not secret", unit)
		} else {
			assert.False(t, r.SecretEnv["FARM_UNIT_TEXT"], "%s has no secret but its text is secret", unit)
		}
	}
	app := mocks.byName(t, "stf-app@3100.service")
	assert.Contains(t, app.Env["FARM_UNIT_TEXT"], `"SECRET=`+mockPassword+`"`)
	assert.True(t, app.SecretEnv["FARM_UNIT_TEXT"])
}

func TestConfiguredSecretStaysSecret(t *testing.T) {
	cfg := devConfig(t)
	raw := withConfig(t, stackConfig(t, "dev"), model.SecretKey, "configured-secret-42")
	mocks := &farmMocks{Reported: reportedShift(t, cfg)}
	require.NoError(t, runProgram(t, raw, mocks, func(info *pulumi.RunInfo) {
		info.ConfigSecretKeys = []string{model.Namespace + ":" + model.SecretKey}
	}))

	assert.Empty(t, mocks.ofType(passwordType), "a configured secret needs no generated one")
	auth := mocks.byName(t, "stf-auth@3200.service")
	assert.Contains(t, auth.Env["FARM_UNIT_TEXT"], "configured-secret-42")
	assert.True(t, auth.SecretEnv["FARM_UNIT_TEXT"])
}

func TestFarmOutputsSecretness(t *testing.T) {
	cfg := devConfig(t)
	mocks := &farmMocks{Reported: reportedShift(t, cfg)}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		farm, err := components.NewFarm(ctx, "stf-farm", components.FarmArgs{
			Config: cfg, Stack: "dev", ProjectDir: t.TempDir(), FarmDir: t.TempDir(),
		})
		if err != nil {
			return err
		}
		files, err := internals.UnsafeAwaitOutput(ctx.Context(), farm.UnitFiles)
		require.NoError(t, err)
		assert.True(t, files.Known)
		assert.True(t, files.Secret, "unit files contain the STF secret")

		url, err := internals.UnsafeAwaitOutput(ctx.Context(), farm.URL)
		require.NoError(t, err)
		assert.False(t, url.Secret)
		assert.Equal(t, "http://"+mocks.Reported["core-01"]+"/", url.Value)

		db, err := internals.UnsafeAwaitOutput(ctx.Context(), farm.DBAddress)
		require.NoError(t, err)
		assert.Equal(t, mocks.Reported["db"], db.Value)

		placed, err := internals.UnsafeAwaitOutput(ctx.Context(), farm.Placement)
		require.NoError(t, err)
		assert.False(t, placed.Secret)
		assert.Equal(t, []string{"core-01"}, placed.Value.(map[string][]string)["nginx.service"])
		return nil
	}, pulumi.WithMocks(model.Namespace, "dev", mocks))
	require.NoError(t, err)
}

func TestPreviewWithUnknownAddresses(t *testing.T) {
	cfg := devConfig(t)
	mocks := &farmMocks{Reported: reportedShift(t, cfg), DryRun: true}
	require.NoError(t, runProgram(t, stackConfig(t, "dev"), mocks))

	proxy := mocks.byName(t, "stf-farm-proxy-nginx-conf")
	_, known := proxy.Env["FARM_NGINX_CONF"]
	assert.False(t, known, "nginx.conf depends on reported addresses, unknown in a preview")
	assert.Equal(t, 2*4+len(planUnits(t, cfg))+1, len(mocks.ofType(commandType)),
		"two commands per machine (boot and report), one per unit and one for the proxy")
}

func TestInvalidConfigRegistersNothing(t *testing.T) {
	raw := withConfig(t, stackConfig(t, "dev"), "network", "172.17.8.0/24")
	mocks := &farmMocks{Reported: map[string]string{}}
	err := runProgram(t, raw, mocks)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/etc/vbox/networks.conf")
	assert.Empty(t, mocks.all(), "no resource may be registered for an invalid stack")
}

func TestUnitGroupsStartInOrder(t *testing.T) {
	mocks, _ := runDev(t)
	deps := func(name string) string {
		r := mocks.byName(t, name)
		return strings.Join(r.Dependencies, " ")
	}
	assert.Contains(t, deps("stf-migrate.service"), "rethinkdb-proxy-28015.service")
	assert.Contains(t, deps("stf-migrate.service"), "adbd.service")
	assert.Contains(t, deps("stf-app@3100.service"), "stf-migrate.service")
	assert.Contains(t, deps("stf-processor@1.service"), "stf-migrate.service")
	assert.Contains(t, deps("nginx.service"), "stf-app@3100.service")
	assert.Contains(t, deps("nginx.service"), "stf-farm-proxy")
	assert.NotContains(t, deps("adbd.service"), ".service")
}

func planUnits(t *testing.T, cfg *model.Config) []string {
	t.Helper()
	plan, err := components.PlanFarm(cfg)
	require.NoError(t, err)
	var names []string
	for _, u := range plan.Units {
		names = append(names, u.Name)
	}
	return names
}

func TestMissingBoxFileFailsUpdateOnly(t *testing.T) {
	raw := withConfig(t, stackConfig(t, "dev"), "box", map[string]any{"name": "coreos", "url": "boxes/missing.box"})
	mocks := &farmMocks{Reported: reportedShift(t, devConfig(t))}
	err := runProgram(t, raw, mocks)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `stf-farm:box.url = "boxes/missing.box": the box file`)
	assert.Empty(t, mocks.all(), "no resource may be registered when the box file is missing")

	preview := &farmMocks{Reported: reportedShift(t, devConfig(t)), DryRun: true}
	assert.NoError(t, runProgram(t, raw, preview), "a preview must not need the box file")
}

func TestPlainTextSecretIsRejected(t *testing.T) {
	raw := withConfig(t, stackConfig(t, "dev"), model.SecretKey, "hunter2")
	mocks := &farmMocks{Reported: reportedShift(t, devConfig(t))}
	err := runProgram(t, raw, mocks)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pulumi config set --secret stf-farm:stfSecret")
	assert.Empty(t, mocks.all())
}

func TestVirtualBoxMachinesBootInTurn(t *testing.T) {
	mocks, _ := runDev(t)
	deps := func(name string) string { return strings.Join(mocks.byName(t, name).Dependencies, " ") }
	assert.Contains(t, deps("core-01"), "::db", "core-01 must wait for the db machine")
	assert.Contains(t, deps("core-02"), "::core-01")
	assert.Contains(t, deps("core-03"), "::core-02")
}

func TestDockerMachinesBootTogether(t *testing.T) {
	raw := readdressedDev(t, "10.231.8.0/24", "10.231.8.11", "10.231.8.101", "10.231.8.102", "10.231.8.103")
	raw = withConfig(t, raw, "provider", "docker")
	cfg, err := model.Load(raw)
	require.NoError(t, err)

	mocks := &farmMocks{Reported: reportedShift(t, cfg), DryRun: true}
	require.NoError(t, runProgram(t, raw, mocks))
	for _, name := range []string{"core-01", "core-02", "core-03"} {
		assert.Empty(t, mocks.byName(t, name).Dependencies, "%s must not wait for another machine", name)
	}
}

func TestUnitsFollowClusterBoot(t *testing.T) {
	mocks, _ := runDev(t)
	boot := mocks.byName(t, "stf-app@3100.service").Env["FARM_CLUSTER_BOOT"]
	assert.Equal(t, "core-01-vagrant-id,core-02-vagrant-id,core-03-vagrant-id", boot,
		"a unit must run again when any cluster machine is created again")
}

// A machine found down gets a FARM_STARTS value one above its boot record's, which
// updates its boot command; the others keep theirs.
func TestDownMachineGetsNewStartsValue(t *testing.T) {
	cfg := devConfig(t)
	farmDir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(farmDir, "machines"), 0o755))
	// core-02 was booted three times, and Vagrant has no record of it now.
	record := filepath.Join(farmDir, "machines", "core-02.applied")
	require.NoError(t, os.WriteFile(record, []byte("starts 3\nfiles abc\n"), 0o644))
	mocks := &farmMocks{Reported: reportedShift(t, cfg)}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := components.NewFarm(ctx, "stf-farm", components.FarmArgs{
			Config: cfg, Stack: "dev", ProjectDir: t.TempDir(), FarmDir: farmDir,
		})
		return err
	}, pulumi.WithMocks(model.Namespace, "dev", mocks))
	require.NoError(t, err)

	assert.Equal(t, "4", mocks.byName(t, "core-02-vagrant").Env["FARM_STARTS"])
	for _, name := range []string{"db-vagrant", "core-01-vagrant", "core-03-vagrant"} {
		assert.Equal(t, "0", mocks.byName(t, name).Env["FARM_STARTS"], "%s was never booted", name)
	}
}
