package engine

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"stf-farm/components"
)

// Type tokens of the resources that the farm's program registers.
const (
	stackType    = "pulumi:pulumi:Stack"
	commandType  = "command:local:Command"
	passwordType = "random:index/randomPassword:RandomPassword"
)

// findOnPath returns the first folder of path that holds a file called name, or "".
func findOnPath(path, name string) string {
	for _, dir := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return dir
		}
	}
	return ""
}

// TestPreview previews a new copy of the dev stack: every resource is a create, and the
// preview runs nothing, so it needs no Vagrant.
func TestPreview(t *testing.T) {
	// fleetctl and ssh stand-ins log any call, and vagrant is missing altogether.
	s := newStack(t, options{stack: "dev", standIns: []string{"fleetctl", "ssh"}})
	if dir := findOnPath(s.path, "vagrant"); dir != "" {
		t.Fatalf("the test must preview without Vagrant, but PATH has vagrant in %s", dir)
	}
	p := s.preview(t)

	// The preview skips the engine's checkpoints; an up that follows must not.
	t.Run("checkpoints", func(t *testing.T) {
		if value, ok := s.stack.Workspace().GetEnvVars()["PULUMI_SKIP_CHECKPOINTS"]; ok {
			t.Errorf("PULUMI_SKIP_CHECKPOINTS=%q stays in the workspace after the preview", value)
		}
	})

	t.Run("summary", func(t *testing.T) {
		want := map[string]int{"create": 37}
		if got := p.summary; !equalCounts(got, want) {
			t.Errorf("a new dev stack previews as %s, want create=37 "+
				"(the stack, 7 components, the password and 28 commands)", p.summaryText())
		}
	})

	t.Run("types", func(t *testing.T) {
		got := map[string]int{}
		for _, st := range p.steps {
			got[st.typ]++
		}
		// 28 commands: two per machine (db and core-01..03: boot and report), the nginx.conf upload and
		// 19 units (13 fixed services, the groups engine, 3 processors, provider 1 and
		// nginx). The two default providers are steps too, though the summary leaves
		// them out.
		want := map[string]int{
			stackType:                  1,
			components.FarmType:        1,
			components.MachineType:     4,
			components.ProxyType:       1,
			components.FleetUnitsType:  1,
			commandType:                28,
			passwordType:               1,
			"pulumi:providers:command": 1,
			"pulumi:providers:random":  1,
		}
		if !equalCounts(got, want) {
			t.Errorf("resources per type:\n%s\nwant:\n%s", countsText(got), countsText(want))
		}
	})

	t.Run("parents", func(t *testing.T) {
		cfg := s.config(t)
		plan, err := components.PlanFarm(cfg)
		if err != nil {
			t.Fatalf("cannot plan the dev farm: %v", err)
		}
		// The expected parent of each resource, as "type name", by resource name.
		farm := components.FarmType + " stf-farm"
		want := map[string]string{
			"stf-farm":                  stackType + " stf-farm-dev",
			"stf-farm-secret":           farm,
			"stf-farm-proxy":            farm,
			"stf-farm-units":            farm,
			"stf-farm-proxy-nginx-conf": components.ProxyType + " stf-farm-proxy",
		}
		for _, name := range machineNames(cfg) {
			want[name] = farm
			want[name+"-vagrant"] = components.MachineType + " " + name
			want[name+"-report"] = components.MachineType + " " + name
		}
		for _, u := range plan.Units {
			want[u.Name] = components.FleetUnitsType + " stf-farm-units"
		}

		byURN := map[string]step{}
		for _, st := range p.steps {
			byURN[st.urn] = st
		}
		var problems []string
		seen := map[string]bool{}
		for _, st := range p.steps {
			if st.typ == stackType || strings.HasPrefix(st.typ, "pulumi:providers:") {
				if st.parent != "" {
					problems = append(problems, st.typ+" has the parent "+st.parent+", want none")
				}
				continue
			}
			seen[st.name()] = true
			parent, ok := byURN[st.parent]
			got := "none"
			if ok {
				got = parent.typ + " " + parent.name()
			}
			if wantParent, known := want[st.name()]; !known {
				problems = append(problems, "unexpected resource "+st.typ+" "+st.name())
			} else if got != wantParent {
				problems = append(problems, st.typ+" "+st.name()+" has the parent "+got+", want "+wantParent)
			}
		}
		for name := range want {
			if !seen[name] {
				problems = append(problems, "the preview has no resource "+name)
			}
		}
		sort.Strings(problems)
		if len(problems) > 0 {
			t.Errorf("the resource tree is wrong:\n  %s", strings.Join(problems, "\n  "))
		}
	})

	t.Run("nocommand", func(t *testing.T) {
		if calls := s.standIns.calls(t); len(calls) > 0 {
			t.Errorf("a preview must run no command, but the stand-ins logged:\n%s", strings.Join(calls, "\n"))
		}
		// Every machine command writes the Vagrant project into .farm/<stack> first.
		if _, err := os.Stat(filepath.Join(s.dir, ".farm")); err == nil {
			t.Errorf("a preview must run no command, but the machine files were written to %s",
				filepath.Join(s.dir, ".farm"))
		}
	})
}

// equalCounts reports whether two counts are equal, treating a missing key as zero.
func equalCounts(got, want map[string]int) bool {
	for k, n := range got {
		if want[k] != n {
			return false
		}
	}
	for k, n := range want {
		if got[k] != n {
			return false
		}
	}
	return true
}

// countsText formats counts one per line, sorted by key.
func countsText(counts map[string]int) string {
	var lines []string
	for k, n := range counts {
		lines = append(lines, "  "+k+": "+strconv.Itoa(n))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
