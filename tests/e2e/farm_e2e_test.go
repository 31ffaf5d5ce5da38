package e2e

import (
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"stf-farm/components"
	"stf-farm/components/model"
	"stf-farm/components/render"
	"stf-farm/files"
)

// proxyUpload is the command that uploads nginx.conf and reloads nginx.
const proxyUpload = model.Namespace + "-proxy-nginx-conf"

// Bounds of the waits inside the farm.
const (
	// reloadLimit bounds the wait for nginx to serve a configuration that `up` uploaded.
	reloadLimit = 15 * time.Second
	// convergeLimit bounds the wait for fleet to run every unit again after a machine
	// came back: the 24 s period of fleet's state publishing plus the units' start.
	convergeLimit = 90 * time.Second
	// moveLimit bounds the wait for fleet to report a moved unit active, once the route
	// to it responds again.
	moveLimit = 60 * time.Second
)

// The parts of the bound on recovering from a lost machine (see lossBound). The fleet
// values are fleetd's defaults in fleet v1.0.0, which the node image does not change.
const (
	// dockerStopGrace is how long `docker stop --time 10` waits for systemd in the node
	// to shut down before it kills the container.
	dockerStopGrace = 10 * time.Second
	// fleetAgentTTL is fleetd's agent_ttl: a machine that stops sending heartbeats
	// leaves the cluster after it.
	fleetAgentTTL = 30 * time.Second
	// fleetEngineInterval is fleetd's engine_reconcile_interval: the engine leader
	// schedules units again this often. A leader lost with the machine gives up its
	// lease after five intervals, 10 s, which is within fleetAgentTTL.
	fleetEngineInterval = 2 * time.Second
	// fleetAgentInterval is how often an agent reconciles the units scheduled on its
	// machine, when no event makes it do so sooner.
	fleetAgentInterval = 5 * time.Second
	// nginxRetry covers nginx trying the lost server first: a connect timeout of 1 s and
	// fail_timeout=1s in nginx.conf.
	nginxRetry = 2 * time.Second
	// minUnitStart is the least time allowed for a moved unit to start (see unitStart).
	minUnitStart = 5 * time.Second
)

// lossBound returns how long a route may take to respond again after the machine that
// ran its unit was taken away. In the worst case the machine's fleetd dies without
// leaving the cluster after a shutdown of up to grace, so the other machines notice
// only when its heartbeat expires. unitStart is the time allowed for the unit to start.
func lossBound(grace, unitStart time.Duration) time.Duration {
	return grace + fleetAgentTTL + fleetEngineInterval + fleetAgentInterval + unitStart + nginxRetry
}

// stfCommand finds the STF subcommand in a unit's ExecStart, which is the role that
// the stand-in reports.
var stfCommand = regexp.MustCompile(`(?m)^\s*stf ([a-z][a-z-]*)`)

// session is the farm that the cases of TestFarm share, one after the other.
type session struct {
	*farm
	// fresh is what the first up reported.
	fresh outcome
	// created records that the first up succeeded.
	created bool
}

// TestFarm creates the e2e farm from nothing and checks that every unit runs and every
// route reaches its service. Then it checks, in order, that a second up changes
// nothing and that a change of nginx.conf only uploads the file. It then stops one
// machine and kills another, and checks that the farm recovers each time. Last, it
// checks that destroy completes after a machine was removed by hand. Each case needs the farm as the case before it leaves it, so the
// test ends when the first up fails.
//
// It needs root, the docker.io package, Vagrant, ssh and the tools of `make tools`, as
// the package documentation lists, and fails when one of them is missing.
func TestFarm(t *testing.T) {
	s := &session{farm: newFarm(t)}
	t.Run("up", s.testUp)
	if !s.created {
		t.Fatal("the first up failed, so the other cases cannot run")
	}
	t.Run("noop", s.testNoop)
	t.Run("nginx", s.testNginx)
	t.Run("loss", s.testLoss)
	t.Run("crash", s.testCrash)
	t.Run("destroy", s.testDestroy)
}

