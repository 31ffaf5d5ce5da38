package tests

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components/model"
)

func TestLocalStackIsValid(t *testing.T) {
	cfg, err := model.Load(stackConfig(t, "local"))
	require.NoError(t, err)
	assert.Equal(t, model.ProviderDocker, cfg.Provider)
	assert.False(t, cfg.STF.PullsImages(), "the local farm loads its images onto the nodes")
	assert.Equal(t, []int{1, 2}, cfg.ProviderIndexes())
}

func TestDevStackIsValid(t *testing.T) {
	cfg := devConfig(t)
	assert.Equal(t, model.ProviderVirtualBox, cfg.Provider)
	assert.Len(t, cfg.Machines, 3)
	assert.Equal(t, []int{1}, cfg.ProviderIndexes())
	assert.Equal(t, "role=nginx,index=1", cfg.Machines[0].FleetMetadataString())
}

// devMachines returns the dev stack's machines as generic JSON values to edit.
func devMachines(t *testing.T) []map[string]any {
	t.Helper()
	var machines []map[string]any
	require.NoError(t, json.Unmarshal([]byte(stackConfig(t, "dev")["machines"]), &machines))
	return machines
}

// readdressedDev returns the dev stack moved to another network: the db machine at db
// and the cluster machines at cores, in order.
func readdressedDev(t *testing.T, network, db string, cores ...string) map[string]string {
	t.Helper()
	ms := devMachines(t)
	require.Len(t, cores, len(ms))
	for i, m := range ms {
		m["address"] = cores[i]
	}
	raw := withConfig(t, stackConfig(t, "dev"), "machines", ms)
	raw = withConfig(t, raw, "db", map[string]any{"address": db})
	return withConfig(t, raw, "network", network)
}

func devSTF(t *testing.T) map[string]any {
	t.Helper()
	var stf map[string]any
	require.NoError(t, json.Unmarshal([]byte(stackConfig(t, "dev")["stf"]), &stf))
	return stf
}

