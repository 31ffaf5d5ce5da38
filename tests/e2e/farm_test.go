package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"stf-farm/components/engine"
	"stf-farm/components/model"
)

// The e2e stack: the local stack moved to a network of its own, so that a farm of the
// local stack can run in the same engine at the same time.
const (
	stackName     = "e2e"
	farmNetwork   = "10.231.77.0/24"
	dockerNetwork = "stf-farm-e2e"
	// containerPrefix starts the name of every machine container of the e2e stack:
	// stf-farm-<stack>-<machine>, as components/render names them.
	containerPrefix = model.Namespace + "-" + stackName + "-"
	// sourceStack is the stack whose settings the e2e stack copies.
	sourceStack = "local"
)

// The Docker engine's programs of the docker.io package, named by path because another
// docker client may come first on PATH. The farm's scripts and Vagrant run the docker
// that comes first on PATH.
const (
	dockerClient = "/usr/bin/docker"
	dockerDaemon = "/usr/sbin/dockerd"
)

// The plugin versions that the SDKs in go.mod request, which `make tools` installs.
var plugins = []string{
	"resource-command-v1.2.1/pulumi-resource-command",
	"resource-random-v4.21.2/pulumi-resource-random",
}

// Bounds of the setup steps.
const (
	imagesLimit  = 15 * time.Minute
	commandLimit = time.Minute
)

// engineStartedHere records that the setup started the Docker engine of the checkout at
// engineRoot, so that TestMain stops it again.
var (
	engineStartedHere bool
	engineRoot        string
)

func TestMain(m *testing.M) {
	// Without proxy variables, the tests' requests, fleetctl and the engine's commands
	// (which inherit this environment) connect to the farm's addresses directly.
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
		"http_proxy", "https_proxy", "all_proxy", "no_proxy"} {
		os.Unsetenv(name)
	}
	code := m.Run()
	if engineStartedHere {
		if err := stopEngine(engineRoot); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// stopEngine stops the engine that the setup started, unless other containers run in
// it, because every command of the checkout shares the engine.
func stopEngine(root string) error {
	host, err := dockerHost(root)
	if err != nil {
		// The engine is not running any more, so there is nothing to stop.
		return nil
	}
	out, err := runCommand(commandLimit, "", []string{"DOCKER_HOST=" + host}, dockerClient, "ps", "--quiet")
	if err != nil {
		return fmt.Errorf("docker ps failed before stopping the engine that the tests started: %v\n%s", err, out)
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		fmt.Fprintf(os.Stderr, "The tests started the Docker engine, but %d other container(s) run in it now, so it keeps running.\n", len(ids))
		return nil
	}
	if out, err := runCommand(2*time.Minute, root, nil, filepath.Join(root, "local", "dockerd.sh"), "stop"); err != nil {
		return fmt.Errorf("stopping the Docker engine that the tests started failed: %v\n%s", err, out)
	}
	return nil
}

// repoRoot returns the top folder of the repository.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("the test cannot find its own source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// farm is a stack of the e2e farm in a temporary copy of the project.
type farm struct {
	// root is the repository, whose engine, images and tools the copy uses.
	root string
	// dir is the copy of the project.
	dir string
	// stack is the e2e stack, opened with components/engine.OpenStack.
	stack auto.Stack
	// dockerHost is the DOCKER_HOST value of the checkout's engine.
	dockerHost string
	// cfg is the stack's configuration as the program loads it.
	cfg *model.Config
	// network is the farm's network.
	network netip.Prefix
	// volumes are the anonymous volumes of the machine containers, which must go when
	// the machines go.
	volumes map[string]bool
}

// newFarm prepares the e2e stack in a temporary copy of the project: it checks the
// prerequisites, builds the images that are missing, takes the lock, removes what a
// killed run left behind and opens the stack. Its cleanup destroys the stack and fails
// the test when a container, the network or a volume of the farm is left.
func newFarm(tb testing.TB) *farm {
	tb.Helper()
	root := repoRoot(tb)
	checkPrerequisites(tb, root)
	lock(tb, root)

	f := &farm{root: root, volumes: map[string]bool{}}
	f.dockerHost = prepareEngine(tb, root)
	f.removeLeftovers(tb)
	f.dir = copyProject(tb, root)
	f.writeStackFile(tb)
	f.openStack(tb)
	tb.Cleanup(func() { f.teardown(tb) })
	return f
}

// checkPrerequisites fails the test when a program or a tool that the farm needs is
// missing, naming what installs it.
func checkPrerequisites(tb testing.TB, root string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatal("the e2e tests run a Docker engine and privileged node containers, which need root; run them as root")
	}
	for _, path := range []string{dockerClient, dockerDaemon} {
		if _, err := os.Stat(path); err != nil {
			tb.Fatalf("the Docker engine is not installed (%s is missing). Install it with: make local-deps", path)
		}
	}
	for program, fix := range map[string]string{
		"vagrant":    "apt-get install -y vagrant",
		"ssh":        "apt-get install -y openssh-client",
		"ssh-keygen": "apt-get install -y openssh-client",
		"git":        "apt-get install -y git",
		"make":       "apt-get install -y make",
	} {
		if _, err := exec.LookPath(program); err != nil {
			tb.Fatalf("%s is not on PATH. Install it with: %s", program, fix)
		}
	}
	for _, tool := range []string{"pulumi", "fleetctl"} {
		if _, err := os.Stat(filepath.Join(root, "bin", tool)); err != nil {
			tb.Fatalf("bin/%s is missing: run `make tools` at the top of the repository", tool)
		}
	}
	if os.Getenv("STF_FARM_OFFICIAL_PLUGINS") != "1" {
		for _, plugin := range plugins {
			if _, err := os.Stat(filepath.Join(pluginsDir(root), plugin)); err != nil {
				tb.Fatalf("the provider plugin %s is not installed in %s: run `make tools` at the top of the repository",
					plugin, pluginsDir(root))
			}
		}
	}
}

