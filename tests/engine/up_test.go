package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"stf-farm/components/engine"
	"stf-farm/components/model"
)

// TestUp creates the dev farm through the stand-ins and runs `up` again: with no
// change, after a machine was powered off outside Pulumi, and after a change of one
// machine's memory.
func TestUp(t *testing.T) {
	s := newStack(t, options{stack: "dev", standIns: allStandIns})
	first := s.up(t)
	cfg := s.config(t)

	t.Run("create", func(t *testing.T) {
		if got := first.changedSummary(); !equalCounts(got, map[string]int{"create": 37}) {
			t.Errorf("the first up of the dev stack reports %s, want create=37", first.summaryText())
		}
	})

	// The calls prove that the commands ran against the stand-ins: the real tools are
	// not on the engine's PATH.
	t.Run("standins", func(t *testing.T) {
		calls := s.standIns.calls(t)
		want := map[string]int{
			"vagrant up":     len(cfg.Machines) + 1,
			"fleetctl start": 19,
			"ssh":            1,
		}
		got := map[string]int{
			"vagrant up":     countCalls(calls, "vagrant", "up"),
			"fleetctl start": countCalls(calls, "fleetctl", "start"),
			"ssh":            countCalls(calls, "ssh", ""),
		}
		if !equalCounts(got, want) {
			t.Errorf("the first up must boot every machine, start the 19 units and upload nginx.conf once; "+
				"the stand-ins logged:\n%s\nwant:\n%s", countsText(got), countsText(want))
		}
	})

	// TestPreview/nocommand relies on this folder: the machine commands write the Vagrant
	// project there before they call vagrant.
	t.Run("files", func(t *testing.T) {
		vagrantfile := filepath.Join(s.dir, ".farm", "dev", "Vagrantfile")
		if _, err := os.Stat(vagrantfile); err != nil {
			t.Errorf("the machine commands must write the Vagrant project into the project folder: %v", err)
		}
	})

	t.Run("again", func(t *testing.T) {
		before := len(s.standIns.calls(t))
		again := s.up(t)
		if got := again.changedSummary(); len(got) != 0 {
			t.Errorf("a second up with no change must change nothing, but reports %s:\n%s",
				again.summaryText(), changesText(again))
		}
		if calls := s.standIns.calls(t); len(calls) != before {
			t.Errorf("a second up with no change must run no command, but the stand-ins logged:\n%s",
				strings.Join(calls[before:], "\n"))
		}
	})

	// A machine powered off outside Pulumi: the program finds it down, so preview shows
	// an update of its boot command alone, and up starts it with `vagrant up`, keeping
	// its disk.
	t.Run("poweroff", func(t *testing.T) {
		s.standIns.powerOff(t, "core-03")
		p := s.preview(t)
		if got := p.changedSummary(); !equalCounts(got, map[string]int{"update": 1}) {
			t.Errorf("the preview after core-03 was powered off reports %s, want update=1 (core-03-vagrant):\n%s",
				p.summaryText(), changesText(p))
		}
		if !strings.Contains(p.output, "core-03 is down: its VM is poweroff") {
			t.Errorf("the preview must say that core-03 is down; it printed:\n%s", p.output)
		}
		// `make preview` shows diffs, where the CLI prints warnings on another stream.
		var plan strings.Builder
		s.inProjectDir(t, func() {
			ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
			defer cancel()
			if _, err := engine.PreviewDiff(ctx, s.stack, &plan); err != nil {
				t.Fatalf("the preview with diffs failed: %v", err)
			}
		})
		for _, want := range []string{"core-03 is down: its VM is poweroff", `FARM_STARTS: "0" => "1"`} {
			if !strings.Contains(plan.String(), want) {
				t.Errorf("the preview with diffs must show %q; it printed:\n%s", want, plan.String())
			}
		}

		before := len(s.standIns.calls(t))
		u := s.up(t)
		if got := u.changedSummary(); !equalCounts(got, map[string]int{"update": 1}) {
			t.Errorf("up after core-03 was powered off reports %s, want update=1 (core-03-vagrant):\n%s",
				u.summaryText(), changesText(u))
		}
		calls := s.standIns.calls(t)[before:]
		if countCalls(calls, "vagrant", "up") != 1 || countCalls(calls, "vagrant", "reload") != 0 {
			t.Errorf("up must start core-03 with one vagrant up and no reload; the stand-ins logged:\n%s",
				strings.Join(calls, "\n"))
		}
		if state := s.standIns.state(t, "core-03"); state != "running" {
			t.Errorf("core-03 is %s after up, want running", state)
		}

		before = len(s.standIns.calls(t))
		reads := len(s.standIns.log(t))
		again := s.up(t)
		if got := again.changedSummary(); len(got) != 0 {
			t.Errorf("an up after core-03 runs again must change nothing, but reports %s:\n%s",
				again.summaryText(), changesText(again))
		}
		if calls := s.standIns.calls(t); len(calls) != before {
			t.Errorf("an up after core-03 runs again must run no command, but the stand-ins logged:\n%s",
				strings.Join(calls[before:], "\n"))
		}
		// The program reads the state of the db machine and the three cluster machines.
		if n := len(s.standIns.log(t)) - reads; n != 4 {
			t.Errorf("up must read the state of each of the 4 machines once, but the stand-ins logged %d calls", n)
		}
	})

	// `up` applies the change as one update that reloads core-02 and leaves the report,
	// the units and the proxy alone.
	t.Run("memory", func(t *testing.T) {
		memory := fmt.Sprintf("%s:machines[%d].memory", model.Namespace, machineIndex(t, cfg, "core-02"))
		s.setConfig(t, memory, "2048")
		before := len(s.standIns.calls(t))
		u := s.up(t)
		if got := u.changedSummary(); !equalCounts(got, map[string]int{"update": 1}) {
			t.Errorf("up after core-02's memory change reports %s, want update=1 (core-02-vagrant):\n%s",
				u.summaryText(), changesText(u))
		}
		calls := s.standIns.calls(t)[before:]
		var other []string
		for _, c := range calls {
			fields := strings.Fields(c)
			if fields[0] != "vagrant" || !slices.Contains(fields, "core-02") {
				other = append(other, c)
			}
		}
		if countCalls(calls, "vagrant", "reload") != 1 || len(other) > 0 {
			t.Errorf("up after core-02's memory change must reload core-02 once and run nothing else; "+
				"the stand-ins logged:\n%s", strings.Join(calls, "\n"))
		}
	})

}
