package local

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testNetwork = "stf-farm-test-local"
	testSubnet  = "10.231.99.0/24"
	nodeImage   = "stf-farm/node:local"
)

// Bounds of every wait of the cluster test.
const (
	bootLimit     = 60 * time.Second
	etcdLimit     = 90 * time.Second
	fleetLimit    = 60 * time.Second
	unitLimit     = 60 * time.Second
	responseLimit = 120 * time.Second
)

type testNode struct {
	name     string
	address  string
	metadata string
}

var testNodes = []testNode{
	{name: "core-01", address: "10.231.99.11", metadata: "role=nginx,index=1"},
	{name: "core-02", address: "10.231.99.12", metadata: "role=appside,index=2"},
	{name: "core-03", address: "10.231.99.13", metadata: "role=devside,index=3"},
}

func (n testNode) container() string { return "stf-farm-test-" + n.name }

func (n testNode) etcdEndpoint() string { return "http://" + n.address + ":2379" }

// nodeEnvironment returns the settings a node gets as container variables: a static
// three-member etcd cluster and the node's fleet metadata, as the farm's cloud-config
// gives them on CoreOS.
func nodeEnvironment(n testNode, authorizedKey string) []string {
	members := []string{}
	for _, other := range testNodes {
		members = append(members, other.name+"=http://"+other.address+":2380")
	}
	return []string{
		"ETCD_NAME=" + n.name,
		"ETCD_INITIAL_CLUSTER=" + strings.Join(members, ","),
		"ETCD_INITIAL_CLUSTER_TOKEN=stf-farm-test",
		"ETCD_INITIAL_CLUSTER_STATE=new",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://" + n.address + ":2380",
		"ETCD_ADVERTISE_CLIENT_URLS=http://" + n.address + ":2379",
		"ETCD_LISTEN_PEER_URLS=http://" + n.address + ":2380",
		"ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379",
		"FLEET_PUBLIC_IP=" + n.address,
		"FLEET_METADATA=" + n.metadata,
		"FARM_SSH_AUTHORIZED_KEYS=" + authorizedKey,
	}
}

// nodeRunArgs are the `docker run` arguments of a node: the reference for the docker
// provider's Vagrantfile (see local/README.md).
func nodeRunArgs(n testNode, imagesDir, authorizedKey string) []string {
	args := []string{"run", "--detach",
		"--name", n.container(), "--label", testLabel,
		"--privileged", "--cgroupns=private",
		"--tmpfs", "/run", "--tmpfs", "/run/lock",
		"--stop-signal", "SIGRTMIN+3",
		"--dns", "127.0.0.1",
		"--network", testNetwork, "--ip", n.address, "--hostname", n.name,
		"--volume", imagesDir + ":/var/lib/stf-farm/images:ro",
	}
	for _, variable := range nodeEnvironment(n, authorizedKey) {
		args = append(args, "--env", variable)
	}
	return append(args, nodeImage, "/sbin/init")
}

// removeTestResources removes the test's containers (with their volumes) and network,
// including those a killed earlier run left behind.
func removeTestResources(p *platformState) error {
	out, err := p.docker(30*time.Second, "ps", "--all", "--quiet", "--filter", "label="+testLabel)
	if err != nil {
		return fmt.Errorf("docker ps failed: %v\n%s", err, out)
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		args := append([]string{"rm", "--force", "--volumes"}, ids...)
		if out, err := p.docker(2*time.Minute, args...); err != nil {
			return fmt.Errorf("docker rm failed: %v\n%s", err, out)
		}
	}
	if _, err := p.docker(30*time.Second, "network", "inspect", testNetwork); err == nil {
		if out, err := p.docker(30*time.Second, "network", "rm", testNetwork); err != nil {
			return fmt.Errorf("docker network rm failed: %v\n%s", err, out)
		}
	}
	return nil
}

// checkNothingLeft fails the test when a container, one of the nodes' volumes or the
// network survived the cleanup.
func checkNothingLeft(t *testing.T, p *platformState, volumes []string) {
	containers, err := p.docker(30*time.Second, "ps", "--all", "--quiet", "--filter", "label="+testLabel)
	if err != nil || strings.TrimSpace(containers) != "" {
		t.Errorf("containers left after cleanup: %q (%v)", containers, err)
	}
	networks, err := p.docker(30*time.Second, "network", "ls", "--quiet", "--filter", "name=^"+testNetwork+"$")
	if err != nil || strings.TrimSpace(networks) != "" {
		t.Errorf("network %s left after cleanup: %q (%v)", testNetwork, networks, err)
	}
	for _, volume := range volumes {
		if _, err := p.docker(30*time.Second, "volume", "inspect", volume); err == nil {
			t.Errorf("volume %s left after cleanup", volume)
		}
	}
}

