package tests

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components"
	"stf-farm/components/model"
	"stf-farm/components/placement"
	"stf-farm/components/render"
)

// These tests run the Debian build of nginx on the rendered nginx.conf. The file sets
// no paths of its own, so nginx keeps its temporary files under /var/lib/nginx and its
// access log under /var/log/nginx, the build's defaults. Those settings belong to the
// http block, where the -g option cannot change them, so the tests need the rights to
// write there, as root has. Everything else lives in a prefix folder of the test's own.

// loopbackStack is a farm whose three machines have loopback addresses, so a real nginx
// can proxy its rendered nginx.conf to stand-ins that the test starts. The docker
// provider keeps VirtualBox's host-only range rule from applying to 127.0.0.0/24.
var loopbackStack = map[string]string{
	"provider": "docker",
	"network":  "127.0.0.0/24",
	"db":       `{"name": "db", "address": "127.0.0.10"}`,
	"machines": `[
		{"name": "core-01", "address": "127.0.0.2", "index": 1, "roles": ["nginx"]},
		{"name": "core-02", "address": "127.0.0.3", "index": 2, "roles": ["appside"]},
		{"name": "core-03", "address": "127.0.0.4", "index": 3, "roles": ["devside"]}
	]`,
	"stf": `{"image": "devicefarmer/stf:3.7.9", "providers": [1, 2]}`,
}

// oneMachineStack runs every role, and the provider of its one device, on one machine.
var oneMachineStack = map[string]string{
	"provider": "virtualbox",
	"network":  "192.168.56.0/24",
	"db":       `{"name": "db", "address": "192.168.56.11"}`,
	"machines": `[
		{"name": "core-01", "address": "192.168.56.101", "index": 1,
		 "roles": ["nginx", "appside", "devside"],
		 "devices": [{"name": "Nexus 5", "vendorId": "18d1", "productId": "4ee2"}]}
	]`,
	"stf": `{"image": "devicefarmer/stf:3.7.9"}`,
}

// loadStack validates raw stack settings, keyed without the namespace, as the program
// does.
func loadStack(t testing.TB, raw map[string]string) *model.Config {
	t.Helper()
	cfg, err := model.Load(raw)
	require.NoError(t, err, "the test's stack configuration must be valid")
	return cfg
}

// twoProviderStack returns the dev stack with providers on machines 1 and 3.
func twoProviderStack(t testing.TB) map[string]string {
	t.Helper()
	raw := stackConfig(t, "dev")
	raw["stf"] = `{"image": "devicefarmer/stf:3.7.9", "providers": [1, 3]}`
	return raw
}

// configuredAddresses maps each cluster machine's name to its address in the
// configuration, which the tests use as the address the machine reports.
func configuredAddresses(cfg *model.Config) map[string]string {
	addresses := map[string]string{}
	for _, m := range cfg.Machines {
		addresses[m.Name] = m.Address
	}
	return addresses
}

// renderNginxConf plans the farm and renders its nginx.conf with the given listen value.
func renderNginxConf(t testing.TB, cfg *model.Config, listen string) (string, []placement.Result) {
	t.Helper()
	plan, err := components.PlanFarm(cfg)
	require.NoError(t, err, "planning the farm failed")
	conf, err := render.NginxConf(cfg, render.ProxyValues{
		Listen:    listen,
		Addresses: configuredAddresses(cfg),
		Placement: plan.Placement,
	})
	require.NoError(t, err, "rendering nginx.conf failed")
	return conf, plan.Placement
}

// nginxArgs returns the options that keep nginx's configuration, error log and pid file
// in prefix. global holds extra main-context directives.
func nginxArgs(prefix, global string) []string {
	return []string{
		"-c", filepath.Join(prefix, "nginx.conf"),
		"-p", prefix + string(filepath.Separator),
		"-e", filepath.Join(prefix, "error.log"),
		"-g", "pid " + filepath.Join(prefix, "nginx.pid") + ";" + global,
	}
}

// writeNginxPrefix creates a prefix folder that holds conf as nginx.conf.
func writeNginxPrefix(t testing.TB, conf string) string {
	t.Helper()
	prefix := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(prefix, "nginx.conf"), []byte(conf), 0o644))
	return prefix
}

// readErrorLog returns nginx's error log in prefix, which is also where `nginx -t` writes
// its verdict when -e names a file.
func readErrorLog(prefix string) string {
	data, err := os.ReadFile(filepath.Join(prefix, "error.log"))
	if err != nil {
		return "(no error log: " + err.Error() + ")"
	}
	return string(data)
}

