// Package local tests the platform of the `docker` machine provider: the Docker engine
// of local/dockerd.sh, the runtime wrapper stf-farm-runc, and the node image, whose
// containers run systemd, etcd, fleetd and their own Docker engine.
//
// The cluster test needs root, the docker.io and debootstrap packages (`make
// local-deps`) and openssh-client. It builds what is missing with `make -f
// local/local.mk image-node`, where a cold build runs debootstrap for about a minute.
// It starts the engine when it is not running and stops it again at the end. It boots
// three node containers on the network 10.231.99.0/24 of that engine.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	dockerClient = "/usr/bin/docker"
	dockerDaemon = "/usr/sbin/dockerd"

	// testLabel marks every container and network that these tests create.
	testLabel = "stf-farm.test=local"
	// helloImage is the test server's image, built in the host's engine and loaded
	// into the nodes at boot.
	helloImage = "stf-farm-test/hello:local"
)

// platformState is what every cluster test shares: the engine, fleetctl and the
// image archive of the test server.
type platformState struct {
	root        string
	dockerHost  string
	fleetctl    string
	imagesDir   string
	startedHere bool
	err         error
}

var (
	platformOnce sync.Once
	shared       platformState
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.startedHere {
		if err := stopEngine(&shared); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if shared.imagesDir != "" {
		os.RemoveAll(shared.imagesDir)
	}
	os.Exit(code)
}

// stopEngine stops the engine that the tests started, unless containers of someone
// else run in it: every command of this checkout shares the engine, a farm included.
func stopEngine(state *platformState) error {
	if state.dockerHost != "" {
		running, err := state.docker(30*time.Second, "ps", "--quiet")
		if err != nil {
			return fmt.Errorf("docker ps failed before stopping the engine: %v\n%s", err, running)
		}
		if ids := strings.Fields(running); len(ids) > 0 {
			fmt.Fprintf(os.Stderr, "The tests started the Docker engine, but %d other container(s) run in it now, so it keeps running.\n", len(ids))
			return nil
		}
	}
	stop := exec.Command(filepath.Join(state.root, "local", "dockerd.sh"), "stop")
	if out, err := stop.CombinedOutput(); err != nil {
		return fmt.Errorf("stopping the Docker engine that the tests started failed: %v\n%s", err, out)
	}
	return nil
}

// repoRoot returns the top folder of the repository.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("the test cannot find its own source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// platform prepares the engine and images once and fails the test when that failed.
func platform(t *testing.T) *platformState {
	t.Helper()
	root := repoRoot(t)
	platformOnce.Do(func() {
		shared.root = root
		shared.err = preparePlatform(t, &shared)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return &shared
}

func preparePlatform(t *testing.T, state *platformState) error {
	for _, path := range []string{dockerClient, dockerDaemon} {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("the Docker engine is not installed (%s is missing). Install it with: make local-deps (or: apt-get install -y --no-install-recommends docker.io debootstrap debian-archive-keyring)", path)
		}
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		return errors.New("ssh is not installed. Install it with: apt-get install -y openssh-client")
	}
	if os.Geteuid() != 0 {
		return errors.New("the local platform tests run a Docker engine and debootstrap, which need root; run them as root")
	}

	script := filepath.Join(state.root, "local", "dockerd.sh")
	status := exec.Command(script, "status")
	status.Stderr = nil
	wasRunning := status.Run() == nil

	// image-node builds the programs, starts the engine (dockerd.sh start) and builds
	// the images whose inputs changed, so a warm run only checks labels.
	start := time.Now()
	out, err := command(15*time.Minute, "make", "-s", "-C", state.root, "-f", "local/local.mk", "image-node")
	if !wasRunning {
		state.startedHere = true
	}
	if err != nil {
		return fmt.Errorf("make -f local/local.mk image-node failed: %v\n%s", err, out)
	}
	t.Logf("make image-node took %s:\n%s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))

	host, err := command(10*time.Second, script, "status")
	if err != nil {
		return fmt.Errorf("local/dockerd.sh status failed after make: %v\n%s", err, host)
	}
	state.dockerHost = strings.TrimSpace(firstLine(host))
	state.fleetctl = filepath.Join(state.root, "bin", "local", "fleetctl")
	return buildHelloArchive(t, state)
}

// buildHelloArchive builds the test server into a FROM scratch image in the host's
// engine and saves it where the nodes load images from at boot.
func buildHelloArchive(t *testing.T, state *platformState) error {
	buildDir, err := os.MkdirTemp("", "stf-farm-hello-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(buildDir)
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(buildDir, "hello"), "./tests/local/testdata/hello")
	build.Dir = state.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the test server failed: %v\n%s", err, out)
	}
	dockerfile := "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n"
	if err := os.WriteFile(filepath.Join(buildDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	if out, err := state.docker(2*time.Minute, "build", "--quiet", "--label", testLabel, "--tag", helloImage, buildDir); err != nil {
		return fmt.Errorf("docker build of the test server failed: %v\n%s", err, out)
	}

	state.imagesDir, err = os.MkdirTemp("", "stf-farm-images-")
	if err != nil {
		return err
	}
	// The nodes' engines read the archive through a read-only bind mount.
	if err := os.Chmod(state.imagesDir, 0o755); err != nil {
		return err
	}
	archive := filepath.Join(state.imagesDir, "hello.tar")
	if out, err := state.docker(2*time.Minute, "save", "--output", archive, helloImage); err != nil {
		return fmt.Errorf("docker save of the test server failed: %v\n%s", err, out)
	}
	if out, err := state.docker(time.Minute, "image", "rm", helloImage); err != nil {
		return fmt.Errorf("removing the test server's image from the host's engine failed: %v\n%s", err, out)
	}
	return os.Chmod(archive, 0o644)
}

// command runs a program with a time limit and returns its standard output, or its
// combined output with the error.
func command(timeout time.Duration, name string, args ...string) (string, error) {
	return commandEnv(timeout, nil, name, args...)
}

func commandEnv(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s timed out after %s", name, strings.Join(args, " "), timeout)
	}
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// docker runs the 20.10 client of the docker.io package against the test engine.
func (p *platformState) docker(timeout time.Duration, args ...string) (string, error) {
	return commandEnv(timeout, []string{"DOCKER_HOST=" + p.dockerHost, "DOCKER_BUILDKIT=0"}, dockerClient, args...)
}

// fleet runs fleetctl against the etcd of one node, as the farm's scripts do.
func (p *platformState) fleet(timeout time.Duration, endpoint string, args ...string) (string, error) {
	full := append([]string{"--driver=etcd", "--endpoint=" + endpoint, "--request-timeout=5"}, args...)
	return command(timeout, p.fleetctl, full...)
}

func firstLine(text string) string {
	line, _, _ := strings.Cut(text, "\n")
	return line
}

// waitFor calls check until it returns nil or the limit passes, and returns the last
// error with the time it took.
func waitFor(limit time.Duration, check func() error) (time.Duration, error) {
	start := time.Now()
	for {
		err := check()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return time.Since(start), fmt.Errorf("not done within %s: %w", limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