// logJournals prints each node's containers and the journal of the units under test,
// for a failed test.
func logJournals(t *testing.T, p *platformState) {
	for _, n := range testNodes {
		containers, _ := p.docker(30*time.Second, "exec", n.container(), "docker", "ps", "--all")
		journal, _ := p.docker(30*time.Second, "exec", n.container(), "journalctl", "--no-pager",
			"--lines=150", "--unit=stf-farm-*", "--unit=fleet.service", "--unit=etcd.service", "--unit=docker.service")
		t.Logf("containers of %s:\n%s\njournal of %s:\n%s", n.name, containers, n.name, journal)
	}
}

func newSSHKey(t *testing.T) (string, string) {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := command(30*time.Second, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stf-farm-test", "-f", key); err != nil {
		t.Fatalf("ssh-keygen failed: %v\n%s", err, out)
	}
	public, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, strings.TrimSpace(string(public))
}

func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s returned %s: %s", url, resp.Status, body)
	}
	return strings.TrimSpace(string(body)), nil
}

// unitRow is one row of `fleetctl list-units`.
type unitRow struct {
	unit, machine, active, sub string
}

func (p *platformState) unitRows(endpoint string) ([]unitRow, error) {
	out, err := p.fleet(30*time.Second, endpoint, "list-units", "--no-legend", "--full", "--fields=unit,machine,active,sub")
	if err != nil {
		return nil, fmt.Errorf("fleetctl list-units failed: %v\n%s", err, out)
	}
	rows := []unitRow{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 4 {
			rows = append(rows, unitRow{fields[0], fields[1], fields[2], fields[3]})
		}
	}
	return rows, nil
}

// waitUnitActive waits until fleet reports the unit active on the machine with the
// given address, and returns how long that took.
func (p *platformState) waitUnitActive(t *testing.T, endpoint, unit, address string) time.Duration {
	t.Helper()
	took, err := waitFor(unitLimit, func() error {
		rows, err := p.unitRows(endpoint)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if row.unit != unit {
				continue
			}
			if !strings.HasSuffix(row.machine, "/"+address) {
				return fmt.Errorf("fleet placed %s on %s, want the machine at %s", unit, row.machine, address)
			}
			if row.active != "active" {
				return fmt.Errorf("%s is %s/%s on %s", unit, row.active, row.sub, row.machine)
			}
			return nil
		}
		return fmt.Errorf("fleet lists no row for %s: %v", unit, rows)
	})
	if err != nil {
		t.Fatalf("unit %s: %v", unit, err)
	}
	return took
}

// startUnit writes a unit file and submits and starts it with fleetctl.
func (p *platformState) startUnit(t *testing.T, endpoint, name, text string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := p.fleet(time.Minute, endpoint, "start", "--no-block", path); err != nil {
		t.Fatalf("fleetctl start %s failed: %v\n%s", name, err, out)
	}
}

// containerUnit returns a unit file in the style of the farm's units: it runs a
// container of the test server named after the unit, pinned by fleet metadata. With a
// dependency, the unit starts after that unit's container has an address on docker0.
// NOTE: without that wait, the linking container sometimes started with no /etc/hosts
// entry for the link (2 of 7 runs with Docker 20.10), most likely because the linked
// container had no address yet: systemd reports a `docker run` unit started at once.
func containerUnit(description, metadata, dependency, runArgs string) string {
	dependencies := "After=docker.service\nRequires=docker.service\n"
	wait := ""
	if dependency != "" {
		dependencies = "After=docker.service " + dependency + "\nRequires=docker.service " + dependency + "\n"
		container := strings.TrimSuffix(dependency, ".service")
		wait = "ExecStartPre=/bin/sh -c 'for i in $$(seq 120); do " +
			"[ -n \"$$(/usr/bin/docker inspect -f {{.NetworkSettings.IPAddress}} " + container + " 2>/dev/null)\" ] && exit 0; " +
			"sleep 0.5; done; echo " + container + " has no address; exit 1'\n"
	}
	return "[Unit]\nDescription=" + description + "\n" + dependencies + `
[Service]
Restart=always
RestartSec=1
ExecStartPre=-/usr/bin/docker rm -f %p
` + wait + `ExecStart=/usr/bin/docker run --rm --name %p ` + runArgs + `
ExecStop=-/usr/bin/docker stop -t 2 %p
ExecStopPost=-/usr/bin/docker rm -f %p

[X-Fleet]
MachineMetadata=` + metadata + "\n"
}