func TestNginxAcceptsRenderedConf(t *testing.T) {
	nginx := requireTool(t, "nginx", "nginx")
	cases := []struct {
		name  string
		stack func(t testing.TB) map[string]string
	}{
		{"dev stack", func(t testing.TB) map[string]string { return stackConfig(t, "dev") }},
		{"one machine", func(testing.TB) map[string]string { return oneMachineStack }},
		{"two providers", twoProviderStack},
		{"loopback farm", func(testing.TB) map[string]string { return loopbackStack }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := loadStack(t, c.stack(t))
			// `nginx -t` binds the listen address, so the test renders a free loopback
			// port in place of the default port 80.
			conf, _ := renderNginxConf(t, cfg, freeLoopbackAddress(t))
			providerRoutes := strings.Count(conf, `location ~ "^/d/`)
			require.Equal(t, len(cfg.ProviderIndexes()), providerRoutes,
				"nginx.conf must have one /d/N/ location per provider %v", cfg.ProviderIndexes())

			prefix := writeNginxPrefix(t, conf)
			run := runTool(t, 30*time.Second, prefix, nil, nginx, append([]string{"-t"}, nginxArgs(prefix, "")...)...)
			t.Logf("nginx -t took %v", run.Duration)
			verdict := run.Output + readErrorLog(prefix)
			require.NoError(t, run.Err, "nginx rejected the rendered nginx.conf:\n%s\n%s", verdict, conf)
			assert.Contains(t, verdict, "test is successful", "nginx -t did not report a successful test")
			assert.NotContains(t, verdict, "[warn]", "nginx -t warned about the rendered nginx.conf")
		})
	}
}

// nginxProcess is a running nginx master process and its worker processes.
type nginxProcess struct {
	cmd    *exec.Cmd
	prefix string
	exited chan struct{}
}

// startNginx serves conf with a real nginx in the foreground and waits until it accepts
// connections on listen. The test's cleanup stops it.
func startNginx(t testing.TB, nginx, conf, listen string) *nginxProcess {
	t.Helper()
	prefix := writeNginxPrefix(t, conf)
	cmd := exec.Command(nginx, nginxArgs(prefix, " daemon off;")...)
	cmd.Dir = prefix
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// The workers join the master's process group, so cleanup can end them all.
		Setpgid: true,
		// SIGTERM makes the master stop its workers. It arrives if the test process dies
		// before cleanup, so no nginx is left holding the port.
		Pdeathsig: syscall.SIGTERM,
	}
	require.NoError(t, cmd.Start(), "starting nginx failed")

	p := &nginxProcess{cmd: cmd, prefix: prefix, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("nginx's error log:\n%s", readErrorLog(prefix))
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("nginx exited before it accepted connections on %s:\n%s\n%s", listen, output.String(), readErrorLog(prefix))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not accept connections on %s within 10 s: %v\n%s", listen, err, readErrorLog(prefix))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends the master SIGTERM, which makes nginx shut down fast, and kills the
// process group if the master has not exited after 5 s.
func (p *nginxProcess) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// freeLoopbackAddress returns 127.0.0.1:PORT with a port that was free a moment ago.
func freeLoopbackAddress(t testing.TB) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "no free port on 127.0.0.1")
	address := listener.Addr().String()
	require.NoError(t, listener.Close())
	return address
}

// loopbackFarm is the loopback stack, planned, with a real nginx in front of stand-ins
// for its services.
type loopbackFarm struct {
	cfg *model.Config
	// listen is the address nginx serves on.
	listen string
	// candidates maps each unit to the addresses of the machines fleet may run it on.
	candidates map[string][]string
	conf       string
	client     *http.Client
}

func newLoopbackFarm(t testing.TB) *loopbackFarm {
	t.Helper()
	cfg := loadStack(t, loopbackStack)
	listen := freeLoopbackAddress(t)
	conf, results := renderNginxConf(t, cfg, listen)
	addresses := configuredAddresses(cfg)
	candidates := map[string][]string{}
	for _, r := range results {
		for _, name := range r.Candidates {
			candidates[r.Unit] = append(candidates[r.Unit], addresses[name])
		}
	}
	return &loopbackFarm{
		cfg:        cfg,
		listen:     listen,
		candidates: candidates,
		conf:       conf,
		client:     loopbackClient(t, 10*time.Second),
	}
}

