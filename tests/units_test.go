package tests

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components/model"
	"stf-farm/components/render"
)

// stackVariants returns the dev stack and variants that exercise other unit shapes: one
// machine with every role, and two providers with a groups engine turned off.
func stackVariants(t *testing.T) map[string]*model.Config {
	t.Helper()
	single := stackConfig(t, "dev")
	single = withConfig(t, single, "machines", []map[string]any{{
		"name": "solo", "address": "192.168.56.101", "index": 1,
		"roles":   []string{"nginx", "appside", "devside"},
		"devices": []map[string]any{{"name": "Pixel 7", "vendorId": "18d1", "productId": "4ee7", "serial": "2A281FDH2000MR"}},
	}})
	single = withConfig(t, single, "stf", map[string]any{"processors": 1})

	twoProviders := stackConfig(t, "dev")
	stf := devSTF(t)
	stf["providers"] = []int{1, 3}
	stf["groupsEngine"] = false
	twoProviders = withConfig(t, twoProviders, "stf", stf)

	out := map[string]*model.Config{"dev": devConfig(t)}
	for name, raw := range map[string]map[string]string{"single": single, "two-providers": twoProviders} {
		cfg, err := model.Load(raw)
		require.NoError(t, err, name)
		out[name] = cfg
	}
	return out
}

func renderUnits(t *testing.T, cfg *model.Config) []render.Unit {
	t.Helper()
	addresses := render.Addresses{DB: cfg.DB.Address, Machines: map[string]string{}}
	for _, m := range cfg.Machines {
		addresses.Machines[m.Name] = m.Address
	}
	units, err := render.Units(cfg, render.UnitValues{Addresses: addresses, Secret: "s3cr%t$x\"y"})
	require.NoError(t, err)
	return units
}

// systemdSpecifier matches a % specifier; %% is an escaped percent sign.
var systemdSpecifier = regexp.MustCompile(`%.`)

func TestUnitsParseWithGoSystemd(t *testing.T) {
	for stack, cfg := range stackVariants(t) {
		for _, u := range renderUnits(t, cfg) {
			opts, err := unit.DeserializeOptions(strings.NewReader(u.Text))
			require.NoError(t, err, "%s/%s does not parse", stack, u.Name)

			sections := map[string]bool{}
			for _, o := range opts {
				sections[o.Section] = true
			}
			assert.True(t, sections["Unit"], "%s/%s has no [Unit] section", stack, u.Name)
			assert.True(t, sections["Service"], "%s/%s has no [Service] section", stack, u.Name)

			for _, o := range opts {
				for _, spec := range systemdSpecifier.FindAllString(o.Value, -1) {
					assert.Contains(t, []string{"%%", "%p", "%i", "%H", "%n"}, spec,
						"%s/%s: %s=%s uses a specifier systemd would expand", stack, u.Name, o.Name, o.Value)
				}
			}
		}
	}
}

func TestUnitsQuoteConfiguredValues(t *testing.T) {
	cfg := devConfig(t)
	for _, u := range renderUnits(t, cfg) {
		if !u.UsesSecret {
			assert.NotContains(t, u.Text, "s3cr", "%s contains the secret but is not marked", u.Name)
			continue
		}
		opts, err := unit.DeserializeOptions(strings.NewReader(u.Text))
		require.NoError(t, err)
		for _, o := range opts {
			if o.Name == "ExecStart" {
				assert.Contains(t, o.Value, `"SECRET=s3cr%%t$$x\"y"`, "%s does not escape the secret for systemd", u.Name)
			}
		}
	}
}

func TestUnitsCoverEveryService(t *testing.T) {
	want := []string{
		"adbd.service", "rethinkdb-proxy-28015.service", "stf-migrate.service",
		"stf-app@3100.service", "stf-auth@3200.service", "stf-storage-plugin-apk@3300.service",
		"stf-storage-plugin-image@3400.service", "stf-storage-temp@3500.service",
		"stf-websocket@3600.service", "stf-api@3700.service", "stf-triproxy-app.service",
		"stf-triproxy-dev.service", "stf-reaper.service", "stf-groups-engine.service",
		"stf-processor@1.service", "stf-processor@2.service", "stf-processor@3.service",
		"stf-provider@1.service", "nginx.service",
	}
	var got []string
	for _, u := range renderUnits(t, devConfig(t)) {
		got = append(got, u.Name)
	}
	assert.ElementsMatch(t, want, got)
}

