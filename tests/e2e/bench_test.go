package e2e

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// targetRatio is the goal for the wall time of a fresh up over its critical path.
const targetRatio = 1.2

// pathStep is one resource on the critical path.
type pathStep struct {
	name     string
	typ      string
	duration time.Duration
	// finish is the earliest time the resource could finish, counted from the start of
	// the up, if every resource started as soon as its dependencies finished.
	finish time.Duration
}

// criticalPath returns the longest chain of dependent resources of an up, summing the
// durations that the engine's events report, and the chain itself from first to last.
//
// A resource depends on its parent, its provider and every resource in its
// dependencies and property dependencies, as the stack's state records them. Its
// duration is the time between its step's start and finish events. Component
// resources and the stack do no work of their own (their events span their
// children's), so they count as zero. The earliest finish of a resource is its
// duration plus the latest earliest finish among its dependencies. The critical path
// is the largest earliest finish. It is the time an up would take if every resource
// started the moment its dependencies finished and the engine cost nothing.
func criticalPath(o outcome, d apitype.DeploymentV3) (time.Duration, []pathStep) {
	steps := map[string]*step{}
	for _, s := range o.steps {
		steps[s.urn] = s
	}
	resources := map[string]apitype.ResourceV3{}
	for _, r := range d.Resources {
		resources[string(r.URN)] = r
	}
	finish := map[string]time.Duration{}
	previous := map[string]string{}
	var visit func(urn string) time.Duration
	visit = func(urn string) time.Duration {
		if f, ok := finish[urn]; ok {
			return f
		}
		// A cycle cannot occur in a valid state; the mark stops one anyway.
		finish[urn] = 0
		r, ok := resources[urn]
		if !ok {
			return 0
		}
		var latest time.Duration
		for _, dep := range dependencies(r) {
			if _, seen := previous[urn]; !seen || visit(dep) > latest {
				latest = visit(dep)
				previous[urn] = dep
			}
		}
		var own time.Duration
		if r.Custom {
			own = steps[urn].duration()
		}
		finish[urn] = latest + own
		return finish[urn]
	}
	var last string
	for urn := range resources {
		if visit(urn) > finish[last] || last == "" {
			last = urn
		}
	}

	var chain []pathStep
	for urn := last; urn != ""; urn = previous[urn] {
		r := resources[urn]
		own := time.Duration(0)
		if r.Custom {
			own = steps[urn].duration()
		}
		// Steps that took less than a millisecond, such as loading a provider that is
		// already loaded, would only clutter the report.
		if own >= time.Millisecond {
			chain = append([]pathStep{{name: urnName(urn), typ: string(r.Type), duration: own, finish: finish[urn]}}, chain...)
		}
	}
	return finish[last], chain
}

// dependencies returns the URNs that a resource waits for.
func dependencies(r apitype.ResourceV3) []string {
	var deps []string
	if r.Parent != "" {
		deps = append(deps, string(r.Parent))
	}
	if r.Provider != "" {
		// A provider reference is <URN>::<ID>.
		deps = append(deps, r.Provider[:strings.LastIndex(r.Provider, "::")])
	}
	for _, dep := range r.Dependencies {
		deps = append(deps, string(dep))
	}
	for _, urns := range r.PropertyDependencies {
		for _, dep := range urns {
			deps = append(deps, string(dep))
		}
	}
	return deps
}

func urnName(urn string) string {
	return urn[strings.LastIndex(urn, "::")+2:]
}

// BenchmarkUp times an up of the e2e farm from nothing: the local stack's machines and
// units on a network of their own, with the images already built. It computes the
// up's critical path from the engine's events (see criticalPath) and times a second
// up, which must run no command. It prints the figures that docs/benchmarks.md
// records. It runs the sequence once, whatever b.N is, and `make bench-local` runs it
// with -benchtime=1x. It fails when the second up runs a command. The ratio target is
// reported, not enforced.
func BenchmarkUp(b *testing.B) {
	f := newFarm(b)
	b.ResetTimer()
	fresh := f.run(b, opUp, upLimit)
	noop := f.run(b, opUp, changeLimit)
	b.StopTimer()

	d, err := f.deployment()
	if err != nil {
		b.Fatalf("cannot export the state of the %s stack: %v", stackName, err)
	}
	path, chain := criticalPath(fresh, d)
	if path <= 0 {
		b.Fatalf("the critical path of the fresh up is %s; the engine's events reported no durations", path)
	}
	var serial time.Duration
	for _, s := range fresh.commands() {
		serial += s.duration()
	}
	ratio := float64(fresh.wall) / float64(path)
	commands := len(noop.commands())

	var report strings.Builder
	fmt.Fprintf(&report, "up of the %s farm from nothing, on %s\n", stackName, machineDescription())
	fmt.Fprintf(&report, "  resources created         %d (%d commands)\n", fresh.summary[string(apitype.OpCreate)], len(fresh.commands()))
	fmt.Fprintf(&report, "  wall time                 %s\n", seconds(fresh.wall))
	fmt.Fprintf(&report, "  critical path             %s\n", seconds(path))
	fmt.Fprintf(&report, "  wall / critical path      %.2f (target %.1f or less: %s)\n", ratio, targetRatio, verdict(ratio <= targetRatio))
	fmt.Fprintf(&report, "  sum of command durations  %s\n", seconds(serial))
	fmt.Fprintf(&report, "critical path (earliest finish, duration, resource):\n")
	for _, p := range chain {
		fmt.Fprintf(&report, "  %9s %9s  %s (%s)\n", seconds(p.finish), seconds(p.duration), p.name, p.typ)
	}
	fmt.Fprintf(&report, "no-op up\n")
	fmt.Fprintf(&report, "  wall time                 %s\n", seconds(noop.wall))
	fmt.Fprintf(&report, "  commands run              %d (target 0: %s)\n", commands, verdict(commands == 0))
	// The report goes to standard output, since the testing package cuts a benchmark's
	// log after ten lines.
	fmt.Print(report.String())

	b.ReportMetric(fresh.wall.Seconds(), "up-s")
	b.ReportMetric(path.Seconds(), "critical-path-s")
	b.ReportMetric(ratio, "up/critical-path")
	b.ReportMetric(noop.wall.Seconds(), "noop-up-s")
	b.ReportMetric(float64(commands), "noop-commands")
	if commands > 0 {
		b.Errorf("the no-op up ran %d command(s):\n%s", commands, stepsText(noop.commands()))
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "not met"
}

// seconds formats a duration in seconds with two decimals.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// machineDescription names the processor and counts the cores, for the report.
func machineDescription() string {
	name := runtime.GOARCH
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if value, ok := strings.CutPrefix(line, "model name"); ok {
				name = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(value), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s", name, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}