// testUp creates the farm and checks the units and every route through nginx.
func (s *session) testUp(t *testing.T) {
	s.fresh = s.run(t, opUp, upLimit)
	s.created = true
	s.recordVolumes(t)
	for op := range s.fresh.changedSummary() {
		if op != string(apitype.OpCreate) {
			t.Errorf("the first up of a new stack must only create resources, got %s", s.fresh.summaryText())
		}
	}
	if s.fresh.summary[string(apitype.OpCreate)] == 0 {
		t.Errorf("the first up of a new stack created nothing: %s", s.fresh.summaryText())
	}

	var out farmOutputs
	s.outputs(t, &out)
	s.checkAddresses(t, out)
	plan := s.plan(t)
	s.checkUnitOutputs(t, plan, out)

	rows, err := s.unitRows()
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range checkRows(plan, rows) {
		t.Error(problem)
	}
	s.checkPlacementMatches(t, out, rows)

	nginx := s.address(t, s.nginxMachine(t))
	roles := unitRoles(t, plan)
	for _, route := range render.Routes {
		s.checkRoute(t, nginx, route.Path, roles[route.Unit])
	}
	s.checkProviders(t, nginx)
	s.checkWebSocket(t, nginx, "/socket.io/")
}

// checkAddresses checks that every machine reports the address the stack configures.
func (s *session) checkAddresses(t *testing.T, out farmOutputs) {
	t.Helper()
	reported := map[string]string{}
	for _, m := range out.Machines {
		reported[m.Name] = m.Address
	}
	for _, m := range s.cfg.Machines {
		if reported[m.Name] != m.Address {
			t.Errorf("%s reports the address %q, want the configured %s", m.Name, reported[m.Name], m.Address)
		}
	}
	if out.DBAddress != s.cfg.DB.Address {
		t.Errorf("the db machine reports the address %q, want the configured %s", out.DBAddress, s.cfg.DB.Address)
	}
}

// checkUnitOutputs checks the units output: every unit is placed on at least one of its
// candidates, a global unit on all of them.
func (s *session) checkUnitOutputs(t *testing.T, plan components.Plan, out farmOutputs) {
	t.Helper()
	if len(out.Units) != len(plan.Placement) {
		t.Errorf("the units output lists %d units, want the %d units of the plan", len(out.Units), len(plan.Placement))
	}
	for _, result := range plan.Placement {
		u, ok := out.Units[result.Unit]
		if !ok {
			t.Errorf("the units output has no %s", result.Unit)
			continue
		}
		if !slices.Equal(u.Candidates, result.Candidates) {
			t.Errorf("%s has the candidates %v in the units output, want %v", result.Unit, u.Candidates, result.Candidates)
		}
		if len(u.Placement) == 0 {
			t.Errorf("%s is placed on no machine in the units output", result.Unit)
		}
		for _, m := range u.Placement {
			if !slices.Contains(u.Candidates, m) {
				t.Errorf("%s is placed on %s, which is not one of its candidates %v", result.Unit, m, u.Candidates)
			}
		}
		if result.Global && !sameSet(u.Placement, u.Candidates) {
			t.Errorf("the global unit %s is placed on %v, want every candidate %v", result.Unit, u.Placement, u.Candidates)
		}
	}
}

// checkPlacementMatches checks that the units output names the machines where fleet
// runs each unit.
func (s *session) checkPlacementMatches(t *testing.T, out farmOutputs, rows []unitRow) {
	t.Helper()
	live := map[string][]string{}
	for _, row := range rows {
		live[row.unit] = append(live[row.unit], row.machine)
	}
	for name, u := range out.Units {
		if !sameSet(u.Placement, live[name]) {
			t.Errorf("the units output places %s on %v, but fleet runs it on %v", name, u.Placement, live[name])
		}
	}
}

// checkRoute checks that path, through nginx, reaches the stand-in of role.
func (s *session) checkRoute(t *testing.T, nginx, path, role string) {
	t.Helper()
	r, err := s.get(nginx, path)
	if err != nil {
		t.Errorf("route %s: %v", path, err)
		return
	}
	if r.body.Role != role {
		t.Errorf("route %s reached the stand-in of %q, want %q: %s", path, r.body.Role, role, r.raw)
	}
	if r.body.Path != path {
		t.Errorf("route %s reached its service with the path %q, want the same path", path, r.body.Path)
	}
}

