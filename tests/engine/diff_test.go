package engine

import (
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"stf-farm/components"
	"stf-farm/components/model"
	"stf-farm/files"
)

// The names of the resources that the diff tests expect to change.
const (
	proxyUpload = "stf-farm-proxy-nginx-conf"
	reaperUnit  = "stf-reaper.service"
)

// TestDiff creates the dev farm with `up` through the stand-ins, then previews one change
// at a time and checks which resources each change touches. A preview writes no state
// and each case undoes its change when it ends, so every case starts from the same state.
//
// The cases that swap files.Templates must not run in parallel with any other test of
// this package, so no test here calls t.Parallel.
func TestDiff(t *testing.T) {
	s := newStack(t, options{stack: "dev", standIns: allStandIns})
	s.up(t)
	cfg := s.config(t)
	plan, err := components.PlanFarm(cfg)
	if err != nil {
		t.Fatalf("cannot plan the dev farm: %v", err)
	}
	var units []string
	for _, u := range plan.Units {
		units = append(units, u.Name)
	}

	t.Run("memory", func(t *testing.T) {
		memory := fmt.Sprintf("%s:machines[%d].memory", model.Namespace, machineIndex(t, cfg, "core-02"))
		s.setConfig(t, memory, "2048")
		p := s.previewNoCommand(t)

		machine := findStep(p, "core-02-vagrant")
		if machine == nil || machine.op != "update" || !slices.Equal(machine.diffs, []string{"environment"}) {
			t.Errorf("core-02's memory changed, so core-02-vagrant must be updated in place (its environment "+
				"carries the machine's data file), got %v; all changes:\n%s", machine, changesText(p))
		}

		// The machine's address comes from its report command, which runs again only when
		// the machine is created again, so nothing rendered from the addresses changes.
		if got := p.changedSummary(); !equalCounts(got, map[string]int{"update": 1}) {
			t.Errorf("the memory change previews as %s, want update=1 (core-02-vagrant alone):\n%s",
				p.summaryText(), changesText(p))
		}
		wantChanges(t, p, "update core-02-vagrant")
	})

	t.Run("unit", func(t *testing.T) {
		overlayTemplate(t, "units/stf-reaper.service.tmpl", func(text string) string {
			return strings.Replace(text, "Description=STF reaper", "Description=The STF reaper", 1)
		})
		p := s.previewNoCommand(t)

		if got := p.changedSummary(); !equalCounts(got, map[string]int{"replace": 1}) {
			t.Errorf("a changed stf-reaper template previews as %s, want replace=1 (%s only)",
				p.summaryText(), reaperUnit)
		}
		wantChanges(t, p, replaceSteps(reaperUnit)...)
		wantDeleteFirst(t, p, reaperUnit)
	})

	t.Run("nginx", func(t *testing.T) {
		overlayTemplate(t, "proxy/nginx.conf.tmpl", func(text string) string {
			return "# A comment that the engine tests add to nginx.conf.\n" + text
		})
		p := s.previewNoCommand(t)

		if got := p.changedSummary(); !equalCounts(got, map[string]int{"update": 1}) {
			t.Errorf("a changed nginx.conf previews as %s, want update=1 (%s only)", p.summaryText(), proxyUpload)
		}
		wantChanges(t, p, "update "+proxyUpload)
	})

	t.Run("image", func(t *testing.T) {
		oldImage := cfg.STF.Image
		if oldImage != "devicefarmer/stf:3.7.9" {
			t.Fatalf("the dev stack runs the STF image %s, but this case changes devicefarmer/stf:3.7.9", oldImage)
		}
		// The units whose file runs the STF image are the ones that must be replaced.
		var runImage []string
		var wantSteps []string
		for _, u := range plan.Units {
			if strings.Contains(u.Text, oldImage) {
				runImage = append(runImage, u.Name)
				wantSteps = append(wantSteps, replaceSteps(u.Name)...)
			}
		}
		s.setConfig(t, model.Namespace+":stf.image", "devicefarmer/stf:3.7.8")
		p := s.previewNoCommand(t)

		if got := p.changedSummary(); !equalCounts(got, map[string]int{"replace": len(runImage)}) {
			t.Errorf("the image change previews as %s, want replace=%d (the units that run the STF image)",
				p.summaryText(), len(runImage))
		}
		wantChanges(t, p, wantSteps...)
		for _, name := range []string{"adbd.service", "rethinkdb-proxy-28015.service", "nginx.service"} {
			if st := findStep(p, name); st == nil || st.op != "same" {
				t.Errorf("%s does not run the STF image, so it must stay the same, got %v", name, st)
			}
		}
	})
}