func TestValidationRejectsBadStacks(t *testing.T) {
	type edit func(t *testing.T, raw map[string]string) map[string]string

	machines := func(change func(ms []map[string]any) []map[string]any) edit {
		return func(t *testing.T, raw map[string]string) map[string]string {
			return withConfig(t, raw, "machines", change(devMachines(t)))
		}
	}
	stf := func(change func(s map[string]any)) edit {
		return func(t *testing.T, raw map[string]string) map[string]string {
			s := devSTF(t)
			change(s)
			return withConfig(t, raw, "stf", s)
		}
	}
	set := func(key string, value any) edit {
		return func(t *testing.T, raw map[string]string) map[string]string {
			return withConfig(t, raw, key, value)
		}
	}

	cases := []struct {
		name string
		edit edit
		// key is the setting the error must name; fix is a phrase of the fix.
		key, fix string
	}{
		{"duplicate machine name", machines(func(ms []map[string]any) []map[string]any {
			ms[1]["name"] = "core-01"
			return ms
		}), "machines[1].name", "its own name"},
		{"machine named like db", machines(func(ms []map[string]any) []map[string]any {
			ms[2]["name"] = "db"
			return ms
		}), "machines[2].name", "its own name"},
		{"duplicate address", machines(func(ms []map[string]any) []map[string]any {
			ms[2]["address"] = "192.168.56.101"
			return ms
		}), "machines[2].address", "its own address"},
		{"address of db", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["address"] = "192.168.56.11"
			return ms
		}), "machines[0].address", "its own address"},
		{"duplicate index", machines(func(ms []map[string]any) []map[string]any {
			ms[2]["index"] = 2
			return ms
		}), "machines[2].index", "its own index"},
		{"index zero", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["index"] = 0
			return ms
		}), "machines[0].index", "1, 2, 3"},
		{"malformed address", machines(func(ms []map[string]any) []map[string]any {
			ms[1]["address"] = "192.168.56.300"
			return ms
		}), "machines[1].address", "an address such as"},
		{"address with placeholder", machines(func(ms []map[string]any) []map[string]any {
			ms[1]["address"] = "172.17.8.10{1|2|3}"
			return ms
		}), "machines[1].address", "an address such as"},
		{"machine outside network", machines(func(ms []map[string]any) []map[string]any {
			ms[2]["address"] = "192.168.57.103"
			return ms
		}), "machines[2].address", "inside 192.168.56.0/24"},
		{"db outside network", set("db", map[string]any{"address": "198.162.50.11"}),
			"db.address", "inside 192.168.56.0/24"},
		{"broadcast address", machines(func(ms []map[string]any) []map[string]any {
			ms[2]["address"] = "192.168.56.255"
			return ms
		}), "machines[2].address", "between 192.168.56.2 and 192.168.56.254"},
		{"no nginx machine", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["roles"] = []string{}
			return ms
		}), "machines", "add nginx"},
		{"two nginx machines", machines(func(ms []map[string]any) []map[string]any {
			ms[1]["roles"] = []string{"nginx", "appside"}
			return ms
		}), "machines", "keep the role nginx on one machine"},
		{"no appside machine", machines(func(ms []map[string]any) []map[string]any {
			ms[1]["roles"] = []string{}
			return ms
		}), "machines", "add appside"},
		{"no devside machine", machines(func(ms []map[string]any) []map[string]any {
			ms[2]["roles"] = []string{}
			return ms
		}), "machines", "add devside"},
		{"unknown role", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["roles"] = []string{"ngnix"}
			return ms
		}), "machines[0].roles[0]", "one of nginx, appside, devside"},
		{"no machines", set("machines", []any{}), "machines", "at least one machine"},
		{"memory below 1024", machines(func(ms []map[string]any) []map[string]any {
			ms[1]["memory"] = 512
			return ms
		}), "machines[1].memory", "1024 or more"},
		{"provider ports with 4 digits", stf(func(s map[string]any) {
			s["providerPorts"] = map[string]any{"min": 7400, "max": 7700}
		}), "stf.providerPorts.min", "between 10000 and 65535"},
		{"provider port max too big", stf(func(s map[string]any) {
			s["providerPorts"] = map[string]any{"min": 15000, "max": 70000}
		}), "stf.providerPorts.max", "between 10000 and 65535"},
		{"empty provider port range", stf(func(s map[string]any) {
			s["providerPorts"] = map[string]any{"min": 15500, "max": 15000}
		}), "stf.providerPorts", "no greater than max"},
		{"provider without machine", stf(func(s map[string]any) {
			s["providers"] = []int{1, 4}
		}), "stf.providers[1]", "index of a machine"},
		{"too many processors", stf(func(s map[string]any) {
			s["processors"] = 4
		}), "stf.processors", "number of machines"},
		{"latest STF image", stf(func(s map[string]any) {
			s["image"] = "devicefarmer/stf:latest"
		}), "stf.image", "devicefarmer/stf:3.7.9"},
		{"untagged STF image", stf(func(s map[string]any) {
			s["image"] = "openstf/stf"
		}), "stf.image", "devicefarmer/stf:3.7.9"},
		{"device vendor not hex", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["devices"] = []map[string]any{{"name": "Pixel", "vendorId": "18g1", "productId": "4ee2"}}
			return ms
		}), "machines[0].devices[0].vendorId", "lsusb"},
		{"device product too short", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["devices"] = []map[string]any{{"name": "Pixel", "vendorId": "18d1", "productId": "4ee"}}
			return ms
		}), "machines[0].devices[0].productId", "lsusb"},
		{"device without name", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["devices"] = []map[string]any{{"name": "", "vendorId": "18d1", "productId": "4ee2"}}
			return ms
		}), "machines[0].devices[0].name", "name the USB filter"},
		{"network outside VirtualBox range", set("network", "172.17.8.0/24"),
			"network", "/etc/vbox/networks.conf"},
		{"malformed network", set("network", "192.168.56.0"), "network", "192.168.56.0/24"},
		{"malformed allowed range", set("allowedHostOnlyRanges", []string{"10.0.0.0"}),
			"allowedHostOnlyRanges[0]", "networks.conf"},
		{"unknown provider", set("provider", "hyperv"), "provider", "virtualbox or docker"},
		{"box URL scheme", set("box", map[string]any{"name": "coreos", "url": "ftp://example.org/c.box"}),
			"box.url", "file://"},
		{"unit timeout zero", set("unitTimeoutSeconds", "-5"), "unitTimeoutSeconds", "for example 600"},
		{"misspelt machine field", machines(func(ms []map[string]any) []map[string]any {
			ms[1]["memroy"] = 2048
			return ms
		}), "machines[1].memroy", "or use memory"},
		{"misspelt device field", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["devices"] = []map[string]any{{"name": "Pixel", "vendorid_": "18d1", "productId": "4ee2"}}
			return ms
		}), "machines[0].devices[0].vendorid_", "or use vendorId"},
		{"string for memory", machines(func(ms []map[string]any) []map[string]any {
			ms[2]["memory"] = "lots"
			return ms
		}), "machines[2].memory", "a whole number"},
		{"misspelt stf field", stf(func(s map[string]any) {
			s["proccessors"] = 2
		}), "stf.proccessors", "or use processors"},
		{"roles not a list", machines(func(ms []map[string]any) []map[string]any {
			ms[0]["roles"] = "nginx"
			return ms
		}), "machines[0].roles", "a list"},
		{"non-numeric timeout", set("unitTimeoutSeconds", "ten"), "unitTimeoutSeconds", "a number such as 600"},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.edit(t, stackConfig(t, "dev"))
			_, err := model.Load(raw)
			require.Error(t, err)

			var verr *model.ValidationError
			require.ErrorAs(t, err, &verr)
			assert.True(t, verr.HasKey(tc.key), "no problem names %s in:\n%s", tc.key, err)
			assert.Contains(t, err.Error(), tc.fix, "the error does not say how to fix it")
			assert.Contains(t, err.Error(), model.Namespace+":"+tc.key+" = ", "the error does not name the setting")
		})
	}
}

