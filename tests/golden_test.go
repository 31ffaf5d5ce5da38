package tests

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components"
	"stf-farm/components/model"
	"stf-farm/components/render"
)

var update = flag.Bool("update", false, "rewrite the golden files in tests/testdata/golden from the current templates")

// renderStack renders every file of a stack, keyed by a path relative to the golden
// folder, with the configured addresses as the reported ones and a fixed secret.
func renderStack(t *testing.T, cfg *model.Config, stack string) map[string]string {
	t.Helper()
	out := map[string]string{}

	addresses := render.Addresses{DB: cfg.DB.Address, Machines: map[string]string{}}
	for _, m := range cfg.Machines {
		addresses.Machines[m.Name] = m.Address
	}
	units, err := render.Units(cfg, render.UnitValues{Addresses: addresses, Secret: "golden-secret"})
	require.NoError(t, err)
	for _, u := range units {
		out["units/"+u.Name] = u.Text
	}

	plan, err := components.PlanFarm(cfg)
	require.NoError(t, err)
	conf, err := render.NginxConf(cfg, render.ProxyValues{Addresses: addresses.Machines, Placement: plan.Placement})
	require.NoError(t, err)
	out["nginx.conf"] = conf

	out["vagrant/Vagrantfile"] = render.Vagrantfile()
	db, err := render.DBMachine(cfg, stack)
	require.NoError(t, err)
	out["vagrant/machines/"+cfg.DB.Name+".json"] = db.Data
	out["vagrant/"+db.ExtraPath] = db.Extra
	for _, m := range cfg.Machines {
		files, err := render.CoreMachine(cfg, stack, m)
		require.NoError(t, err)
		out["vagrant/machines/"+m.Name+".json"] = files.Data
		out["vagrant/"+files.ExtraPath] = files.Extra
	}
	return out
}

func TestGoldenFilesOfDevStack(t *testing.T) {
	rendered := renderStack(t, devConfig(t), "dev")
	dir := filepath.Join(projectDir(t), "tests", "testdata", "golden", "dev")

	if *update {
		require.NoError(t, os.RemoveAll(dir))
		for name, text := range rendered {
			path := filepath.Join(dir, filepath.FromSlash(name))
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		}
	}

	var onDisk []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		onDisk = append(onDisk, filepath.ToSlash(rel))
		return err
	}))
	var names []string
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	sort.Strings(onDisk)
	require.Equal(t, names, onDisk, "the rendered files and the golden files differ; run go test ./tests -run Golden -update")

	for _, name := range names {
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		require.NoError(t, err)
		assert.Equal(t, string(want), rendered[name],
			"%s differs from its golden file; if the change is intended, run go test ./tests -run Golden -update", name)
	}
}

func TestGoldenFilesHaveNoMachinePaths(t *testing.T) {
	for name, text := range renderStack(t, devConfig(t), "dev") {
		assert.False(t, strings.Contains(text, projectDir(t)), "%s contains the checkout's path", name)
	}
}
