package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components/model"
	"stf-farm/components/render"
)

// These tests run the real Vagrant on the farm's Vagrant project folder. They only
// validate it: `vagrant validate --ignore-provider` reads the Vagrantfile and every
// machine's settings without asking VirtualBox anything, so no machine is booted and
// no `vagrant status` call is needed.
//
// NOTE: Vagrant 2.3.4 runs the Ruby code of the virtualbox block even with
// --ignore-provider, so an error there fails validation, but it checks no VirtualBox
// option names. A misspelt vb.* setting shows only when a machine boots.

// writeFarmFolder lays out the farm's Vagrant project folder as the machine-files.sh
// script does for each machine: the shared Vagrantfile, machines/<name>.json, and the
// machine's cloud-config or provisioning script at its ExtraPath.
func writeFarmFolder(t testing.TB, cfg *model.Config, stack string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(relative, content string) {
		path := filepath.Join(dir, filepath.FromSlash(relative))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	write("Vagrantfile", render.Vagrantfile())

	add := func(name string, files render.MachineFiles) {
		write("machines/"+name+".json", files.Data)
		require.NotEmpty(t, files.ExtraPath, "machine %s has no second file", name)
		write(files.ExtraPath, files.Extra)
	}
	db, err := render.DBMachine(cfg, stack)
	require.NoError(t, err, "rendering the db machine's files failed")
	add(cfg.DB.Name, db)
	for _, m := range cfg.Machines {
		core, err := render.CoreMachine(cfg, stack, m)
		require.NoError(t, err, "rendering the files of machine %s failed", m.Name)
		add(m.Name, core)
	}
	return dir
}

// vagrantEnvironment returns the test's environment without Vagrant settings of the
// user, plus a fresh Vagrant home that keeps boxes, plugins and the user's files out of
// the run, and the settings that keep Vagrant from calling its servers.
func vagrantEnvironment(t testing.TB, farmDir string) []string {
	t.Helper()
	var env []string
	for _, entry := range os.Environ() {
		if !strings.HasPrefix(entry, "VAGRANT_") && !strings.HasPrefix(entry, "HOME=") {
			env = append(env, entry)
		}
	}
	return append(env,
		"HOME="+t.TempDir(),
		"VAGRANT_HOME="+t.TempDir(),
		"VAGRANT_CHECKPOINT_DISABLE=1",
		"VAGRANT_BOX_UPDATE_CHECK_DISABLE=1",
		"VAGRANT_CWD="+farmDir,
	)
}

// deviceSerialStack gives two machines USB devices with serial numbers, so the
// Vagrantfile adds --serialnumber to their USB filters.
var deviceSerialStack = map[string]string{
	"provider": "virtualbox",
	"network":  "192.168.56.0/24",
	"db":       `{"name": "db", "address": "192.168.56.11"}`,
	"machines": `[
		{"name": "core-01", "address": "192.168.56.101", "index": 1, "roles": ["nginx"],
		 "devices": [
			{"name": "Nexus 5", "vendorId": "18d1", "productId": "4ee2", "serial": "0123456789ABCDEF"},
			{"name": "Pixel 3", "vendorId": "18d1", "productId": "4ee7", "serial": "8ABX0Y1Z"}
		 ]},
		{"name": "core-02", "address": "192.168.56.102", "index": 2, "roles": ["appside"],
		 "devices": [{"name": "Galaxy S10", "vendorId": "04e8", "productId": "6860", "serial": "R58M12ABCDE"}]},
		{"name": "core-03", "address": "192.168.56.103", "index": 3, "roles": ["devside"]}
	]`,
	"stf": `{"image": "devicefarmer/stf:3.7.9"}`,
}

// localBoxStack returns the dev stack with both boxes added from a local .box file at a
// pinned version. The file need not exist, since validation does not add the box.
func localBoxStack(t testing.TB) map[string]string {
	t.Helper()
	raw := stackConfig(t, "dev")
	boxFile := filepath.Join(t.TempDir(), "boxes", "coreos_production_vagrant.box")
	raw["box"] = `{"name": "coreos-stable", "version": "1010.5.0", "url": "` + filepath.ToSlash(boxFile) + `"}`
	raw["db"] = `{"name": "db", "address": "192.168.56.11",
		"box": {"name": "ubuntu/jammy64", "version": "20240126.0.0", "url": "` + filepath.ToSlash(boxFile) + `"}}`
	return raw
}

func TestVagrantValidatesFarmFolder(t *testing.T) {
	vagrant := requireTool(t, "vagrant", "vagrant")
	cases := []struct {
		name  string
		stack func(t testing.TB) map[string]string
		// check verifies that the rendered data files carry what the case is about.
		check func(t testing.TB, dir string)
	}{
		{"dev stack", func(t testing.TB) map[string]string { return stackConfig(t, "dev") }, nil},
		{"local box file", localBoxStack, func(t testing.TB, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, "machines", "core-01.json"))
			require.NoError(t, err)
			assert.Contains(t, string(data), `"version": "1010.5.0"`, "the box version must reach the data file")
			assert.Contains(t, string(data), `"url": "/`, "the local box path must reach the data file as written")
		}},
		{"device serials", func(testing.TB) map[string]string { return deviceSerialStack }, func(t testing.TB, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, "machines", "core-01.json"))
			require.NoError(t, err)
			assert.Contains(t, string(data), `"serial": "0123456789ABCDEF"`, "the device serial must reach the data file")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := loadStack(t, c.stack(t))
			dir := writeFarmFolder(t, cfg, "dev")
			if c.check != nil {
				c.check(t, dir)
			}

			run := runTool(t, 3*time.Minute, dir, vagrantEnvironment(t, dir), vagrant, "validate", "--ignore-provider")
			t.Logf("vagrant validate took %v", run.Duration)
			require.NoError(t, run.Err, "vagrant rejected the farm folder:\n%s", run.Output)
			assert.Contains(t, run.Output, "Vagrantfile validated successfully",
				"vagrant validate did not report success:\n%s", run.Output)
		})
	}
}

func TestVagrantRejectsMissingUserData(t *testing.T) {
	vagrant := requireTool(t, "vagrant", "vagrant")
	cfg := devConfig(t)
	dir := writeFarmFolder(t, cfg, "dev")
	// Without its cloud-config, a cluster machine's file provisioner has no source. This
	// shows that validation reads each machine's files, so a folder laid out wrongly fails.
	missing := filepath.Join(dir, "machines", cfg.Machines[1].Name+".user-data")
	require.NoError(t, os.Remove(missing))

	run := runTool(t, 3*time.Minute, dir, vagrantEnvironment(t, dir), vagrant, "validate", "--ignore-provider")
	t.Logf("vagrant validate took %v", run.Duration)
	require.Error(t, run.Err, "vagrant must reject a folder without %s:\n%s", missing, run.Output)
	assert.Contains(t, run.Output, missing+" must exist", "vagrant must name the missing cloud-config")
}