// pluginsDir returns the plugins folder that `make tools` fills.
func pluginsDir(root string) string {
	if home := os.Getenv("STF_FARM_PULUMI_HOME"); home != "" {
		return filepath.Join(home, "plugins")
	}
	return filepath.Join(root, ".pulumi-home", "plugins")
}

// lock takes the lock of the e2e stack until the test ends, and fails the test when
// another run holds it.
func lock(tb testing.TB, root string) {
	tb.Helper()
	dir := filepath.Join(root, ".farm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, stackName+".lock")
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		tb.Fatalf("cannot open the lock file %s: %v", path, err)
	}
	if err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		file.Close()
		tb.Fatalf("another run of the e2e tests or of the benchmark holds the lock %s, so the %s stack is in use. "+
			"Wait until that run ends (%v)", path, stackName, err)
	}
	// Closing the file releases the lock.
	tb.Cleanup(func() { file.Close() })
}

// prepareEngine builds the images that are missing with `make farm-images`, which
// also starts the checkout's engine, and returns the engine's DOCKER_HOST.
func prepareEngine(tb testing.TB, root string) string {
	tb.Helper()
	if _, err := dockerHost(root); err != nil {
		engineStartedHere = true
		engineRoot = root
	}
	start := time.Now()
	out, err := runCommand(imagesLimit, root, nil, "make", "-s", "farm-images")
	if err != nil {
		tb.Fatalf("make farm-images failed after %s: %v\n%s", time.Since(start).Round(time.Second), err, out)
	}
	tb.Logf("make farm-images took %s.", time.Since(start).Round(time.Millisecond))
	host, err := dockerHost(root)
	if err != nil {
		tb.Fatalf("the Docker engine of the checkout does not respond after make farm-images: %v", err)
	}
	return host
}

// dockerHost returns the DOCKER_HOST of the checkout's engine, or an error when the
// engine does not respond.
func dockerHost(root string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "local", "dockerd.sh"), "status")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("local/dockerd.sh status failed: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// removeLeftovers removes the machine containers (with their volumes) and the network
// of the e2e stack that a killed run left behind. The lock guarantees that no other run
// uses them.
func (f *farm) removeLeftovers(tb testing.TB) {
	tb.Helper()
	names := f.containers(tb)
	if len(names) > 0 {
		tb.Logf("Removing containers that an earlier run left behind: %s.", strings.Join(names, ", "))
		args := append([]string{"rm", "--force", "--volumes"}, names...)
		if out, err := f.docker(2*time.Minute, args...); err != nil {
			tb.Fatalf("docker rm of the leftover containers failed: %v\n%s", err, out)
		}
	}
	if f.networkExists(tb) {
		tb.Logf("Removing the network %s that an earlier run left behind.", dockerNetwork)
		if out, err := f.docker(commandLimit, "network", "rm", dockerNetwork); err != nil {
			tb.Fatalf("docker network rm %s failed: %v\n%s", dockerNetwork, err, out)
		}
	}
}

// copyProject copies every file that git tracks into a temporary folder and links the
// build outputs that the farm needs: bin/ (the CLI and fleetctl), the installed provider
// plugins and the image archives that the nodes load. The copy's local/dockerd.sh would
// start an engine of the copy's own, but the farm's scripts call it only when
// DOCKER_HOST is unset, and openStack sets it to the checkout's engine.
func copyProject(tb testing.TB, root string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "project")
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("git ls-files failed in %s: %v", root, err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		copyEntry(tb, filepath.Join(root, name), filepath.Join(dir, name))
	}
	links := map[string]string{
		"bin":                  filepath.Join(root, "bin"),
		".local-docker/images": filepath.Join(root, ".local-docker", "images"),
		".pulumi-home/plugins": pluginsDir(root),
	}
	for name, target := range links {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// copyEntry copies one tracked file, keeping its mode, or recreates one tracked link.
// A tracked file that was deleted from the work tree is skipped.
func copyEntry(tb testing.TB, from, to string) {
	tb.Helper()
	info, err := os.Lstat(from)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		tb.Fatal(err)
	}
	if info.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(from)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.Symlink(target, to); err != nil {
			tb.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
		tb.Fatal(err)
	}
}

// writeStackFile writes Pulumi.e2e.yaml as a copy of the local stack's file without
// its encryption salt, which belongs to another passphrase. openStack then moves the
// addresses into the e2e network.
func (f *farm) writeStackFile(tb testing.TB) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(f.root, "Pulumi."+sourceStack+".yaml"))
	if err != nil {
		tb.Fatalf("cannot read the settings of the %s stack, which the e2e stack copies: %v", sourceStack, err)
	}
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "encryptionsalt:") {
			lines = append(lines, line)
		}
	}
	path := filepath.Join(f.dir, "Pulumi."+stackName+".yaml")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// openStack opens the e2e stack with the farm's driver, then moves every address into