// checkProviders checks that /d/N/<serial>/<port>/ reaches provider N on the machine
// with index N, at both ends of the port range, and that a WebSocket works through it.
func (s *session) checkProviders(t *testing.T, nginx string) {
	t.Helper()
	ports := s.cfg.STF.ProviderPorts
	indexes := s.cfg.ProviderIndexes()
	if len(indexes) == 0 {
		t.Fatalf("the %s stack runs no provider, so no /d/N/ route can be checked", stackName)
	}
	for _, index := range indexes {
		m, ok := s.cfg.MachineWithIndex(index)
		if !ok {
			t.Errorf("provider %d has no machine with index=%d", index, index)
			continue
		}
		for _, port := range []int{ports.Min, ports.Max} {
			path := fmt.Sprintf("/d/%d/e2e-serial-%d/%d/", index, index, port)
			r, err := s.get(nginx, path)
			if err != nil {
				t.Errorf("route %s: %v", path, err)
				continue
			}
			if r.body.Role != "provider" {
				t.Errorf("route %s reached %q, want the provider: %s", path, r.body.Role, r.raw)
			}
			if r.body.Machine != m.Name {
				t.Errorf("route %s reached a provider on %q, want %s, the machine with index=%d", path, r.body.Machine, m.Name, index)
			}
			if r.body.Port != port {
				t.Errorf("route %s reached the provider's port %d, want %d", path, r.body.Port, port)
			}
		}
		s.checkWebSocket(t, nginx, fmt.Sprintf("/d/%d/e2e-serial-%d/%d/", index, index, ports.Min))
	}
}

// checkWebSocket checks the WebSocket handshake and one echo through path.
func (s *session) checkWebSocket(t *testing.T, nginx, path string) {
	t.Helper()
	u, err := s.websocket(nginx, path)
	if err != nil {
		t.Errorf("WebSocket through %s: %v", path, err)
		return
	}
	if u.accept != u.want {
		t.Errorf("WebSocket through %s: Sec-WebSocket-Accept is %q, want %q", path, u.accept, u.want)
	}
	if u.echoed != u.sent {
		t.Errorf("WebSocket through %s: the echo is %q, want %q", path, u.echoed, u.sent)
	}
}

// testNoop checks that a second up reports no change and runs no command.
func (s *session) testNoop(t *testing.T) {
	o := s.run(t, opUp, changeLimit)
	if changes := o.changes(); len(changes) > 0 {
		t.Errorf("a second up must change nothing, got these steps:\n%s", stepsText(changes))
	}
	if commands := o.commands(); len(commands) > 0 {
		t.Errorf("a second up must run no command, but it ran:\n%s", stepsText(commands))
	}
	if got := o.changedSummary(); len(got) > 0 {
		t.Errorf("a second up must report only unchanged resources, got %s", o.summaryText())
	}
	if len(o.steps) != len(s.fresh.steps) {
		t.Errorf("a second up reported %d steps, want one for each of the %d resources that the first up created",
			len(o.steps), len(s.fresh.steps))
	}
}

// testNginx changes only the nginx.conf template, checks that up only uploads the file
// and that nginx then serves it, and puts the original back the same way.
func (s *session) testNginx(t *testing.T) {
	nginx := s.address(t, s.nginxMachine(t))
	restore := overlayNginx(t, func(text string) string {
		return strings.Replace(text, "    server_name _;\n", "    server_name _;\n    add_header X-Farm-Test 1;\n", 1)
	})

	changed := s.run(t, opUp, changeLimit)
	wantOnlyUpload(t, changed)
	s.waitHeader(t, nginx, "1")

	restore()
	original := s.run(t, opUp, changeLimit)
	wantOnlyUpload(t, original)
	s.waitHeader(t, nginx, "")
}