// machineIndex returns the position of the named cluster machine in the stack's list.
func machineIndex(t *testing.T, cfg *model.Config, name string) int {
	t.Helper()
	for i, m := range cfg.Machines {
		if m.Name == name {
			return i
		}
	}
	t.Fatalf("the dev stack has no cluster machine %s", name)
	return -1
}

// previewNoCommand previews the stack and fails the test when the preview ran a command.
func (s *farmStack) previewNoCommand(t *testing.T) outcome {
	t.Helper()
	before := len(s.standIns.calls(t))
	p := s.preview(t)
	if calls := s.standIns.calls(t); len(calls) > before {
		t.Errorf("a preview must run no command, but the stand-ins logged:\n%s", strings.Join(calls[before:], "\n"))
	}
	return p
}

// findStep returns the step of the resource called name, or nil. During a replacement
// it returns the "replace" step.
func findStep(o outcome, name string) *step {
	var found *step
	for i, st := range o.steps {
		if st.name() != name {
			continue
		}
		if found == nil || st.op == "replace" {
			found = &o.steps[i]
		}
	}
	return found
}

// replaceSteps returns the steps that the engine takes to replace a resource whose
// replacement must delete it first (the deleteBeforeReplace resource option).
func replaceSteps(name string) []string {
	return []string{"delete-replaced " + name, "replace " + name, "create-replacement " + name}
}

// wantChanges fails the test unless the steps other than "same" are exactly want, as
// "op name", in any order.
func wantChanges(t *testing.T, o outcome, want ...string) {
	t.Helper()
	var got []string
	for _, st := range o.changes() {
		got = append(got, st.op+" "+st.name())
	}
	sort.Strings(got)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("the preview's steps other than same are:\n  %s\nwant:\n  %s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// wantDeleteFirst fails the test unless the old resource is deleted before its
// replacement is created. fleet identifies a unit by its name, so both cannot exist at once.
func wantDeleteFirst(t *testing.T, o outcome, name string) {
	t.Helper()
	deleted, created := -1, -1
	for i, st := range o.steps {
		if st.name() != name {
			continue
		}
		switch st.op {
		case "delete-replaced":
			deleted = i
		case "create-replacement":
			created = i
		}
	}
	if deleted < 0 || created < 0 || deleted > created {
		t.Errorf("%s must be deleted before its replacement is created, but delete-replaced is step %d "+
			"and create-replacement is step %d (-1 means missing)", name, deleted, created)
	}
}

// changesText lists the steps other than "same", one per line, for messages.
func changesText(o outcome) string {
	var lines []string
	for _, st := range o.changes() {
		lines = append(lines, "  "+st.String())
	}
	return strings.Join(lines, "\n")
}

// overlayFS serves the files of changed and every other file from base.
type overlayFS struct {
	base    fs.FS
	changed fstest.MapFS
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if _, ok := o.changed[name]; ok {
		return o.changed.Open(name)
	}
	return o.base.Open(name)
}

// overlayTemplate makes the program read the named template, changed by edit, for the
// rest of the test, and restores files.Templates when the test ends.
func overlayTemplate(t *testing.T, name string, edit func(string) string) {
	t.Helper()
	base := files.Templates
	data, err := fs.ReadFile(base, name)
	if err != nil {
		t.Fatalf("cannot read the template %s: %v", name, err)
	}
	changed := edit(string(data))
	if changed == string(data) {
		t.Fatalf("the test's edit of %s changed nothing; the template must have changed", name)
	}
	files.Templates = overlayFS{base: base, changed: fstest.MapFS{name: {Data: []byte(changed)}}}
	t.Cleanup(func() { files.Templates = base })
}