func TestAllowedRangePermitsOtherNetwork(t *testing.T) {
	raw := readdressedDev(t, "172.17.8.0/24", "172.17.8.11", "172.17.8.101", "172.17.8.102", "172.17.8.103")

	_, err := model.Load(raw)
	require.Error(t, err, "172.17.8.0/24 is outside VirtualBox's default range")

	raw = withConfig(t, raw, "allowedHostOnlyRanges", []string{"172.16.0.0/12"})
	_, err = model.Load(raw)
	assert.NoError(t, err)
}

func TestDockerProviderSkipsVirtualBoxRange(t *testing.T) {
	raw := readdressedDev(t, "10.231.8.0/24", "10.231.8.11", "10.231.8.101", "10.231.8.102", "10.231.8.103")
	raw = withConfig(t, raw, "provider", "docker")

	_, err := model.Load(raw)
	assert.NoError(t, err)
}

func TestUnknownKeysAreReported(t *testing.T) {
	err := model.CheckKeys(map[string]string{
		"machines":  "[]",
		"stfsecret": "",
		"machiness": `[{"name":"core-01"}]`,
		"provider":  "docker",
		"colour":    "blue",
	}, []string{"stfsecret"})
	var verr *model.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Problems, 3)
	assert.Contains(t, err.Error(), `stf-farm:machiness = [{"name":"core-01"}]: unknown setting. Fix: remove it, or use machines.`)
	assert.Contains(t, err.Error(), "stf-farm:stfsecret = [secret]: unknown setting. Fix: remove it, or use stfSecret.")
	assert.Contains(t, err.Error(), `stf-farm:colour = "blue": unknown setting. Fix: remove it.`)

	known := map[string]string{}
	for _, key := range append(model.Keys, model.SecretKey) {
		known[key] = "x"
	}
	assert.NoError(t, model.CheckKeys(known, nil))
}