// routeAddresses returns every host:port that nginx may send the route's requests to.
func (f *loopbackFarm) routeAddresses(route render.Route) []string {
	var addresses []string
	for _, host := range f.candidates[route.Unit] {
		addresses = append(addresses, net.JoinHostPort(host, strconv.Itoa(route.Port)))
	}
	return addresses
}

// url returns the address of path behind nginx.
func (f *loopbackFarm) url(path string) string {
	return "http://" + f.listen + path
}

// startRouteStandIns starts, for every route, stand-ins on the candidates that pick
// selects from the route's addresses. The result maps each route's path to them.
func (f *loopbackFarm) startRouteStandIns(t testing.TB, pick func(routeIndex int, addresses []string) []string) map[string][]*standIn {
	t.Helper()
	started := map[string][]*standIn{}
	for i, route := range render.Routes {
		addresses := f.routeAddresses(route)
		require.NotEmpty(t, addresses, "the unit %s behind %s has no candidate machine", route.Unit, route.Path)
		for _, address := range pick(i, addresses) {
			started[route.Path] = append(started[route.Path], startStandIn(t, route.Unit, address))
		}
	}
	return started
}

// startProviderStandIns starts a stand-in for each provider on the machine whose index
// it has, at a free port of 5 digits, which is what the /d/N/ routes accept.
func (f *loopbackFarm) startProviderStandIns(t testing.TB) map[int]*standIn {
	t.Helper()
	started := map[int]*standIn{}
	for _, index := range f.cfg.ProviderIndexes() {
		m, ok := f.cfg.MachineWithIndex(index)
		require.True(t, ok, "no machine has the provider index %d", index)
		service := "stf-provider@" + strconv.Itoa(index) + ".service"
		// The route matches only the provider's port range, so the stand-in listens on the
		// first free port of it.
		ports := f.cfg.STF.ProviderPorts
		for port := ports.Min; port <= ports.Max && started[index] == nil; port++ {
			started[index] = tryStartStandIn(t, service, net.JoinHostPort(m.Address, strconv.Itoa(port)))
		}
		require.NotNil(t, started[index], "no free port in %d-%d on %s", ports.Min, ports.Max, m.Address)
	}
	return started
}

// routeWithPath returns the route of render.Routes whose location is path.
func routeWithPath(t testing.TB, path string) render.Route {
	t.Helper()
	for _, route := range render.Routes {
		if route.Path == path {
			return route
		}
	}
	t.Fatalf("render.Routes has no route for %s", path)
	return render.Route{}
}

func allAddresses(_ int, addresses []string) []string { return addresses }

// onlyOneAddress keeps one candidate per route, a different one for neighbouring routes.
func onlyOneAddress(routeIndex int, addresses []string) []string {
	return []string{addresses[routeIndex%len(addresses)]}
}

func portOf(t testing.TB, address string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(address)
	require.NoError(t, err)
	return port
}

