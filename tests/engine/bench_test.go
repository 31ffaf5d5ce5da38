package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// benchRuns is the number of timed (warm) previews of each stack. One untimed preview
// of each stack runs first, so the timed ones find the CLI, the plugins and the state
// folder in the operating system's caches.
const benchRuns = 15

// targetRatio is the goal for the dev stack's preview time over the trivial program's.
const targetRatio = 1.3

// machinesVariable names the environment variable that sets the number of cluster
// machines of the generated large stack; `make bench` sets it from BENCH_MACHINES.
const machinesVariable = "STF_FARM_BENCH_MACHINES"

// benchMachines returns the number of cluster machines of the generated large stack: 30,
// or the number in machinesVariable. The dev network 192.168.56.0/24 has room for 150
// cluster machines at 192.168.56.101 and up.
func benchMachines(b *testing.B) int {
	value := os.Getenv(machinesVariable)
	if value == "" {
		return 30
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 3 || n > 150 {
		b.Fatalf("%s=%q must be a whole number from 3 to 150", machinesVariable, value)
	}
	return n
}

// trivialProgram registers three commands and nothing else, so its preview measures the
// fixed cost of the path every preview takes: the CLI, the file backend, the inline
// program's process and the command plugin.
func trivialProgram(ctx *pulumi.Context) error {
	for i := 1; i <= 3; i++ {
		if _, err := local.NewCommand(ctx, fmt.Sprintf("trivial-%d", i), &local.CommandArgs{
			Create: pulumi.String("true"),
		}); err != nil {
			return err
		}
	}
	return nil
}

// bigStackFile returns a valid stack file with a db machine and n cluster machines:
// core-01, core-02 and core-03 have the roles nginx, appside and devside, and every
// machine runs a processor and a provider. The farm then has 14 fixed units, n
// processors, n providers and nginx: 2n+15 units, which is the most that n machines
// allow, since processors conflict with each other and a provider is pinned to one
// machine index.
func bigStackFile(n int) []byte {
	roles := map[int][]string{1: {"nginx"}, 2: {"appside"}, 3: {"devside"}}
	var machines []map[string]any
	var providers []int
	for i := 1; i <= n; i++ {
		m := map[string]any{
			"name":    fmt.Sprintf("core-%02d", i),
			"address": fmt.Sprintf("192.168.56.%d", 100+i),
			"index":   i,
			"roles":   append([]string{}, roles[i]...),
			"memory":  1024,
			"cpus":    1,
		}
		machines = append(machines, m)
		providers = append(providers, i)
	}
	config := map[string]any{
		"stf-farm:provider": "virtualbox",
		"stf-farm:network":  "192.168.56.0/24",
		"stf-farm:box":      map[string]any{"name": "coreos-stable", "url": "boxes/coreos_production_vagrant.box"},
		"stf-farm:db": map[string]any{
			"name": "db", "address": "192.168.56.11", "memory": 1024, "cpus": 1,
			"box": map[string]any{"name": "ubuntu/jammy64"}, "adminHostPort": 8080,
		},
		"stf-farm:machines": machines,
		"stf-farm:stf": map[string]any{
			"image":         "devicefarmer/stf:3.7.9",
			"providerPorts": map[string]any{"min": 15000, "max": 15500},
			"processors":    n,
			"providers":     providers,
		},
	}
	// JSON is valid YAML, so the CLI reads it as a stack file.
	data, err := json.MarshalIndent(map[string]any{"config": config}, "", "  ")
	if err != nil {
		panic(err)
	}
	return data
}

// benchCase is one stack whose previews the benchmark times.
type benchCase struct {
	name      string
	stack     *farmStack
	resources int
	times     []time.Duration
	// cpu holds the processor time of each timed preview: the CLI, the plugins and
	// the inline program together.
	cpu []time.Duration
}

// stats returns the median, minimum and maximum of the timed previews.
func (c *benchCase) stats() (median, minimum, maximum time.Duration) {
	sorted := slices.Clone(c.times)
	slices.Sort(sorted)
	n := len(sorted)
	median = sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return median, sorted[0], sorted[n-1]
}

// BenchmarkPreview times warm previews of the trivial program, the dev stack and a
// generated stack of 30 cluster machines (see benchMachines), all new stacks through the
// same harness. It prints their medians, the dev/trivial ratio and the time per
// resource. It runs its own fixed number of previews, whatever b.N is, and `make bench`
// runs it once with -benchtime=1x. It fails when the large stack costs more per
// resource than the dev stack, that is when preview time grows faster than the number
// of resources.
func BenchmarkPreview(b *testing.B) {
	trivialStack := options{stack: "trivial", stackFile: []byte("config: {}\n"), program: trivialProgram}
	bigMachines := benchMachines(b)
	bigStack := options{stack: "big", stackFile: bigStackFile(bigMachines)}
	cases := []*benchCase{
		{name: "trivial", stack: newStack(b, trivialStack)},
		{name: "dev", stack: newStack(b, options{stack: "dev"})},
		{name: fmt.Sprintf("%d machines", bigMachines), stack: newStack(b, bigStack)},
	}
	for _, c := range cases {
		p := c.stack.preview(b)
		c.resources = p.summary["create"]
		if len(p.changedSummary()) != 1 || c.resources == 0 {
			b.Fatalf("the first preview of the %s stack must only create resources, got %s", c.name, p.summaryText())
		}
	}
	b.ResetTimer()
	// The runs alternate between the stacks, so a slow spell of the machine affects
	// every stack alike.
	for range benchRuns {
		for _, c := range cases {
			cpuStart := processorTime(b)
			start := time.Now()
			c.stack.preview(b)
			c.times = append(c.times, time.Since(start))
			c.cpu = append(c.cpu, processorTime(b)-cpuStart)
		}
	}
	b.StopTimer()

	trivial, dev, big := cases[0], cases[1], cases[2]
	var report strings.Builder
	fmt.Fprintf(&report, "warm previews of new stacks, %d timed runs each, on %s\n", benchRuns, machineDescription())
	fmt.Fprintf(&report, "%-12s %9s %9s %9s %9s %13s\n", "stack", "resources", "median", "min", "max", "per resource")
	medians := map[string]time.Duration{}
	for _, c := range cases {
		median, minimum, maximum := c.stats()
		medians[c.name] = median
		fmt.Fprintf(&report, "%-12s %9d %9s %9s %9s %13s\n", c.name, c.resources,
			ms(median), ms(minimum), ms(maximum), ms(median/time.Duration(c.resources)))
	}
	ratio := float64(medians[dev.name]) / float64(medians[trivial.name])
	verdict := "met"
	if ratio > targetRatio {
		verdict = "not met"
	}
	fmt.Fprintf(&report, "dev / trivial: %.2f (target %.1f or less: %s)\n", ratio, targetRatio, verdict)
	// Two figures that a slow spell of the machine moves less: the median of the ratios
	// of each round, whose two previews ran one after the other, and the ratio of the
	// median processor times.
	var rounds []float64
	for i := range trivial.times {
		rounds = append(rounds, float64(dev.times[i])/float64(trivial.times[i]))
	}
	slices.Sort(rounds)
	fmt.Fprintf(&report, "dev / trivial, median of the %d rounds' ratios: %.2f\n", len(rounds), medianOf(rounds))
	fmt.Fprintf(&report, "processor time (CLI, plugins and program), median: trivial %s, dev %s, %s %s; dev / trivial %.2f\n",
		ms(medianDuration(trivial.cpu)), ms(medianDuration(dev.cpu)), big.name, ms(medianDuration(big.cpu)),
		float64(medianDuration(dev.cpu))/float64(medianDuration(trivial.cpu)))

	devPer := medians[dev.name] / time.Duration(dev.resources)
	bigPer := medians[big.name] / time.Duration(big.resources)
	fmt.Fprintf(&report, "per resource: %s stack %s, dev %s (the larger stack must not cost more per resource)\n",
		big.name, ms(bigPer), ms(devPer))
	// The cost of each resource beyond the trivial program's, which leaves out the fixed
	// cost that the per-resource figures above still share out.
	marginal := func(c *benchCase) time.Duration {
		return (medians[c.name] - medians[trivial.name]) / time.Duration(c.resources-trivial.resources)
	}
	fmt.Fprintf(&report, "per resource beyond the trivial program: %s stack %s, dev %s\n",
		big.name, ms(marginal(big)), ms(marginal(dev)))
	// The report goes to standard output, since the testing package cuts a benchmark's
	// log after ten lines.
	fmt.Print(report.String())

	b.ReportMetric(float64(medians[dev.name].Milliseconds()), "dev-ms")
	b.ReportMetric(float64(medians[trivial.name].Milliseconds()), "trivial-ms")
	b.ReportMetric(float64(medians[big.name].Milliseconds()), "big-ms")
	b.ReportMetric(ratio, "dev/trivial")
	if bigPer > devPer {
		b.Errorf("the %s stack takes %s per resource and the dev stack %s: "+
			"preview time grows faster than the number of resources", big.name, ms(bigPer), ms(devPer))
	}
}

// processorTime returns the processor time that this process and its finished child
// processes (with theirs) have used. The CLI waits for the plugins it starts, and the
// Automation API waits for the CLI, so a preview's whole cost is counted once it returns.
func processorTime(b *testing.B) time.Duration {
	var self, children syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children); err != nil {
		b.Fatal(err)
	}
	total := time.Duration(0)
	for _, u := range []syscall.Rusage{self, children} {
		total += time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	return total
}

// medianOf returns the median of sorted values.
func medianOf(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return sorted[n/2]
}

// medianDuration returns the median of durations.
func medianDuration(values []time.Duration) time.Duration {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return sorted[n/2]
}

// ms formats a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// machineDescription names the processor and counts the cores, for the report.
func machineDescription() string {
	model := runtime.GOARCH
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}