func TestUnitGroupsFollowStartOrder(t *testing.T) {
	groups := map[string]string{}
	var order []string
	for _, u := range renderUnits(t, devConfig(t)) {
		groups[u.Name] = u.Group
		if len(order) == 0 || order[len(order)-1] != u.Group {
			order = append(order, u.Group)
		}
	}
	assert.Equal(t, render.Groups, order, "units must be listed group by group in start order")
	assert.Equal(t, render.GroupBase, groups["adbd.service"])
	assert.Equal(t, render.GroupBase, groups["rethinkdb-proxy-28015.service"])
	assert.Equal(t, render.GroupMigrate, groups["stf-migrate.service"])
	assert.Equal(t, render.GroupServices, groups["stf-provider@1.service"])
	assert.Equal(t, render.GroupProxy, groups["nginx.service"])
}

func TestSTFImageChangeTouchesImageUnitsOnly(t *testing.T) {
	cfg := devConfig(t)
	before := renderUnits(t, cfg)
	cfg.STF.Image = "devicefarmer/stf:3.7.8"
	after := renderUnits(t, cfg)

	for i := range before {
		changed := before[i].Text != after[i].Text
		assert.Equal(t, before[i].UsesImage, changed, "%s: changed=%v but uses the STF image=%v",
			before[i].Name, changed, before[i].UsesImage)
	}
}

func TestCurrentSTFFlags(t *testing.T) {
	texts := map[string]string{}
	for _, u := range renderUnits(t, devConfig(t)) {
		texts[u.Name] = u.Text
	}
	assert.Contains(t, texts["stf-api@3700.service"], "--connect-sub-dev")
	assert.Contains(t, texts["stf-api@3700.service"], "--connect-push-dev")
	assert.Contains(t, texts["stf-migrate.service"], "STF_ROOT_GROUP_NAME=")
	assert.Contains(t, texts["stf-migrate.service"], "STF_ADMIN_NAME=")
	assert.Contains(t, texts["stf-migrate.service"], "STF_ADMIN_EMAIL=")
	assert.Contains(t, texts["stf-groups-engine.service"], "--connect-sub-dev")
	assert.Contains(t, texts["stf-provider@1.service"], "--min-port 15000")
	assert.Contains(t, texts["stf-provider@1.service"], "--max-port 15500")
	assert.Contains(t, texts["stf-storage-temp@3500.service"], "ExecStartPre=/bin/mkdir -p /mnt/storage")
	for name, text := range texts {
		assert.NotContains(t, text, "stf:latest", "%s runs an unpinned STF image", name)
	}
}

func TestUnitsSkipPullWhenImagesAreLoaded(t *testing.T) {
	cfg := devConfig(t)
	pull := false
	cfg.STF.PullImages = &pull
	for _, u := range renderUnits(t, cfg) {
		assert.NotContains(t, u.Text, "docker pull", "%s pulls although the images are loaded", u.Name)
		_, err := unit.DeserializeOptions(strings.NewReader(u.Text))
		assert.NoError(t, err, "%s does not parse without its pull line", u.Name)
	}
	for _, u := range renderUnits(t, devConfig(t)) {
		assert.Contains(t, u.Text, "ExecStartPre=/usr/bin/docker pull ", "%s must pull by default", u.Name)
	}
}

// A container started with --link fails when the linked container does not run yet,
// and systemd gives up on a unit that fails five times within ten seconds. Every linked
// unit therefore waits for the container it links to.
func TestLinkedUnitsWaitForTarget(t *testing.T) {
	linked := 0
	for _, u := range renderUnits(t, devConfig(t)) {
		options, err := unit.DeserializeOptions(strings.NewReader(u.Text))
		require.NoError(t, err, u.Name)
		var pre []string
		var start string
		for _, o := range options {
			switch {
			case o.Section == "Service" && o.Name == "ExecStartPre":
				pre = append(pre, o.Value)
			case o.Section == "Service" && o.Name == "ExecStart":
				start = o.Value
			}
		}
		_, rest, ok := strings.Cut(start, "--link ")
		if !ok {
			continue
		}
		linked++
		target, _, _ := strings.Cut(rest, ":")
		var wait string
		for _, p := range pre {
			if strings.Contains(p, "name=^"+target+"$$") && strings.Contains(p, "status=running") {
				wait = p
			}
		}
		if !assert.NotEmpty(t, wait, "%s links to %s but does not wait for it to run", u.Name, target) {
			continue
		}
		// systemd turns $$ into $; the rest must be a valid sh command.
		script, ok := strings.CutPrefix(wait, "/bin/sh -c '")
		require.True(t, ok, "%s: the wait is not a /bin/sh -c command: %s", u.Name, wait)
		script = strings.ReplaceAll(strings.TrimSuffix(script, "'"), "$$", "$")
		out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput()
		assert.NoError(t, err, "%s: the wait is not valid sh: %s\n%s", u.Name, script, out)
	}
	assert.Equal(t, 9, linked, "the number of dev stack units that link to the db ambassador")
}