func TestNginxRoutesEveryPath(t *testing.T) {
	nginx := requireTool(t, "nginx", "nginx")
	farm := newLoopbackFarm(t)
	farm.startRouteStandIns(t, allAddresses)
	providers := farm.startProviderStandIns(t)
	startNginx(t, nginx, farm.conf, farm.listen)

	type routeCase struct {
		path string
		// service is the unit whose stand-in must respond.
		service string
		// addresses are the stand-ins that may respond.
		addresses []string
		// received is the request URI the stand-in must see.
		received string
	}
	var cases []routeCase
	for _, route := range render.Routes {
		for _, path := range []string{route.Path, route.Path + "farm-test/item?id=1"} {
			cases = append(cases, routeCase{path, route.Unit, farm.routeAddresses(route), path})
		}
	}
	for _, index := range farm.cfg.ProviderIndexes() {
		provider := providers[index]
		path := "/d/" + strconv.Itoa(index) + "/serial-" + strconv.Itoa(index) + "/" + portOf(t, provider.Address()) + "/"
		cases = append(cases, routeCase{path, provider.service, []string{provider.Address()}, "/"})
	}
	app := routeWithPath(t, "/")
	notProvider := []string{
		// A port that does not have 5 digits is no provider port.
		"/d/1/serial-1/123/",
		// Neither is a 5-digit port outside the provider's range.
		"/d/1/serial-1/" + strconv.Itoa(farm.cfg.STF.ProviderPorts.Max+1) + "/",
		// Machine 3 runs no provider, so its /d/3/ path has no location of its own.
		"/d/3/serial-3/" + portOf(t, providers[1].Address()) + "/",
	}
	for _, path := range notProvider {
		cases = append(cases, routeCase{path, app.Unit, farm.routeAddresses(app), path})
	}

	for _, c := range cases {
		status, reply, err := fetch(farm.client, http.MethodGet, farm.url(c.path), nil)
		require.NoError(t, err, "GET %s through nginx failed", c.path)
		if !assert.Equal(t, http.StatusOK, status, "GET %s through nginx must reach a stand-in", c.path) {
			continue
		}
		assert.Equal(t, c.service, reply.Service, "GET %s reached the wrong service", c.path)
		assert.Contains(t, c.addresses, reply.Address, "GET %s reached a machine that is not a candidate of %s", c.path, c.service)
		assert.Equal(t, c.received, reply.Path, "GET %s arrived at %s with another path", c.path, c.service)
		assert.Equal(t, farm.listen, reply.Host, "GET %s arrived without the client's Host header", c.path)
	}

	t.Run("large upload to storage", func(t *testing.T) {
		const size = 20 << 20
		path := "/s/upload/apk"
		status, reply, err := fetch(farm.client, http.MethodPost, farm.url(path), bytes.NewReader(make([]byte, size)))
		require.NoError(t, err, "POST of %d bytes to %s failed", size, path)
		require.Equal(t, http.StatusOK, status, "nginx must accept a %d-byte upload on %s", size, path)
		assert.Equal(t, routeWithPath(t, "/s/").Unit, reply.Service, "the upload reached the wrong service")
		assert.EqualValues(t, size, reply.BodyBytes, "the storage stand-in received a different number of bytes")
	})
}

func TestNginxUpgradesWebsockets(t *testing.T) {
	nginx := requireTool(t, "nginx", "nginx")
	farm := newLoopbackFarm(t)
	farm.startRouteStandIns(t, allAddresses)
	providers := farm.startProviderStandIns(t)
	startNginx(t, nginx, farm.conf, farm.listen)

	type upgradeCase struct {
		name    string
		path    string
		service string
	}
	cases := []upgradeCase{{"websocket", "/socket.io/?EIO=4&transport=websocket", routeWithPath(t, "/socket.io/").Unit}}
	for _, index := range farm.cfg.ProviderIndexes() {
		provider := providers[index]
		path := "/d/" + strconv.Itoa(index) + "/serial-" + strconv.Itoa(index) + "/" + portOf(t, provider.Address()) + "/"
		cases = append(cases, upgradeCase{"provider " + strconv.Itoa(index), path, provider.service})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := dialUpgrade(farm.listen, c.path)
			require.NoError(t, err, "the upgrade request for %s failed", c.path)
			defer conn.Close()

			require.Equal(t, http.StatusSwitchingProtocols, conn.response.StatusCode,
				"nginx must pass the upgrade of %s through", c.path)
			assert.Equal(t, conn.expectedAccept, conn.response.Header.Get("Sec-WebSocket-Accept"),
				"nginx must pass the stand-in's Sec-WebSocket-Accept header through unchanged")

			greeting, err := conn.readLine()
			require.NoError(t, err, "no bytes arrived from the stand-in after the upgrade")
			assert.True(t, strings.HasPrefix(greeting, "hello from "+c.service+" at "),
				"the greeting %q must come from %s", greeting, c.service)

			for i := 1; i <= 3; i++ {
				message := "message " + strconv.Itoa(i)
				require.NoError(t, conn.writeLine(message), "sending through the upgraded connection failed")
				echo, err := conn.readLine()
				require.NoError(t, err, "no echo of %q arrived", message)
				assert.Equal(t, "echo from "+c.service+": "+message, echo, "the stand-in must echo what the client sent")
			}
		})
	}
}

// requestsPerRoute is how many requests each route gets while its other candidates are
// down.
const requestsPerRoute = 50