// overlayNginx makes the program read the nginx.conf template changed by edit, and
// returns the function that restores the original. The test's cleanup restores it too.
func overlayNginx(t *testing.T, edit func(string) string) func() {
	t.Helper()
	const name = "proxy/nginx.conf.tmpl"
	base := files.Templates
	original, err := fs.ReadFile(base, name)
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(string(original))
	if changed == string(original) {
		t.Fatalf("the edit left %s unchanged: the template no longer has the line the test changes", name)
	}
	files.Templates = overlayFS{base: base, changed: fstest.MapFS{name: {Data: []byte(changed)}}}
	restore := func() { files.Templates = base }
	t.Cleanup(restore)
	return restore
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

// wantOnlyUpload checks that an up changed nothing but the nginx.conf upload.
func wantOnlyUpload(t *testing.T, o outcome) {
	t.Helper()
	changes := o.changes()
	if len(changes) == 1 {
		if changes[0].name() != proxyUpload {
			t.Errorf("a change of nginx.conf alone must change only %s, got %s", proxyUpload, changes[0])
		}
		if changes[0].op != string(apitype.OpUpdate) {
			t.Errorf("a change of nginx.conf must update %s in place, got %s", proxyUpload, changes[0])
		}
	} else {
		t.Errorf("a change of nginx.conf alone must change one resource, %s, got:\n%s", proxyUpload, stepsText(changes))
	}
	if commands := o.commands(); len(commands) != 1 {
		t.Errorf("a change of nginx.conf alone must run one command, the upload, but it ran:\n%s", stepsText(commands))
	}
	if got := o.changedSummary(); !maps.Equal(got, map[string]int{string(apitype.OpUpdate): 1}) {
		t.Errorf("a change of nginx.conf alone must report update=1 besides the unchanged resources, got %s", o.summaryText())
	}
}

// waitHeader waits until the response to / has the X-Farm-Test header value want, where
// "" means no such header.
func (s *session) waitHeader(t *testing.T, nginx, want string) {
	t.Helper()
	start := time.Now()
	var got string
	var err error
	for time.Since(start) < reloadLimit {
		var r reply
		r, err = s.get(nginx, "/")
		if err == nil {
			got = r.header.Get("X-Farm-Test")
			if got == want {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("nginx did not serve X-Farm-Test %q within %s after up: the last response had %q (error: %v)",
		want, reloadLimit, got, err)
}

// testLoss stops the container of a machine that runs a web unit, measures how long
// the unit's route takes to respond again, and then runs refresh and up: up must start
// the stopped machine, by updating its boot command only.
func (s *session) testLoss(t *testing.T) {
	lost, id := s.loseMachine(t, stopMachine)

	// Command resources keep the outputs they recorded, so refresh finds no change; the
	// program itself finds the machine down when it runs.
	refreshed := s.run(t, opRefresh, changeLimit)
	if changes := refreshed.changes(); len(changes) > 0 {
		t.Errorf("refresh must change nothing, since the command provider keeps the outputs it recorded; got:\n%s",
			stepsText(changes))
	}
	s.upStarts(t, lost, id)
}

// testCrash kills the container of a machine that runs a web unit, so that its fleetd
// cannot leave the cluster, measures how long the unit's route takes to respond again,
// and checks that up starts the machine again.
func (s *session) testCrash(t *testing.T) {
	lost, id := s.loseMachine(t, killMachine)
	s.upStarts(t, lost, id)
}

// upStarts runs up after machine was taken away and checks that up started the same
// container again by updating the machine's boot command and nothing else, and that
// fleet then runs every unit again.
func (s *session) upStarts(t *testing.T, machine, id string) {
	t.Helper()
	start := time.Now()
	after := s.run(t, opUp, changeLimit)
	booted := time.Since(start)
	boot := machine + "-vagrant"
	changes := after.changes()
	if len(changes) != 1 || changes[0].name() != boot || changes[0].op != string(apitype.OpUpdate) {
		t.Errorf("up after the loss of %s must update %s in place and change nothing else, got:\n%s",
			machine, boot, stepsText(changes))
	}
	if commands := after.commands(); len(commands) != 1 {
		t.Errorf("up after the loss of %s must run one command, the boot of %s, but it ran:\n%s",
			machine, boot, stepsText(commands))
	}
	name := container(machine)
	newID, status := s.containerState(t, name)
	if newID != id {
		t.Errorf("up created %s again (container %.12s, was %.12s); it must start the stopped one", machine, newID, id)
	}
	if status != "running" {
		t.Fatalf("%s is %s after up, want running", name, status)
	}
	converged := s.waitConverged(t, convergeLimit)
	t.Logf("up started %s again in %s, and fleet ran every unit again %s later.",
		machine, booted.Round(time.Millisecond), converged.Round(time.Millisecond))

	again := s.run(t, opUp, changeLimit)
	if changes := again.changes(); len(changes) > 0 {
		t.Errorf("a second up after %s started again must change nothing, got:\n%s", machine, stepsText(changes))
	}
}

// A machineLoss is a way to take a machine's container away.
type machineLoss struct {
	// command is the docker command that takes the container away.
	command string
	// args are the docker arguments that take the container away.
	args func(container string) []string
	// grace is how long the machine may take to shut down before it is killed.
	grace time.Duration
}

var (
	// stopMachine shuts the node down: systemd stops fleetd, which leaves the cluster
	// at once, unless the shutdown takes longer than the grace and docker kills it.
	stopMachine = machineLoss{
		command: "stop",
		args:    func(c string) []string { return []string{"stop", "--time", "10", c} },
		grace:   dockerStopGrace,
	}
	// killMachine kills the node at once, as a power loss would.
	killMachine = machineLoss{
		command: "kill",
		args:    func(c string) []string { return []string{"kill", "--signal", "KILL", c} },
	}
)

// loseMachine takes away a machine, other than the nginx machine, that runs a web unit
// which may move, and checks that the unit's route responds again within lossBound and
// that fleet moved the unit. It returns the machine and its container's ID.
func (s *session) loseMachine(t *testing.T, loss machineLoss) (string, string) {
	t.Helper()
	nginxName := s.nginxMachine(t)
	nginx := s.address(t, nginxName)
	plan := s.plan(t)
	roles := unitRoles(t, plan)
	rows, err := s.unitRows()
	if err != nil {
		t.Fatal(err)
	}
	route, lost, ok := pickMovable(plan, rows, nginxName)
	if !ok {
		t.Fatalf("fleet runs no web unit that may move on a machine other than %s, so no machine can be "+
			"taken away without also taking nginx. fleet reports:\n%v", nginxName, rows)
	}
	if _, err := s.get(nginx, route.Path); err != nil {
		t.Fatalf("route %s does not respond before %s is taken away: %v", route.Path, lost, err)
	}
	name := container(lost)
	id, _ := s.containerState(t, name)

	unitStart := s.unitStart()
	bound := lossBound(loss.grace, unitStart)
	start := time.Now()
	if out, err := s.docker(time.Minute, loss.args(name)...); err != nil {
		t.Fatalf("docker %s failed: %v\n%s", strings.Join(loss.args(name), " "), err, out)
	}
	commandTook := time.Since(start)
	recovered, err := s.waitRoute(nginx, route.Path, roles[route.Unit], start, bound)
	if err != nil {
		t.Fatalf("after docker %s of %s, which ran %s, route %s did not respond again within %s "+
			"(shutdown grace %s + fleet's agent TTL %s + engine interval %s + agent interval %s + "+
			"unit start %s + nginx retry %s): %v",
			loss.command, lost, route.Unit, route.Path, bound.Round(time.Millisecond), loss.grace, fleetAgentTTL,
			fleetEngineInterval, fleetAgentInterval, unitStart.Round(time.Millisecond), nginxRetry, err)
	}
	moved := s.waitMoved(t, route.Unit, lost)
	t.Logf("docker %s of %s, which ran %s, took %s. Route %s responded again %s after the command began "+
		"and %s after it returned (bound %s), and fleet now runs the unit on %s.",
		loss.command, lost, route.Unit, commandTook.Round(time.Millisecond), route.Path,
		recovered.Round(time.Millisecond), (recovered - commandTook).Round(time.Millisecond),
		bound.Round(time.Millisecond), moved)
	return lost, id
}

// unitStart returns the time allowed for a moved web unit to start: the longest create
// step of the units behind the routes in the fresh up, and at least minUnitStart. A
// create step includes fleetctl's submission and its polling once a second, so it is
// longer than the start itself, and the fresh up ran while four nodes were booting.
func (s *session) unitStart() time.Duration {
	longest := minUnitStart
	for _, route := range render.Routes {
		longest = max(longest, s.fresh.find(route.Unit).duration())
	}
	return longest
}

// pickMovable returns a route whose unit fleet runs on a single machine other than
// nginxMachine and may run elsewhere, with that machine. The app route comes first.
func pickMovable(plan components.Plan, rows []unitRow, nginxMachine string) (render.Route, string, bool) {
	candidates := map[string][]string{}
	for _, result := range plan.Placement {
		candidates[result.Unit] = result.Candidates
	}
	for _, route := range render.Routes {
		var machines []string
		for _, row := range rows {
			if row.unit == route.Unit && row.active == "active" {
				machines = append(machines, row.machine)
			}
		}
		if len(machines) == 1 && machines[0] != nginxMachine && len(candidates[route.Unit]) > 1 {
			return route, machines[0], true
		}
	}
	return render.Route{}, "", false
}

// waitRoute sends GET path until the stand-in of role responds, and returns the time
// since start when it did.
func (s *session) waitRoute(nginx, path, role string, start time.Time, bound time.Duration) (time.Duration, error) {
	var last error
	for time.Since(start) < bound {
		r, err := s.get(nginx, path)
		switch {
		case err != nil:
			last = err
		case r.body.Role != role:
			last = fmt.Errorf("route %s reached %q, want %q", path, r.body.Role, role)
		default:
			return time.Since(start), nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return 0, fmt.Errorf("the last attempt failed: %v", last)
}

// waitMoved waits until fleet reports the unit active on a machine other than lost,
// and returns that machine.
func (s *session) waitMoved(t *testing.T, unit, lost string) string {
	t.Helper()
	start := time.Now()
	var rows []unitRow
	var err error
	// A row names a machine that left the cluster by its ID alone, not by one of the
	// farm's machine names.
	names := machineNames(s.cfg)
	for time.Since(start) < moveLimit {
		rows, err = s.unitRows()
		if err == nil {
			for _, row := range rows {
				if row.unit == unit && row.active == "active" && row.machine != lost && slices.Contains(names, row.machine) {
					return row.machine
				}
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("fleet did not report %s active on a machine other than %s within %s (error: %v); it reports:\n%v",
		unit, lost, moveLimit, err, rows)
	return ""
}

// testDestroy removes a machine's container by hand and checks that destroy still
// completes and leaves nothing behind.
func (s *session) testDestroy(t *testing.T) {
	// The machine removed is the last one besides the nginx machine: core-03 in the
	// local stack.
	nginxName := s.nginxMachine(t)
	victim := ""
	for _, m := range s.cfg.Machines {
		if m.Name != nginxName {
			victim = m.Name
		}
	}
	if victim == "" {
		t.Fatalf("the %s stack has no machine besides %s to remove", stackName, nginxName)
	}
	// --volumes removes the node's /var/lib/docker volume too, as local/README.md recommends.
	if out, err := s.docker(time.Minute, "rm", "--force", "--volumes", container(victim)); err != nil {
		t.Fatalf("docker rm %s failed: %v\n%s", container(victim), err, out)
	}

	o := s.run(t, opDestroy, destroyLimit)
	t.Logf("The slowest steps of destroy:\n%s", slowest(o, 5))
	for _, u := range s.plan(t).Units {
		st := wantDeleted(t, o, u.Name)
		// fleetctl prints "Destroyed <unit>" once fleet has removed the unit.
		if st != nil && !strings.Contains(st.messages(), "Destroyed "+u.Name) {
			t.Errorf("destroy deleted %s without fleet reporting it destroyed; the command printed:\n%s", u.Name, st.messages())
		}
	}
	for _, m := range append([]string{s.cfg.DB.Name}, machineNames(s.cfg)...) {
		wantDeleted(t, o, m+"-vagrant")
	}
	for _, left := range s.leftovers(t) {
		t.Errorf("left after destroy: %s", left)
	}
	dataFiles, err := filepath.Glob(filepath.Join(s.dir, ".farm", stackName, "machines", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dataFiles) > 0 {
		t.Errorf("destroy left machine data files in the Vagrant project: %v", dataFiles)
	}
}

// wantDeleted checks that destroy deleted the named resource, and returns its step, or
// nil when it did not.
func wantDeleted(t *testing.T, o outcome, name string) *step {
	t.Helper()
	st := o.find(name)
	if st == nil {
		t.Errorf("destroy reported no step for %s", name)
		return nil
	}
	if st.op != string(apitype.OpDelete) {
		t.Errorf("destroy must delete %s, got %s", name, st)
		return nil
	}
	if !st.done {
		t.Errorf("destroy did not finish deleting %s", name)
		return nil
	}
	return st
}

// machineNames returns the names of the cluster machines.
func machineNames(cfg *model.Config) []string {
	var names []string
	for _, m := range cfg.Machines {
		names = append(names, m.Name)
	}
	return names
}

// unitRoles maps each unit to the STF subcommand its ExecStart runs, which is the role
// its stand-in reports.
func unitRoles(t *testing.T, plan components.Plan) map[string]string {
	t.Helper()
	roles := map[string]string{}
	for _, u := range plan.Units {
		if m := stfCommand.FindStringSubmatch(u.Text); m != nil {
			roles[u.Name] = m[1]
		}
	}
	for _, route := range render.Routes {
		if roles[route.Unit] == "" {
			t.Fatalf("the unit %s behind route %s runs no stf subcommand that the test can recognize", route.Unit, route.Path)
		}
	}
	return roles
}

// sameSet reports whether a and b contain the same names, in any order.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