func TestLongUnknownValueIsCut(t *testing.T) {
	err := model.CheckKeys(map[string]string{"netwrok": strings.Repeat("1", 100)}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `stf-farm:netwrok = "`+strings.Repeat("1", 59)+`...: unknown setting.`)
}

func TestCutValueStaysUTF8(t *testing.T) {
	err := model.CheckKeys(map[string]string{"colour": strings.Repeat("é", 40)}, nil)
	require.Error(t, err)
	assert.True(t, utf8.ValidString(err.Error()), "the message is not valid UTF-8: %q", err.Error())
	assert.Contains(t, err.Error(), `stf-farm:colour = "`+strings.Repeat("é", 29)+`...: unknown setting.`)
}

func TestMergeKeepsEveryProblem(t *testing.T) {
	keys := model.CheckKeys(map[string]string{"netwrok": "10.0.0.0/8"}, nil)
	_, load := model.Load(withConfig(t, stackConfig(t, "dev"), "provider", "hyperv"))
	err := model.Merge(keys, nil, load)
	var verr *model.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.True(t, verr.HasKey("netwrok"), "the unknown key is missing: %v", err)
	assert.True(t, verr.HasKey("provider"), "the invalid provider is missing: %v", err)
	assert.NoError(t, model.Merge(nil, nil))

	other := errors.New("cannot read the stack file")
	assert.Equal(t, other, model.Merge(keys, other))
}

func TestWholeNumberMistakesAreNamed(t *testing.T) {
	cases := map[string]struct{ memory, message string }{
		"fraction":       {"1.5", "stf-farm:machines[0].memory = 1.5: expected a whole number, not a fraction."},
		"too large":      {"99999999999999999999", "expected a whole number, and this one is too large."},
		"exponent":       {"1e21", "expected a whole number, and this one is too large."},
		"small exponent": {"25e-1", "stf-farm:machines[0].memory = 2.5: expected a whole number, not a fraction."},
		"string":         {`"big"`, `stf-farm:machines[0].memory = "big": expected a whole number, not string.`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			raw := stackConfig(t, "dev")
			machines := strings.Replace(raw["machines"], `"memory":1024`, `"memory":`+c.memory, 1)
			require.NotEqual(t, raw["machines"], machines, "the dev machines have no memory of 1024 to replace")
			raw["machines"] = machines
			_, err := model.Load(raw)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.message)
		})
	}
}

func TestOneProblemIsSingular(t *testing.T) {
	err := model.CheckKeys(map[string]string{"colour": "blue"}, nil)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "invalid stack configuration (1 problem):\n"), err.Error())
}

func TestValidationListsEveryProblem(t *testing.T) {
	raw := withConfig(t, stackConfig(t, "dev"), "provider", "hyperv")
	ms := devMachines(t)
	ms[1]["memory"] = 256
	raw = withConfig(t, raw, "machines", ms)

	_, err := model.Load(raw)
	var verr *model.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.True(t, verr.HasKey("provider"))
	assert.True(t, verr.HasKey("machines[1].memory"))
	assert.Len(t, verr.Problems, 2)
}

// An error shows the value that was set, not only its JSON kind, so the reader finds
// the line to fix.
func TestErrorsShowTheValue(t *testing.T) {
	for _, c := range []struct {
		field string
		value any
		want  string
	}{
		{"memroy", 2048, "machines[1].memroy = 2048: unknown setting"},
		{"index", "two", `machines[1].index = "two": expected a whole number, not string`},
	} {
		ms := devMachines(t)
		ms[1][c.field] = c.value
		_, err := model.Load(withConfig(t, stackConfig(t, "dev"), "machines", ms))
		require.Error(t, err, "machines[1].%s = %v", c.field, c.value)
		assert.Contains(t, err.Error(), c.want)
	}
}
