package tests

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components/fleet"
	"stf-farm/components/placement"
)

// etcdServer is a real etcd 3.4 with the v2 API that fleet uses, on loopback.
type etcdServer struct {
	URL string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startEtcd(t *testing.T) *etcdServer {
	t.Helper()
	bin := requireTool(t, "etcd", "etcd-server")
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin,
		"--enable-v2=true",
		"--name", "test",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer,
	)
	logFile, err := os.Create(filepath.Join(dir, "etcd.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(client + "/v2/keys/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &etcdServer{URL: client}
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
			require.FailNow(t, "etcd did not become ready within 15 s", "log:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type etcdNode struct {
	Key   string     `json:"key"`
	Value string     `json:"value"`
	Dir   bool       `json:"dir"`
	Nodes []etcdNode `json:"nodes"`
}

func (e *etcdServer) get(key string) (etcdNode, bool, error) {
	resp, err := http.Get(e.URL + "/v2/keys" + key + "?recursive=true")
	if err != nil {
		return etcdNode{}, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return etcdNode{}, false, nil
	}
	var body struct {
		Node etcdNode `json:"node"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	return body.Node, true, err
}

func (e *etcdServer) put(key, value string) error {
	req, err := http.NewRequest(http.MethodPut, e.URL+"/v2/keys"+key,
		strings.NewReader(url.Values{"value": {value}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("PUT %s: %s", key, resp.Status)
	}
	return nil
}

func (e *etcdServer) delete(key string) error {
	req, err := http.NewRequest(http.MethodDelete, e.URL+"/v2/keys"+key+"?recursive=true", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// fleetAgents is a stand-in for the fleetd agents of a cluster, since fleetd needs
// systemd as PID 1. It writes what fleetd v1.0.0 writes to etcd: each machine's state
// under machines/<id>/object, and for each launched unit a unit state under
// states/<unit>/<machine id>. It puts a unit on its first candidate machine (every
// candidate for a global unit), using the farm's own placement rules.
type fleetAgents struct {
	etcd     *etcdServer
	machines []placement.Machine
	ids      map[string]string
	stuck    map[string]bool

	stop chan struct{}
	done sync.WaitGroup
}

const fleetPrefix = "/_coreos.com/fleet"

func startFleetAgents(t *testing.T, etcd *etcdServer, addresses map[string]string,
	machines []placement.Machine, stuck ...string) *fleetAgents {
	t.Helper()
	a := &fleetAgents{etcd: etcd, machines: machines, ids: map[string]string{}, stuck: map[string]bool{},
		stop: make(chan struct{})}
	for _, name := range stuck {
		a.stuck[name] = true
	}
	for i, m := range machines {
		id := fmt.Sprintf("%032x", i+1)
		a.ids[m.Name] = id
		state, err := json.Marshal(map[string]any{
			"ID": id, "PublicIP": addresses[m.Name], "Metadata": m.Metadata,
			"Capabilities": map[string]bool{}, "Version": "1.0.0",
		})
		require.NoError(t, err)
		require.NoError(t, etcd.put(fleetPrefix+"/machines/"+id+"/object", string(state)))
	}

	a.done.Add(1)
	go func() {
		defer a.done.Done()
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-ticker.C:
				if err := a.reconcile(); err != nil {
					t.Logf("fleet agent stand-in: %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(a.stop)
		a.done.Wait()
	})
	return a
}

func (a *fleetAgents) reconcile() error {
	jobs, ok, err := a.etcd.get(fleetPrefix + "/job")
	if err != nil || !ok {
		return err
	}
	for _, job := range jobs.Nodes {
		name := filepath.Base(job.Key)
		var target, object string
		for _, n := range job.Nodes {
			switch filepath.Base(n.Key) {
			case "target-state":
				target = n.Value
			case "object":
				object = n.Value
			}
		}
		if target != "launched" || a.stuck[name] {
			continue
		}
		if _, ok, err := a.etcd.get(fleetPrefix + "/states/" + name); err != nil || ok {
			continue
		}
		if err := a.launch(name, object); err != nil {
			return err
		}
	}
	return nil
}

func (a *fleetAgents) launch(name, object string) error {
	var job struct {
		UnitHash []byte
	}
	if err := json.Unmarshal([]byte(object), &job); err != nil {
		return err
	}
	hash := hex.EncodeToString(job.UnitHash)
	unitNode, ok, err := a.etcd.get(fleetPrefix + "/unit/" + hash)
	if err != nil || !ok {
		return fmt.Errorf("unit file %s of %s: %v", hash, name, err)
	}
	var unitFile struct{ Raw string }
	if err := json.Unmarshal([]byte(unitNode.Value), &unitFile); err != nil {
		return err
	}
	results, err := placement.Evaluate([]placement.Unit{{Name: name, Text: unitFile.Raw}}, a.machines)
	if err != nil {
		return err
	}
	targets := results[0].Candidates
	if !results[0].Global {
		targets = targets[:1]
	}
	for _, machine := range targets {
		state, err := json.Marshal(map[string]any{
			"loadState": "loaded", "activeState": "active", "subState": "running",
			"machineState": map[string]string{"ID": a.ids[machine]}, "unitHash": hash,
		})
		if err != nil {
			return err
		}
		if err := a.etcd.put(fleetPrefix+"/states/"+name+"/"+a.ids[machine], string(state)); err != nil {
			return err
		}
	}
	return nil
}

// unitFileText returns the unit file fleet stores for a unit.
func (e *etcdServer) unitFileText(t *testing.T, name string) (string, bool) {
	t.Helper()
	node, ok, err := e.get(fleetPrefix + "/job/" + name + "/object")
	require.NoError(t, err)
	if !ok {
		return "", false
	}
	var job struct{ UnitHash []byte }
	require.NoError(t, json.Unmarshal([]byte(node.Value), &job))
	unitNode, ok, err := e.get(fleetPrefix + "/unit/" + hex.EncodeToString(job.UnitHash))
	require.NoError(t, err)
	require.True(t, ok)
	var unitFile struct{ Raw string }
	require.NoError(t, json.Unmarshal([]byte(unitNode.Value), &unitFile))
	return unitFile.Raw, true
}

// fleetFixture is the dev stack's unit commands against a real etcd and fleetctl.
type fleetFixture struct {
	mocks     *farmMocks
	etcd      *etcdServer
	overrides map[string]string
	names     map[string]string
}

func newFleetFixture(t *testing.T, stuck ...string) *fleetFixture {
	t.Helper()
	fleetctl := toolPath(t, "fleetctl")
	cfg := devConfig(t)
	mocks := &farmMocks{Reported: reportedShift(t, cfg)}
	require.NoError(t, runProgram(t, stackConfig(t, "dev"), mocks))

	etcd := startEtcd(t)
	var machines []placement.Machine
	names := map[string]string{}
	for _, m := range cfg.Machines {
		metadata := map[string]string{}
		for _, kv := range m.FleetMetadata() {
			metadata[kv[0]] = kv[1]
		}
		machines = append(machines, placement.Machine{Name: m.Name, Metadata: metadata})
		names[mocks.Reported[m.Name]] = m.Name
	}
	startFleetAgents(t, etcd, mocks.Reported, machines, stuck...)

	return &fleetFixture{
		mocks: mocks,
		etcd:  etcd,
		names: names,
		overrides: map[string]string{
			"FARM_FLEET_ENDPOINT": etcd.URL,
			"FARM_UNIT_TIMEOUT":   "20",
			"PATH":                filepath.Dir(fleetctl) + string(os.PathListSeparator) + os.Getenv("PATH"),
		},
	}
}

func (f *fleetFixture) run(t *testing.T, unit, operation string, extra map[string]string) commandRun {
	t.Helper()
	overrides := map[string]string{}
	for k, v := range f.overrides {
		overrides[k] = v
	}
	for k, v := range extra {
		overrides[k] = v
	}
	return runRegisteredCommand(t, f.mocks.byName(t, unit), operation, overrides, time.Minute)
}

func TestFleetctlNeedsEtcdDriver(t *testing.T) {
	f := newFleetFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, toolPath(t, "fleetctl"), "--endpoint="+f.etcd.URL, "list-units").CombinedOutput()
	require.Error(t, err, "fleetctl without --driver=etcd was expected to fail against etcd's client port")
	assert.Contains(t, string(out), "404")

	run := f.run(t, "stf-reaper.service", "create", nil)
	require.NoError(t, run.Err, "stderr:\n%s", run.Stderr)
}

func TestUnitCreateSubmitsAndReportsPlacement(t *testing.T) {
	f := newFleetFixture(t)
	r := f.mocks.byName(t, "stf-triproxy-app.service")
	run := f.run(t, r.Name, "create", nil)
	require.NoError(t, run.Err, "stderr:\n%s", run.Stderr)

	stored, ok := f.etcd.unitFileText(t, r.Name)
	require.True(t, ok, "fleet has no unit %s", r.Name)
	assert.Equal(t, r.Env["FARM_UNIT_TEXT"], stored, "fleet stores another unit file than the rendered one")
	assert.Equal(t, []string{"core-02"}, fleet.ParsePlacement(run.Stdout, f.names))
}

func TestGlobalUnitActiveOnEveryMachine(t *testing.T) {
	f := newFleetFixture(t)
	run := f.run(t, "adbd.service", "create", nil)
	require.NoError(t, run.Err, "stderr:\n%s", run.Stderr)
	assert.Equal(t, []string{"core-01", "core-02", "core-03"}, fleet.ParsePlacement(run.Stdout, f.names))
}

func TestUnitCreateReplacesOlderVersion(t *testing.T) {
	f := newFleetFixture(t)
	name := "stf-reaper.service"
	old := f.run(t, name, "create", map[string]string{
		"FARM_UNIT_TEXT": "[Unit]\nDescription=an older reaper\n\n[Service]\nExecStart=/bin/true\n",
	})
	require.NoError(t, old.Err, "stderr:\n%s", old.Stderr)

	run := f.run(t, name, "create", nil)
	require.NoError(t, run.Err, "stderr:\n%s", run.Stderr)
	stored, ok := f.etcd.unitFileText(t, name)
	require.True(t, ok)
	assert.Equal(t, f.mocks.byName(t, name).Env["FARM_UNIT_TEXT"], stored,
		"create must destroy the older unit so the new file is submitted")
}

func TestUnitUpdateKeepsUnit(t *testing.T) {
	f := newFleetFixture(t)
	name := "stf-reaper.service"
	require.NoError(t, f.run(t, name, "create", nil).Err)
	before, _, err := f.etcd.get(fleetPrefix + "/states/" + name)
	require.NoError(t, err)

	run := f.run(t, name, "update", nil)
	require.NoError(t, run.Err, "stderr:\n%s", run.Stderr)
	after, _, err := f.etcd.get(fleetPrefix + "/states/" + name)
	require.NoError(t, err)
	assert.Equal(t, before, after, "update must not restart a unit whose file did not change")
	assert.Equal(t, []string{"core-01"}, fleet.ParsePlacement(run.Stdout, f.names))
}

func TestUnitCreateTimesOut(t *testing.T) {
	f := newFleetFixture(t, "stf-migrate.service")
	run := f.run(t, "stf-migrate.service", "create", map[string]string{"FARM_UNIT_TIMEOUT": "2"})
	require.Error(t, run.Err)
	assert.Contains(t, run.Stderr, "Unit stf-migrate.service was not active on 1 machine(s) within 2 s")
}

func TestUnitDeleteDestroysUnit(t *testing.T) {
	f := newFleetFixture(t)
	name := "stf-app@3100.service"
	require.NoError(t, f.run(t, name, "create", nil).Err)

	run := f.run(t, name, "delete", nil)
	require.NoError(t, run.Err, "stderr:\n%s", run.Stderr)
	_, ok := f.etcd.unitFileText(t, name)
	assert.False(t, ok, "the unit is still in fleet after delete")
}

func TestUnitDeleteToleratesGoneCluster(t *testing.T) {
	f := newFleetFixture(t)
	closed := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	run := f.run(t, "stf-app@3100.service", "delete", map[string]string{"FARM_FLEET_ENDPOINT": closed})
	require.NoError(t, run.Err, "stderr:\n%s", run.Stderr)
	assert.Contains(t, run.Stderr, "does not answer")
}