func TestNginxFailsOverToLiveCandidate(t *testing.T) {
	nginx := requireTool(t, "nginx", "nginx")
	farm := newLoopbackFarm(t)
	live := farm.startRouteStandIns(t, onlyOneAddress)
	startNginx(t, nginx, farm.conf, farm.listen)

	for _, route := range render.Routes {
		require.Greater(t, len(farm.routeAddresses(route)), 1,
			"the route %s must have several candidates for failover to be tested", route.Path)
		want := live[route.Path][0].Address()
		failed, misrouted := 0, 0
		var firstProblem error
		for i := 0; i < requestsPerRoute; i++ {
			status, reply, err := fetch(farm.client, http.MethodGet, farm.url(route.Path), nil)
			switch {
			case err != nil || status != http.StatusOK:
				failed++
				if firstProblem == nil {
					firstProblem = errors.Join(err, errors.New("status "+strconv.Itoa(status)))
				}
			case reply.Address != want:
				misrouted++
			}
		}
		assert.Zero(t, failed, "%d of %d requests to %s failed while %s was up (first failure: %v)",
			failed, requestsPerRoute, route.Path, want, firstProblem)
		assert.Zero(t, misrouted, "%d of %d requests to %s reached a machine other than the live %s",
			misrouted, requestsPerRoute, route.Path, want)
	}

	t.Run("upload with dead candidates", func(t *testing.T) {
		// nginx buffers the body, so it can send it again to the next candidate.
		const size = 1 << 20
		for i := 0; i < 5; i++ {
			status, reply, err := fetch(farm.client, http.MethodPost, farm.url("/s/upload/apk"), bytes.NewReader(make([]byte, size)))
			require.NoError(t, err, "upload %d failed", i+1)
			require.Equal(t, http.StatusOK, status, "upload %d must reach the live storage stand-in", i+1)
			assert.EqualValues(t, size, reply.BodyBytes, "upload %d arrived incomplete", i+1)
		}
	})
}

// recoveryLimit is how soon after a restart a route must respond again. nginx 1.22
// compares fail_timeout=1s with the time in whole seconds (ngx_time() in
// ngx_http_upstream_round_robin.c), so it skips a failed server for one to two seconds
// after the last failed attempt.
const recoveryLimit = 2 * time.Second

// restartDowntime is how long the test keeps the stopped backend down, as a restart
// takes some time. The test sends no request meanwhile, so nginx's last failed attempt
// comes before the downtime. With steady traffic that attempt can fall just before the
// restart, and recovery can then take up to 2 s.
const restartDowntime = 500 * time.Millisecond

func TestNginxRecoversAfterRestart(t *testing.T) {
	nginx := requireTool(t, "nginx", "nginx")
	farm := newLoopbackFarm(t)
	live := farm.startRouteStandIns(t, onlyOneAddress)
	startNginx(t, nginx, farm.conf, farm.listen)

	route := routeWithPath(t, "/api/")
	backend := live[route.Path][0]
	status, _, err := fetch(farm.client, http.MethodGet, farm.url(route.Path), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "%s must respond with 200 before its backend stops", route.Path)

	backend.Stop()
	outage := false
	for i := 0; i < 40 && !outage; i++ {
		status, _, err := fetch(farm.client, http.MethodGet, farm.url(route.Path), nil)
		outage = err == nil && status == http.StatusBadGateway
		if !outage {
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.True(t, outage, "%s must respond with 502 once its only live backend %s stops", route.Path, backend.Address())
	time.Sleep(restartDowntime)

	startStandIn(t, route.Unit, backend.Address())

	// Each nginx worker keeps its own record of failed servers, and a request may reach
	// a worker that never saw the outage. So the route counts as recovered only from the
	// first 200 after which every poll until the end of the watch succeeds.
	start := time.Now()
	watch := recoveryLimit + 500*time.Millisecond
	recovery := time.Duration(-1)
	failedPolls := 0
	for polls := 0; polls < 100 && time.Since(start) < watch; polls++ {
		status, _, err := fetch(farm.client, http.MethodGet, farm.url(route.Path), nil)
		respondedAt := time.Since(start)
		if err == nil && status == http.StatusOK {
			if recovery < 0 {
				recovery = respondedAt
			}
		} else {
			failedPolls++
			recovery = -1
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.GreaterOrEqual(t, recovery, time.Duration(0),
		"%s did not respond with 200 steadily within %v of its backend's restart", route.Path, watch)
	t.Logf("%s responded with 200 steadily %v after its backend restarted (%d polls failed after the restart)",
		route.Path, recovery.Round(time.Millisecond), failedPolls)
	assert.LessOrEqual(t, recovery, recoveryLimit,
		"%s must respond with 200 steadily within %v of its backend's restart", route.Path, recoveryLimit)
}
