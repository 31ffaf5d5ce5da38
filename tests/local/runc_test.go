package local

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// capabilityBits are the capabilities that the wrapper tests put in specs, with their
// Linux bit numbers. CAP_SYS_RESOURCE is the one that some hosts' bounding sets lack.
var capabilityBits = map[string]uint{
	"CAP_CHOWN":        0,
	"CAP_NET_ADMIN":    12,
	"CAP_SYS_ADMIN":    21,
	"CAP_SYS_RESOURCE": 24,
}

// unknownCapability is a name that the wrapper does not know; it must be kept.
const unknownCapability = "CAP_NOT_IN_LINUX"

// largeLimit must survive the wrapper's JSON round trip digit for digit.
const largeLimit = "9223372036854771712"

// wrapperTool is the wrapper built once for the tests, with a fake runc.
type wrapperTool struct {
	wrapper  string
	fakeRunc string
	argsFile string
}

func buildWrapper(t *testing.T) wrapperTool {
	t.Helper()
	dir := t.TempDir()
	tool := wrapperTool{
		wrapper:  filepath.Join(dir, "stf-farm-runc"),
		fakeRunc: filepath.Join(dir, "runc"),
		argsFile: filepath.Join(dir, "args"),
	}
	build := exec.Command("go", "build", "-o", tool.wrapper, "./local/stf-farm-runc")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the wrapper failed: %v\n%s", err, out)
	}
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_RUNC_ARGS\"\n"
	if err := os.WriteFile(tool.fakeRunc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return tool
}

// run starts the wrapper in dir with args and returns the arguments the fake runc got.
func (w wrapperTool) run(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	os.Remove(w.argsFile)
	cmd := exec.Command(w.wrapper, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STF_FARM_REAL_RUNC="+w.fakeRunc, "FAKE_RUNC_ARGS="+w.argsFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stf-farm-runc %v failed: %v\n%s", args, err, out)
	}
	data, err := os.ReadFile(w.argsFile)
	if err != nil {
		t.Fatalf("the fake runc did not run: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// ownBoundingSet reads this test process's CapBnd, which the wrapper, a child
// process, inherits.
func ownBoundingSet(t *testing.T) uint64 {
	t.Helper()
	file, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		if value, found := strings.CutPrefix(scanner.Text(), "CapBnd:"); found {
			mask, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return mask
		}
	}
	t.Fatal("/proc/self/status has no CapBnd line")
	return 0
}

// allCapabilities returns every capability name the tests use, sorted.
func allCapabilities() []string {
	names := []string{unknownCapability}
	for name := range capabilityBits {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// processJSON is a spec's process with every capability set holding every name.
func processJSON() string {
	quoted, _ := json.Marshal(allCapabilities())
	sets := []string{}
	for _, set := range []string{"bounding", "effective", "inheritable", "permitted", "ambient"} {
		sets = append(sets, `"`+set+`": `+string(quoted))
	}
	return `{"args": ["/sbin/init"], "capabilities": {` + strings.Join(sets, ", ") + `}}`
}

func writeSpec(t *testing.T, path, process string) {
	t.Helper()
	text := process
	if filepath.Base(path) == "config.json" {
		text = `{"ociVersion": "1.0.2", "process": ` + process +
			`, "linux": {"resources": {"memory": {"limit": ` + largeLimit + `}}}}`
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkCapabilities checks every set of the process in the spec file: a known
// capability stays only when the bounding set has it, and unknown names stay.
func checkCapabilities(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s is no longer valid JSON: %v", path, err)
	}
	processData := data
	if filepath.Base(path) == "config.json" {
		processData = doc["process"]
		if !strings.Contains(string(doc["linux"]), largeLimit) {
			t.Errorf("the memory limit changed in %s: %s", path, doc["linux"])
		}
	}
	var process struct {
		Args         []string            `json:"args"`
		Capabilities map[string][]string `json:"capabilities"`
	}
	if err := json.Unmarshal(processData, &process); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(process.Args, []string{"/sbin/init"}) {
		t.Errorf("process.args changed to %v", process.Args)
	}
	bounding := ownBoundingSet(t)
	want := []string{}
	for _, name := range allCapabilities() {
		bit, known := capabilityBits[name]
		if !known || bounding&(1<<bit) != 0 {
			want = append(want, name)
		}
	}
	if len(process.Capabilities) != 5 {
		t.Errorf("the spec has %d capability sets, want 5", len(process.Capabilities))
	}
	for set, names := range process.Capabilities {
		if !slices.Equal(names, want) {
			t.Errorf("capabilities.%s = %v, want %v (bounding set %x)", set, names, want, bounding)
		}
	}
}

func TestWrapperFiltersBundleConfig(t *testing.T) {
	tool := buildWrapper(t)
	bundle := t.TempDir()
	config := filepath.Join(bundle, "config.json")
	writeSpec(t, config, processJSON())

	args := []string{"--root", "/run/runc-root", "--log", "/tmp/log.json", "--log-format", "json",
		"create", "--bundle", bundle, "--pid-file", "/tmp/pid", "container-1"}
	got := tool.run(t, t.TempDir(), args...)
	if !slices.Equal(got, args) {
		t.Errorf("runc got %v, want the wrapper's arguments %v", got, args)
	}
	checkCapabilities(t, config)
}

func TestWrapperUsesWorkingDirectoryBundle(t *testing.T) {
	tool := buildWrapper(t)
	bundle := t.TempDir()
	config := filepath.Join(bundle, "config.json")
	writeSpec(t, config, processJSON())

	tool.run(t, bundle, "run", "--detach", "container-2")
	checkCapabilities(t, config)
}

func TestWrapperFiltersExecProcess(t *testing.T) {
	tool := buildWrapper(t)
	dir := t.TempDir()
	processFile := filepath.Join(dir, "process.json")
	writeSpec(t, processFile, processJSON())

	tool.run(t, dir, "--root", "/run/runc-root", "exec", "--process="+processFile, "--detach", "container-3")
	checkCapabilities(t, processFile)
}

func TestWrapperPassesOtherCommands(t *testing.T) {
	tool := buildWrapper(t)
	bundle := t.TempDir()
	config := filepath.Join(bundle, "config.json")
	writeSpec(t, config, processJSON())
	before, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}

	args := []string{"--root", "/run/runc-root", "delete", "--force", "container-4"}
	got := tool.run(t, bundle, args...)
	if !slices.Equal(got, args) {
		t.Errorf("runc got %v, want %v", got, args)
	}
	after, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("delete changed config.json:\n%s", after)
	}
}

func TestWrapperDropsSysResourceHere(t *testing.T) {
	// On a host whose bounding set lacks CAP_SYS_RESOURCE (the reason for the wrapper),
	// the capability must be gone from every set; elsewhere it must stay.
	tool := buildWrapper(t)
	bundle := t.TempDir()
	config := filepath.Join(bundle, "config.json")
	writeSpec(t, config, processJSON())
	tool.run(t, bundle, "create", "-b", bundle, "container-5")

	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	present := strings.Contains(string(data), "CAP_SYS_RESOURCE")
	hostHas := ownBoundingSet(t)&(1<<24) != 0
	if present != hostHas {
		t.Errorf("CAP_SYS_RESOURCE in the spec = %v, but the host's bounding set has it = %v", present, hostHas)
	}
}
