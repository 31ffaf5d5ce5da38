package tests

// Each test here pins one way the classic Vagrant, CoreOS and fleet setup of STF went
// wrong, named for the behaviour the farm guarantees instead.

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components"
	"stf-farm/components/model"
	"stf-farm/components/render"
)

// upstreamServer matches one server line of an nginx upstream.
var upstreamServer = regexp.MustCompile(`(?m)^\s*server (\S+) `)

func TestNginxConfListsOnlyAddresses(t *testing.T) {
	for stack, cfg := range stackVariants(t) {
		plan, err := components.PlanFarm(cfg)
		require.NoError(t, err)
		addresses := map[string]string{}
		for _, m := range cfg.Machines {
			addresses[m.Name] = m.Address
		}
		conf, err := render.NginxConf(cfg, render.ProxyValues{Addresses: addresses, Placement: plan.Placement})
		require.NoError(t, err)

		servers := upstreamServer.FindAllStringSubmatch(conf, -1)
		require.NotEmpty(t, servers, stack)
		for _, s := range servers {
			assert.Regexp(t, `^\d+\.\d+\.\d+\.\d+:\d+$`, s[1], "%s: upstream server is not address:port", stack)
		}
	}
}

func TestNginxConfRejectsPlaceholderAddress(t *testing.T) {
	cfg := devConfig(t)
	plan, err := components.PlanFarm(cfg)
	require.NoError(t, err)
	_, err = render.NginxConf(cfg, render.ProxyValues{
		Addresses: map[string]string{
			"core-01": "172.17.8.10{1|2|3}", "core-02": "192.168.56.102", "core-03": "192.168.56.103",
		},
		Placement: plan.Placement,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `core-01 reported "172.17.8.10{1|2|3}"`)
}

func TestProcessorUnitKeepsUnitSection(t *testing.T) {
	for _, u := range renderUnits(t, devConfig(t)) {
		assert.True(t, strings.HasPrefix(u.Text, "[Unit]\n"), "%s does not start with [Unit]", u.Name)
		if !strings.HasPrefix(u.Name, "stf-processor@") {
			continue
		}
		opts, err := unit.DeserializeOptions(strings.NewReader(u.Text))
		require.NoError(t, err)
		var deps []string
		for _, o := range opts {
			if o.Section == "Unit" && (o.Name == "After" || o.Name == "BindsTo") {
				deps = append(deps, o.Name+"="+o.Value)
			}
		}
		assert.Contains(t, deps, "After=rethinkdb-proxy-28015.service", u.Name)
		assert.Contains(t, deps, "BindsTo=rethinkdb-proxy-28015.service", u.Name)
	}
}

func TestEveryUnitGetsStarted(t *testing.T) {
	mocks, cfg := runDev(t)
	for _, name := range planUnits(t, cfg) {
		r := mocks.byName(t, name)
		create := r.Inputs["create"].StringValue()
		assert.Contains(t, create, "start_unit", "%s is submitted but never started", name)
		assert.Equal(t, name, r.Env["FARM_UNIT"])
	}
	for _, name := range []string{"stf-provider@1.service", "stf-processor@1.service", "stf-processor@2.service",
		"stf-processor@3.service", "stf-triproxy-app.service", "stf-triproxy-dev.service", "stf-reaper.service"} {
		assert.Contains(t, planUnits(t, cfg), name)
	}
}

func TestUnitCommandsUseEtcdDriver(t *testing.T) {
	mocks, _ := runDev(t)
	for _, r := range mocks.ofType(commandType) {
		if _, ok := r.Env["FARM_UNIT"]; !ok {
			continue
		}
		for _, op := range []string{"create", "update", "delete"} {
			script := r.Inputs[resourceKeyOf(op)].StringValue()
			assert.Contains(t, script, `fleetctl --driver=etcd --endpoint="$FARM_FLEET_ENDPOINT"`, "%s %s", r.Name, op)
		}
		assert.Contains(t, r.Env["FARM_FLEET_ENDPOINT"], ":2379")
	}
}

func TestBootNeedsNoDiscoveryService(t *testing.T) {
	cfg := devConfig(t)
	vagrantfile := render.Vagrantfile()
	for _, removed := range []string{"File.exists?", "Dir.exists?", "open(", "discovery.etcd.io", "URI.open", "Net::HTTP"} {
		assert.NotContains(t, vagrantfile, removed, "the Vagrantfile must not use %s", removed)
	}
	for _, m := range cfg.Machines {
		files, err := render.CoreMachine(cfg, "dev", m)
		require.NoError(t, err)
		assert.NotContains(t, files.Extra, "discovery:", "%s cloud-config uses a discovery service", m.Name)
		assert.NotContains(t, files.Extra, "discovery.etcd.io", "%s cloud-config uses a discovery service", m.Name)
		assert.Contains(t, files.Extra,
			`initial-cluster: "core-01=http://192.168.56.101:2380,core-02=http://192.168.56.102:2380,core-03=http://192.168.56.103:2380"`)
		assert.Contains(t, files.Extra, `metadata: "`+m.FleetMetadataString()+`"`)
	}
}

func TestReferenceAddressesNeedNetworksConf(t *testing.T) {
	raw := readdressedDev(t, "172.17.8.0/24", "172.17.8.11", "172.17.8.101", "172.17.8.102", "172.17.8.103")

	_, err := model.Load(raw)
	var verr *model.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Len(t, verr.Problems, 1, "only the network is outside VirtualBox's range")
	assert.True(t, verr.HasKey("network"))
	assert.Contains(t, err.Error(), "192.168.56.0/21")
	assert.Contains(t, err.Error(), "/etc/vbox/networks.conf")
	assert.Contains(t, err.Error(), "allowedHostOnlyRanges")
}

func TestDockerTCPSocketStaysClosed(t *testing.T) {
	cfg := devConfig(t)
	for _, m := range cfg.Machines {
		files, err := render.CoreMachine(cfg, "dev", m)
		require.NoError(t, err)
		assert.NotContains(t, files.Extra, "2375", m.Name)
		assert.NotContains(t, files.Extra, "docker-tcp", m.Name)
	}
	for _, u := range renderUnits(t, cfg) {
		assert.NotContains(t, u.Text, "tcp://0.0.0.0:2375", u.Name)
		assert.NotContains(t, u.Text, "-H tcp", u.Name)
	}
}

func TestBoxFromLocalFile(t *testing.T) {
	cfg := devConfig(t)
	cfg.Box = model.Box{Name: "coreos-alpha", Version: "2765.0.0", URL: "boxes/coreos.box"}
	files, err := render.CoreMachine(cfg, "dev", cfg.Machines[0])
	require.NoError(t, err)

	var data struct {
		Box struct{ Name, Version, URL string }
	}
	require.NoError(t, json.Unmarshal([]byte(files.Data), &data))
	assert.Equal(t, "coreos-alpha", data.Box.Name)
	assert.Equal(t, "2765.0.0", data.Box.Version)
	assert.Equal(t, "boxes/coreos.box", data.Box.URL, "the data file keeps the path relative to the project")
	vagrantfile := render.Vagrantfile()
	assert.Contains(t, vagrantfile, `node.vm.box_url = box_url.call(m["box"]["url"]) if m["box"]["url"]`)
	assert.Contains(t, vagrantfile, `File.expand_path(url, project_dir)`)
}