// farmNetwork (keeping each address's host part) and names the Docker network
// dockerNetwork. The engine's environment points the farm's scripts at the checkout's
// engine and keeps the state and the Pulumi home inside the copy.
func (f *farm) openStack(tb testing.TB) {
	tb.Helper()
	env := map[string]string{
		"DOCKER_HOST":        f.dockerHost,
		"PULUMI_BACKEND_URL": "file://" + filepath.Join(f.dir, engine.StateDir),
	}
	if os.Getenv("STF_FARM_OFFICIAL_PLUGINS") != "1" {
		env["PULUMI_HOME"] = filepath.Join(f.dir, ".pulumi-home")
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	stack, err := engine.OpenStack(ctx, engine.Options{ProjectDir: f.dir, Stack: stackName, Env: env})
	if err != nil {
		tb.Fatalf("cannot open the %s stack in the copy of the project: %v", stackName, err)
	}
	f.stack = stack

	source := f.loadConfig(tb)
	from, err := netip.ParsePrefix(source.Network)
	if err != nil {
		tb.Fatalf("the %s stack's network %q is invalid: %v", sourceStack, source.Network, err)
	}
	to := netip.MustParsePrefix(farmNetwork)
	values := auto.ConfigMap{
		model.Namespace + ":network":            {Value: farmNetwork},
		model.Namespace + ":docker.networkName": {Value: dockerNetwork},
		model.Namespace + ":db.address":         {Value: moveAddress(tb, source.DB.Address, from, to)},
	}
	for i, m := range source.Machines {
		key := fmt.Sprintf("%s:machines[%d].address", model.Namespace, i)
		values[key] = auto.ConfigValue{Value: moveAddress(tb, m.Address, from, to)}
	}
	if err := f.stack.SetAllConfigWithOptions(ctx, values, &auto.ConfigOptions{Path: true}); err != nil {
		tb.Fatalf("cannot set the e2e stack's addresses: %v", err)
	}

	f.cfg = f.loadConfig(tb)
	f.network = to
	f.checkConfig(tb)
}

// moveAddress returns the address with the host part of addr in the network to.
func moveAddress(tb testing.TB, addr string, from, to netip.Prefix) string {
	tb.Helper()
	a, err := netip.ParseAddr(addr)
	if err != nil || !from.Contains(a) || from.Bits() != to.Bits() || !a.Is4() || !to.Addr().Is4() {
		tb.Fatalf("the %s stack's address %q must be an IPv4 address inside its network %s, which must have the same size as %s",
			sourceStack, addr, from, to)
	}
	host := a.As4()
	base := to.Masked().Addr().As4()
	bits := to.Bits()
	for i := range host {
		keep := max(0, min(8, bits-8*i))
		mask := byte(0xFF << (8 - keep))
		host[i] = base[i]&mask | host[i]&^mask
	}
	return netip.AddrFrom4(host).String()
}

// loadConfig reads the stack's configuration back from the CLI and loads it as the
// program does.
func (f *farm) loadConfig(tb testing.TB) *model.Config {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	values, err := f.stack.GetAllConfig(ctx)
	if err != nil {
		tb.Fatalf("cannot read the configuration of the %s stack: %v", stackName, err)
	}
	raw := map[string]string{}
	for key, value := range values {
		if name, ok := strings.CutPrefix(key, model.Namespace+":"); ok {
			raw[name] = value.Value
		}
	}
	cfg, err := model.Load(raw)
	if err != nil {
		tb.Fatalf("the configuration of the %s stack is invalid: %v", stackName, err)
	}
	return cfg
}

// checkConfig fails the test unless the stack is a docker farm whose every machine is
// inside farmNetwork, since the tests send traffic to those addresses.
func (f *farm) checkConfig(tb testing.TB) {
	tb.Helper()
	if f.cfg.Provider != model.ProviderDocker {
		tb.Fatalf("the %s stack uses the %s provider; the e2e tests need the docker provider", stackName, f.cfg.Provider)
	}
	if f.cfg.Network != farmNetwork {
		tb.Fatalf("the %s stack's network is %s, want %s", stackName, f.cfg.Network, farmNetwork)
	}
	if f.cfg.Docker.NetworkName != dockerNetwork {
		tb.Fatalf("the %s stack's Docker network is %s, want %s", stackName, f.cfg.Docker.NetworkName, dockerNetwork)
	}
	addresses := []string{f.cfg.DB.Address}
	for _, m := range f.cfg.Machines {
		addresses = append(addresses, m.Address)
	}
	for _, addr := range addresses {
		if !f.inFarm(addr) {
			tb.Fatalf("the %s stack's address %s is outside %s", stackName, addr, farmNetwork)
		}
	}
}

// inFarm reports whether addr is an address of the farm's network.
func (f *farm) inFarm(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && f.network.Contains(a)
}

// address returns the configured address of the named cluster machine.
func (f *farm) address(tb testing.TB, name string) string {
	tb.Helper()
	for _, m := range f.cfg.Machines {
		if m.Name == name {
			return m.Address
		}
	}
	tb.Fatalf("the %s stack has no cluster machine %s", stackName, name)
	return ""
}

// nginxMachine returns the name of the machine with the nginx role.
func (f *farm) nginxMachine(tb testing.TB) string {
	tb.Helper()
	m, ok := f.cfg.MachineWithRole(model.RoleNginx)
	if !ok {
		tb.Fatalf("the %s stack has no machine with the nginx role", stackName)
	}
	return m.Name
}

// teardown destroys the stack when it still has resources, and fails the test when a
// container, the network, a volume or a fleet unit of the farm is left after that. It
// then removes the containers and the network by force, so that the next run starts
// clean.
func (f *farm) teardown(tb testing.TB) {
	if n, err := f.resourceCount(); err != nil || n > 0 {
		if _, err := f.tryRun(tb, opDestroy, destroyLimit); err != nil {
			tb.Errorf("the cleanup's destroy of the %s stack failed: %v", stackName, err)
		}
	}
	left := f.leftovers(tb)
	if len(left) == 0 {
		return
	}
	tb.Errorf("left after the cleanup's destroy:\n%s", strings.Join(left, "\n"))
	if names := f.containers(tb); len(names) > 0 {
		args := append([]string{"rm", "--force", "--volumes"}, names...)
		if out, err := f.docker(2*time.Minute, args...); err != nil {
			tb.Errorf("docker rm of the containers left behind failed: %v\n%s", err, out)
		}
	}
	if f.networkExists(tb) {
		if out, err := f.docker(commandLimit, "network", "rm", dockerNetwork); err != nil {
			tb.Errorf("docker network rm %s failed: %v\n%s", dockerNetwork, err, out)
		}
	}
}

// leftovers describes every container, network, volume and fleet unit of the farm that
// exists, and every resource left in the stack.
func (f *farm) leftovers(tb testing.TB) []string {
	tb.Helper()
	var left []string
	for _, name := range f.containers(tb) {
		left = append(left, "the container "+name)
		// A node that is left may still run fleet with units in it.
		if units, err := f.unitFilesIn(name); err == nil && len(units) > 0 {
			left = append(left, fmt.Sprintf("fleet units in %s: %s", name, strings.Join(units, ", ")))
		}
	}
	if f.networkExists(tb) {
		left = append(left, "the network "+dockerNetwork)
	}
	for volume := range f.volumes {
		if _, err := f.docker(commandLimit, "volume", "inspect", volume); err == nil {
			left = append(left, "the volume "+volume)
		}
	}
	if n, err := f.resourceCount(); err != nil {
		left = append(left, fmt.Sprintf("the stack's state, which cannot be read: %v", err))
	} else if n > 0 {
		left = append(left, fmt.Sprintf("%d resource(s) in the stack's state", n))
	}
	return left
}

// runCommand runs a program with a bound, in dir, with extra variables added to the
// test's environment, and returns its standard output. The error includes the
// program's standard error.
func runCommand(limit time.Duration, dir string, extra []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), extra...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return stdout.String(), fmt.Errorf("timed out after %s: %s", limit, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
