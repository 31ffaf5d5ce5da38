package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stf-farm/components/vagrant"
)

// The program reads a docker node's state from the engine before it plans, so that up
// starts a node that was stopped outside Pulumi. This test walks a real container
// through the states the program must tell apart.
func TestProberReadsContainerStates(t *testing.T) {
	p := platform(t)
	const name = "stf-farm-test-probe"
	t.Cleanup(func() { p.docker(30*time.Second, "rm", "--force", name) })
	p.docker(30*time.Second, "rm", "--force", name)
	// sleep keeps the container running until it is stopped; systemd would need the
	// node's privileges and mounts.
	if out, err := p.docker(time.Minute, "create", "--name", name, "--label", testLabel,
		"--entrypoint", "sleep", nodeImage, "3600"); err != nil {
		t.Fatalf("docker create failed: %v\n%s", err, out)
	}
	id, err := p.docker(30*time.Second, "inspect", "--format", "{{.Id}}", name)
	if err != nil {
		t.Fatalf("docker inspect failed: %v\n%s", err, id)
	}

	// A farm folder as the boot commands leave it: Vagrant's id file and the boot record.
	project := t.TempDir()
	farm := filepath.Join(".farm", "probe")
	writeFiles(t, filepath.Join(project, farm), map[string]string{
		".vagrant/machines/core-01/docker/id": strings.TrimSpace(id),
		"machines/core-01.applied":            "starts 4\nfiles 0123\n",
	})

	find := func() vagrant.Finding {
		prober := &vagrant.Prober{ProjectDir: project, FarmDir: farm, Provider: "docker", DockerHost: p.dockerHost}
		return prober.Machine("core-01")
	}
	check := func(state string, wantStarts int, wantDown string) {
		t.Helper()
		f := find()
		if f.Warning != "" {
			t.Errorf("%s container: the prober could not read its state: %s", state, f.Warning)
		}
		if f.Starts != wantStarts || !strings.Contains(f.Down, wantDown) || (wantDown == "") != (f.Down == "") {
			t.Errorf("%s container: got starts %d, down %q; want starts %d, down containing %q",
				state, f.Starts, f.Down, wantStarts, wantDown)
		}
	}

	check("a created", 5, "its container is created")
	if out, err := p.docker(time.Minute, "start", name); err != nil {
		t.Fatalf("docker start failed: %v\n%s", err, out)
	}
	check("a running", 4, "")
	if out, err := p.docker(time.Minute, "stop", "--time", "1", name); err != nil {
		t.Fatalf("docker stop failed: %v\n%s", err, out)
	}
	check("a stopped", 5, "its container is exited")
	if out, err := p.docker(time.Minute, "rm", name); err != nil {
		t.Fatalf("docker rm failed: %v\n%s", err, out)
	}
	check("a removed", 5, "its container is gone")

	// Without a boot record the machine was never booted by a boot command, and the
	// prober runs no query.
	if err := os.Remove(filepath.Join(project, farm, "machines", "core-01.applied")); err != nil {
		t.Fatal(err)
	}
	if f := find(); f != (vagrant.Finding{}) {
		t.Errorf("a machine without a boot record: got %+v, want nothing found", f)
	}
}

// A project whose own engine is stopped, as after the host restarts, has every docker
// node down. The copy of local/dockerd.sh in a new project folder derives another
// engine from that folder, one that does not run.
func TestProberStoppedEngineMeansDown(t *testing.T) {
	p := platform(t)
	// The prober takes DOCKER_HOST from the environment before it looks for the
	// project's engine.
	t.Setenv("DOCKER_HOST", "")

	project := t.TempDir()
	script, err := os.ReadFile(filepath.Join(p.root, "local", "dockerd.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(project, "local"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "local", "dockerd.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}

	farm := filepath.Join(".farm", "probe")
	writeFiles(t, filepath.Join(project, farm), map[string]string{
		".vagrant/machines/core-02/docker/id": "0123456789ab",
		"machines/core-02.applied":            "starts 0\nfiles 0123\n",
	})

	prober := &vagrant.Prober{ProjectDir: project, FarmDir: farm, Provider: "docker"}
	f := prober.Machine("core-02")
	if f.Starts != 1 || !strings.Contains(f.Down, "Docker engine is stopped") || f.Warning != "" {
		t.Errorf("a node of a stopped engine: got %+v, want starts 1 and down because the engine is stopped", f)
	}
}

// writeFiles writes each file, named by its path inside dir, creating its folders.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, text := range files {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