func TestNodeCluster(t *testing.T) {
	p := platform(t)
	key, publicKey := newSSHKey(t)

	if err := removeTestResources(p); err != nil {
		t.Fatalf("removing an earlier run's containers failed: %v", err)
	}
	// Cleanups run last-in first-out: the check for leftovers runs after the removal.
	var volumes []string
	t.Cleanup(func() { checkNothingLeft(t, p, volumes) })
	t.Cleanup(func() {
		if t.Failed() {
			logJournals(t, p)
		}
		if err := removeTestResources(p); err != nil {
			t.Errorf("cleanup failed: %v", err)
		}
	})

	if out, err := p.docker(30*time.Second, "network", "create", "--driver", "bridge",
		"--subnet", testSubnet, "--label", "stf-farm", "--label", testLabel, testNetwork); err != nil {
		t.Fatalf("docker network create failed: %v\n%s", err, out)
	}

	bootStart := time.Now()
	for _, n := range testNodes {
		if out, err := p.docker(time.Minute, nodeRunArgs(n, p.imagesDir, publicKey)...); err != nil {
			t.Fatalf("docker run of %s failed: %v\n%s", n.name, err, out)
		}
		out, err := p.docker(30*time.Second, "inspect", "--format",
			`{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`, n.container())
		if err != nil {
			t.Fatalf("docker inspect of %s failed: %v\n%s", n.name, err, out)
		}
		volumes = append(volumes, strings.Fields(out)...)
	}
	for _, n := range testNodes {
		state := ""
		_, err := waitFor(bootLimit, func() error {
			out, _ := p.docker(10*time.Second, "exec", n.container(), "systemctl", "is-system-running")
			state = strings.TrimSpace(out)
			if state == "running" || state == "degraded" {
				return nil
			}
			return fmt.Errorf("systemd state %q", state)
		})
		if err != nil {
			t.Fatalf("%s did not boot: %v", n.name, err)
		}
		if state != "running" {
			failed, _ := p.docker(10*time.Second, "exec", n.container(), "systemctl", "--failed", "--no-legend")
			t.Errorf("%s booted %s; failed units:\n%s", n.name, state, failed)
		}
	}
	t.Logf("three nodes reached systemd's running state %s after the first docker run", time.Since(bootStart).Round(time.Millisecond))

	t.Run("etcd healthy", func(t *testing.T) {
		for _, n := range testNodes {
			_, err := waitFor(etcdLimit, func() error {
				body, err := httpGet(n.etcdEndpoint() + "/health")
				if err != nil {
					return err
				}
				if !strings.Contains(body, `"health":"true"`) {
					return fmt.Errorf("etcd health is %s", body)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("etcd on %s: %v", n.name, err)
			}
			t.Logf("etcd on %s healthy %s after the first docker run", n.name, time.Since(bootStart).Round(time.Millisecond))
		}
		out, err := p.docker(30*time.Second, "exec", testNodes[0].container(), "etcdctl", "member", "list")
		if err != nil {
			t.Fatalf("etcdctl member list failed: %v\n%s", err, out)
		}
		if got := len(strings.Split(strings.TrimSpace(out), "\n")); got != 3 {
			t.Errorf("etcd has %d members, want 3:\n%s", got, out)
		}
	})

	endpoint := testNodes[0].etcdEndpoint()
	t.Run("fleet machines", func(t *testing.T) {
		var lines []string
		took, err := waitFor(fleetLimit, func() error {
			out, err := p.fleet(30*time.Second, endpoint, "list-machines", "--full", "--no-legend", "--fields=machine,ip,metadata")
			if err != nil {
				return fmt.Errorf("fleetctl list-machines failed: %v\n%s", err, out)
			}
			lines = strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != len(testNodes) {
				return fmt.Errorf("fleet lists %d machines: %q", len(lines), out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("fleet listed %d machines after %s more", len(lines), took.Round(time.Millisecond))
		byAddress := map[string]string{}
		for _, line := range lines {
			fields := strings.Fields(line)
			if len(fields) != 3 {
				t.Fatalf("unexpected list-machines row %q", line)
			}
			byAddress[fields[1]] = fields[2]
		}
		for _, n := range testNodes {
			// fleet prints the metadata pairs sorted by key.
			if got := byAddress[n.address]; sortedPairs(got) != sortedPairs(n.metadata) {
				t.Errorf("machine %s has metadata %q, want %q", n.address, got, n.metadata)
			}
		}
	})

	t.Run("ssh and fleet socket", func(t *testing.T) {
		// fleetctl inside a node uses its default driver, the API on /var/run/fleet.sock.
		out, err := command(time.Minute, "ssh", "-i", key,
			"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"root@"+testNodes[0].address, "fleetctl list-machines --no-legend")
		if err != nil {
			t.Fatalf("ssh root@%s failed: %v\n%s", testNodes[0].address, err, out)
		}
		if got := len(strings.Split(strings.TrimSpace(out), "\n")); got != 3 {
			t.Errorf("fleetctl on %s lists %d machines, want 3:\n%s", testNodes[0].name, got, out)
		}
	})

	t.Run("unit pinned by metadata", func(t *testing.T) {
		unit := "stf-farm-test-pinned.service"
		p.startUnit(t, endpoint, unit, "[Unit]\nDescription=Pinned test unit\n\n[Service]\nExecStart=/bin/sleep infinity\n\n[X-Fleet]\nMachineMetadata=index=2\n")
		took := p.waitUnitActive(t, endpoint, unit, testNodes[1].address)
		t.Logf("%s active on %s after %s", unit, testNodes[1].name, took.Round(time.Millisecond))
		out, err := p.docker(30*time.Second, "exec", testNodes[1].container(), "systemctl", "is-active", unit)
		if err != nil || strings.TrimSpace(out) != "active" {
			t.Errorf("systemd on %s reports %s as %q (%v)", testNodes[1].name, unit, out, err)
		}
	})

	t.Run("containers from loaded image", func(t *testing.T) {
		for _, n := range testNodes {
			if out, err := p.docker(30*time.Second, "exec", n.container(), "docker", "image", "inspect", "--format", "{{.Id}}", helloImage); err != nil {
				t.Fatalf("%s did not load %s at boot: %v\n%s", n.name, helloImage, err, out)
			}
		}
		// The response travels host -> -p 3100 on core-02 -> front -> --link -> back
		// (core-02's docker0) -> core-03's address, leaving core-02 through the node's
		// NAT -> edge (--net host on core-03): the three ways the farm's units run
		// containers.
		edge, front, back := testNodes[2], testNodes[1], testNodes[1]
		start := time.Now()
		p.startUnit(t, endpoint, "stf-farm-test-edge.service", containerUnit("Test server on the host network",
			"index=3", "", "--net host "+helloImage+" -listen :3200 -name edge"))
		p.startUnit(t, endpoint, "stf-farm-test-back.service", containerUnit("Test server behind a link",
			"index=2", "", helloImage+" -name back -upstream http://"+edge.address+":3200/"))
		p.startUnit(t, endpoint, "stf-farm-test-front.service", containerUnit("Test server with a published port",
			"index=2", "stf-farm-test-back.service",
			"--link stf-farm-test-back:upstream -p 3100:3000 "+helloImage+" -name front -upstream http://upstream:3000/"))
		p.waitUnitActive(t, endpoint, "stf-farm-test-edge.service", edge.address)
		p.waitUnitActive(t, endpoint, "stf-farm-test-back.service", back.address)
		p.waitUnitActive(t, endpoint, "stf-farm-test-front.service", front.address)

		url := "http://" + front.address + ":3100/"
		body := ""
		_, err := waitFor(responseLimit, func() error {
			var err error
			body, err = httpGet(url)
			return err
		})
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		if want := "front < back < edge"; body != want {
			t.Errorf("GET %s = %q, want %q", url, body, want)
		}
		t.Logf("GET %s returned %q %s after the units were submitted", url, body, time.Since(start).Round(time.Millisecond))
	})

	for _, n := range testNodes {
		// docker stats samples twice, about two seconds per call.
		out, err := p.docker(30*time.Second, "stats", "--no-stream", "--format", "{{.MemUsage}}", n.container())
		if err == nil {
			t.Logf("%s memory with its units running: %s", n.name, strings.TrimSpace(out))
		}
	}
}

// sortedPairs returns comma-separated key=value pairs sorted, for comparing metadata.
func sortedPairs(metadata string) string {
	pairs := strings.Split(metadata, ",")
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}
