package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"stf-farm/components"
	"stf-farm/components/placement"
)

// fleetLimit bounds one fleetctl call.
const fleetLimit = 30 * time.Second

// docker runs the Docker client against the checkout's engine.
func (f *farm) docker(limit time.Duration, args ...string) (string, error) {
	return runCommand(limit, "", []string{"DOCKER_HOST=" + f.dockerHost}, dockerClient, args...)
}

// container returns the name of the named machine's container.
func container(machine string) string {
	return containerPrefix + machine
}

// containers returns the names of every container of the e2e stack, running or not.
func (f *farm) containers(tb testing.TB) []string {
	tb.Helper()
	out, err := f.docker(commandLimit, "ps", "--all", "--filter", "name=^"+containerPrefix, "--format", "{{.Names}}")
	if err != nil {
		tb.Fatalf("docker ps failed: %v\n%s", err, out)
	}
	return strings.Fields(out)
}

// networkExists reports whether the e2e stack's Docker network exists.
func (f *farm) networkExists(tb testing.TB) bool {
	tb.Helper()
	out, err := f.docker(commandLimit, "network", "ls", "--filter", "name=^"+dockerNetwork+"$", "--format", "{{.Name}}")
	if err != nil {
		tb.Fatalf("docker network ls failed: %v\n%s", err, out)
	}
	return slices.Contains(strings.Fields(out), dockerNetwork)
}

// containerState returns the named container's ID and status (running, exited, ...).
func (f *farm) containerState(tb testing.TB, name string) (id, status string) {
	tb.Helper()
	out, err := f.docker(commandLimit, "inspect", "--format", "{{.Id}} {{.State.Status}}", name)
	if err != nil {
		tb.Fatalf("docker inspect %s failed: %v\n%s", name, err, out)
	}
	fields := strings.Fields(out)
	if len(fields) != 2 {
		tb.Fatalf("docker inspect %s printed %q, want an ID and a status", name, out)
	}
	return fields[0], fields[1]
}

// recordVolumes remembers the anonymous volumes of the farm's containers, so the
// cleanup can check that they went with the machines.
func (f *farm) recordVolumes(tb testing.TB) {
	tb.Helper()
	for _, name := range f.containers(tb) {
		out, err := f.docker(commandLimit, "inspect", "--format",
			`{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`, name)
		if err != nil {
			tb.Fatalf("docker inspect %s failed: %v\n%s", name, err, out)
		}
		for _, volume := range strings.Fields(out) {
			f.volumes[volume] = true
		}
	}
}

// unitFilesIn lists the units that the fleet of a node container holds.
func (f *farm) unitFilesIn(name string) ([]string, error) {
	out, err := f.docker(fleetLimit, "exec", name, "fleetctl", "list-unit-files", "--no-legend", "--fields=unit")
	if err != nil {
		return nil, fmt.Errorf("fleetctl list-unit-files in %s failed: %v: %s", name, err, out)
	}
	return strings.Fields(out), nil
}

// fleet runs the repository's fleetctl against the etcd of every cluster machine, like
// the farm's unit commands.
func (f *farm) fleet(args ...string) (string, error) {
	var endpoints []string
	for _, m := range f.cfg.Machines {
		if !f.inFarm(m.Address) {
			return "", fmt.Errorf("the machine address %s is outside %s", m.Address, farmNetwork)
		}
		endpoints = append(endpoints, "http://"+m.Address+":2379")
	}
	all := append([]string{"--driver=etcd", "--endpoint=" + strings.Join(endpoints, ","), "--request-timeout=5"}, args...)
	return runCommand(fleetLimit, "", nil, filepath.Join(f.root, "bin", "fleetctl"), all...)
}

// unitRow is one row of `fleetctl list-units`, with the machine's name.
type unitRow struct {
	unit, machine, active, sub string
}

func (r unitRow) String() string {
	return r.unit + " on " + r.machine + " " + r.active + "/" + r.sub
}

// unitRows lists the units fleet reports, one row per unit and machine.
func (f *farm) unitRows() ([]unitRow, error) {
	out, err := f.fleet("list-units", "--no-legend", "--full", "--fields=unit,machine,active,sub")
	if err != nil {
		return nil, fmt.Errorf("fleetctl list-units failed: %v\n%s", err, out)
	}
	names := map[string]string{}
	for _, m := range f.cfg.Machines {
		names[m.Address] = m.Name
	}
	var rows []unitRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 4 {
			continue
		}
		// fleet names a machine as <machine ID>/<public IP>.
		ip := fields[1][strings.LastIndex(fields[1], "/")+1:]
		machine, ok := names[ip]
		if !ok {
			machine = fields[1]
		}
		rows = append(rows, unitRow{unit: fields[0], machine: machine, active: fields[2], sub: fields[3]})
	}
	return rows, nil
}

// fleetMachines returns the names of the machines that fleet lists.
func (f *farm) fleetMachines() ([]string, error) {
	out, err := f.fleet("list-machines", "--no-legend", "--full", "--fields=ip")
	if err != nil {
		return nil, fmt.Errorf("fleetctl list-machines failed: %v\n%s", err, out)
	}
	names := map[string]string{}
	for _, m := range f.cfg.Machines {
		names[m.Address] = m.Name
	}
	var machines []string
	for _, ip := range strings.Fields(out) {
		if name, ok := names[ip]; ok {
			machines = append(machines, name)
		} else {
			machines = append(machines, ip)
		}
	}
	slices.Sort(machines)
	return machines, nil
}

// plan returns the farm's units and their candidate machines, as the program plans them.
func (f *farm) plan(tb testing.TB) components.Plan {
	tb.Helper()
	plan, err := components.PlanFarm(f.cfg)
	if err != nil {
		tb.Fatalf("cannot plan the %s farm: %v", stackName, err)
	}
	return plan
}

// checkRows returns one problem per unit of the plan that fleet does not run as its
// constraints allow: active on exactly one candidate, or on every candidate for a
// global unit.
func checkRows(plan components.Plan, rows []unitRow) []string {
	byUnit := map[string][]unitRow{}
	for _, row := range rows {
		byUnit[row.unit] = append(byUnit[row.unit], row)
	}
	var problems []string
	for _, result := range plan.Placement {
		if problem := checkUnit(result, byUnit[result.Unit]); problem != "" {
			problems = append(problems, problem)
		}
	}
	return problems
}

// checkUnit returns what is wrong with one unit's rows, or "".
func checkUnit(result placement.Result, rows []unitRow) string {
	candidates := result.Candidates
	want := 1
	if result.Global {
		want = len(candidates)
	}
	var machines []string
	for _, row := range rows {
		if row.active != "active" {
			return fmt.Sprintf("%s is %s/%s on %s, want active", result.Unit, row.active, row.sub, row.machine)
		}
		if !slices.Contains(candidates, row.machine) {
			return fmt.Sprintf("%s runs on %s, which is not one of its candidates %v", result.Unit, row.machine, candidates)
		}
		machines = append(machines, row.machine)
	}
	if len(machines) != want {
		return fmt.Sprintf("%s is active on %v, want %d of its candidates %v", result.Unit, machines, want, candidates)
	}
	return ""
}

// waitConverged waits until fleet lists every cluster machine and runs every unit as
// its constraints allow, and returns how long that took. When a machine shuts down,
// fleet 1.0's agent deletes the states of its units for every machine, global units
// included. Each agent publishes its states again only every 24 s (four fifths of the
// 30 s agent TTL), so the wait must allow for that.
func (f *farm) waitConverged(tb testing.TB, limit time.Duration) time.Duration {
	tb.Helper()
	plan := f.plan(tb)
	want := machineNames(f.cfg)
	slices.Sort(want)
	start := time.Now()
	var last []string
	for time.Since(start) < limit {
		machines, err := f.fleetMachines()
		switch {
		case err != nil:
			last = []string{err.Error()}
		case !slices.Equal(machines, want):
			last = []string{fmt.Sprintf("fleet lists the machines %v, want %v", machines, want)}
		default:
			rows, err := f.unitRows()
			if err != nil {
				last = []string{err.Error()}
				break
			}
			last = checkRows(plan, rows)
			if len(last) == 0 {
				return time.Since(start)
			}
		}
		time.Sleep(time.Second)
	}
	tb.Fatalf("fleet did not run every unit as its constraints allow within %s:\n%s", limit, strings.Join(last, "\n"))
	return 0
}
