package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The versions the command and random SDKs in go.mod ask for; the engine
// looks for exactly these plugins.
const (
	commandPluginVersion = "1.2.1"
	randomPluginVersion  = "4.21.2"
	cliVersion           = "v3.276.0"
)

// officialPluginsEnv switches the suite to the official providers.
const officialPluginsEnv = "STF_FARM_OFFICIAL_PLUGINS"

// stepTimeout bounds every single engine operation of the suite, so that a
// provider that hangs fails the test instead of blocking it.
const stepTimeout = 3 * time.Minute

func officialPlugins() bool { return os.Getenv(officialPluginsEnv) == "1" }

// repoRoot finds the top of the repository: the nearest parent folder whose
// go.mod declares the stf-farm module.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(data)), "module stf-farm\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the top of the repository (a go.mod for module stf-farm) above the test folder")
		}
		dir = parent
	}
}

// pluginSource returns the folder whose plugins the tests use: the one that
// "make tools" filled (STF_FARM_PULUMI_HOME, by default .pulumi-home at the
// top of the repository), or with STF_FARM_OFFICIAL_PLUGINS=1 the developer's
// own (PULUMI_HOME, by default ~/.pulumi).
func pluginSource(t *testing.T, root string) string {
	t.Helper()
	if officialPlugins() {
		if home := os.Getenv("PULUMI_HOME"); home != "" {
			return filepath.Join(home, "plugins")
		}
		userHome, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(userHome, ".pulumi", "plugins")
	}
	if home := os.Getenv("STF_FARM_PULUMI_HOME"); home != "" {
		return filepath.Join(home, "plugins")
	}
	return filepath.Join(root, ".pulumi-home", "plugins")
}

// harness is one test's isolated Pulumi environment.
type harness struct {
	t       *testing.T
	root    string
	cli     auto.PulumiCommand
	home    string
	backend string
	work    string
	env     map[string]string
}

// newHarness checks that the CLI and the plugins are in place and prepares a
// private backend and Pulumi home folder for the test.
func newHarness(t *testing.T) *harness {
	t.Helper()
	root := repoRoot(t)

	cliPath := filepath.Join(root, "bin", "pulumi")
	if _, err := os.Stat(cliPath); err != nil {
		t.Fatalf("the Pulumi CLI is missing at %s: run `make tools` at the top of the repository first (%v)", cliPath, err)
	}
	plugins := pluginSource(t, root)
	for _, dir := range []string{
		"resource-command-v" + commandPluginVersion,
		"resource-random-v" + randomPluginVersion,
	} {
		if _, err := os.Stat(filepath.Join(plugins, dir)); err != nil {
			if officialPlugins() {
				t.Fatalf("%s=1 but the official plugin %s is not installed in %s: install it with "+
					"`pulumi plugin install` or unset %s", officialPluginsEnv, dir, plugins, officialPluginsEnv)
			}
			t.Fatalf("the plugin %s is missing from %s: run `make tools` at the top of the repository first",
				dir, plugins)
		}
	}

	base := t.TempDir()
	h := &harness{
		t:       t,
		root:    root,
		home:    filepath.Join(base, "home"),
		backend: filepath.Join(base, "state"),
		work:    filepath.Join(base, "work"),
	}
	for _, dir := range []string{h.home, h.backend, h.work} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The installed plugins are shared by linking them into the private home.
	if err := os.Symlink(plugins, filepath.Join(h.home, "plugins")); err != nil {
		t.Fatal(err)
	}

	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	if err != nil {
		t.Fatalf("cannot run %s: %v; run `make tools` at the top of the repository", cliPath, err)
	}
	if got := cli.Version().String(); "v"+got != cliVersion {
		t.Fatalf("%s reports version %s, want %s: run `make tools` to rebuild it", cliPath, got, cliVersion)
	}
	h.cli = cli
	h.env = map[string]string{
		"PULUMI_BACKEND_URL":                          "file://" + h.backend,
		"PULUMI_CONFIG_PASSPHRASE":                    "conformance-passphrase",
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_DISABLE_REGISTRY_RESOLVE":             "true",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":    "true",
		"PULUMI_HOME":                                 h.home,
	}
	return h
}

// path returns a file name inside the test's own folder.
func (h *harness) path(name string) string {
	return filepath.Join(h.work, name)
}

// stack creates a stack that runs program.
func (h *harness) stack(program pulumi.RunFunc) *testStack {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	project := workspace.Project{
		Name:    "conformance",
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		Backend: &workspace.ProjectBackend{URL: "file://" + h.backend},
	}
	s, err := auto.UpsertStackInlineSource(ctx, "conformance", "conformance", program,
		auto.Project(project),
		auto.Pulumi(h.cli),
		auto.PulumiHome(h.home),
		auto.WorkDir(h.work),
		auto.SecretsProvider("passphrase"),
		auto.EnvVars(h.env),
	)
	if err != nil {
		h.t.Fatalf("creating the stack: %v", err)
	}
	ts := &testStack{t: h.t, stack: s, backend: h.backend}
	h.t.Cleanup(ts.cleanup)
	return ts
}

// testStack wraps a stack with helpers that fail the test on errors.
type testStack struct {
	t         *testing.T
	stack     auto.Stack
	backend   string
	destroyed bool
}

// cleanup destroys what a test left behind, so that delete commands run
// while the test's folders still exist.
func (s *testStack) cleanup() {
	if s.destroyed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if _, err := s.stack.Destroy(ctx); err != nil {
		s.t.Logf("destroying the stack after the test: %v", err)
	}
}

// up deploys the program and fails the test on an error.
func (s *testStack) up() auto.UpResult {
	s.t.Helper()
	res, err := s.tryUp()
	if err != nil {
		s.t.Fatalf("up failed: %v", err)
	}
	s.noWarnings(res.StdOut)
	return res
}

// noWarnings fails the test if the engine printed a warning, such as one
// about a provider plugin found in an unexpected place.
func (s *testStack) noWarnings(output string) {
	s.t.Helper()
	for _, line := range strings.Split(output, "\n") {
		if strings.Contains(line, "warning:") {
			s.t.Fatalf("the engine printed a warning:\n%s", output)
		}
	}
}

// tryUp deploys the program and returns the error, if any.
func (s *testStack) tryUp(opts ...optup.Option) (auto.UpResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	return s.stack.Up(ctx, opts...)
}

// upWithEvents deploys the program and returns the engine events as well.
func (s *testStack) upWithEvents() (auto.UpResult, []events.EngineEvent) {
	s.t.Helper()
	ch := make(chan events.EngineEvent)
	collected := make(chan []events.EngineEvent)
	go func() {
		var all []events.EngineEvent
		for e := range ch {
			all = append(all, e)
		}
		collected <- all
	}()
	res, err := s.tryUp(optup.EventStreams(ch))
	all := <-collected
	if err != nil {
		s.t.Fatalf("up failed: %v", err)
	}
	s.noWarnings(res.StdOut)
	return res, all
}

// preview previews the program and returns the engine events as well.
func (s *testStack) preview() (auto.PreviewResult, []events.EngineEvent) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	ch := make(chan events.EngineEvent)
	collected := make(chan []events.EngineEvent)
	go func() {
		var all []events.EngineEvent
		for e := range ch {
			all = append(all, e)
		}
		collected <- all
	}()
	res, err := s.stack.Preview(ctx, optpreview.EventStreams(ch))
	all := <-collected
	if err != nil {
		s.t.Fatalf("preview failed: %v", err)
	}
	s.noWarnings(res.StdOut)
	return res, all
}

// destroy deletes every resource of the stack.
func (s *testStack) destroy() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if _, err := s.stack.Destroy(ctx, optdestroy.ContinueOnError()); err != nil {
		s.t.Fatalf("destroy failed: %v", err)
	}
	s.destroyed = true
}

// deployment reads the stack's state as the file backend stores it, secrets
// still encrypted, and returns it parsed and as raw text. (The Automation
// API's export would decrypt the secrets.)
func (s *testStack) deployment() (apitype.DeploymentV3, string) {
	s.t.Helper()
	pattern := filepath.Join(s.backend, ".pulumi", "stacks", "*", s.stack.Name()+".json")
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) != 1 {
		s.t.Fatalf("want exactly one state file matching %s, found %v (%v)", pattern, files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		s.t.Fatal(err)
	}
	var checkpoint struct {
		Checkpoint struct {
			Latest apitype.DeploymentV3 `json:"latest"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(data, &checkpoint); err != nil {
		s.t.Fatalf("reading the state file %s: %v", files[0], err)
	}
	return checkpoint.Checkpoint.Latest, string(data)
}

// resource returns the state of the one resource with the given type and
// name, failing the test when there is none.
func (s *testStack) resource(typ, name string) apitype.ResourceV3 {
	s.t.Helper()
	d, _ := s.deployment()
	for _, r := range d.Resources {
		if string(r.Type) == typ && r.URN.Name() == name {
			return r
		}
	}
	s.t.Fatalf("no %s named %q in the state", typ, name)
	return apitype.ResourceV3{}
}

// hasResource reports whether the state holds a resource of the given type
// and name.
func (s *testStack) hasResource(typ, name string) bool {
	d, _ := s.deployment()
	for _, r := range d.Resources {
		if string(r.Type) == typ && r.URN.Name() == name {
			return true
		}
	}
	return false
}

// output returns a stack output, failing the test when it is missing.
func (s *testStack) output(name string) auto.OutputValue {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	outs, err := s.stack.Outputs(ctx)
	if err != nil {
		s.t.Fatalf("reading outputs: %v", err)
	}
	v, ok := outs[name]
	if !ok {
		s.t.Fatalf("the stack has no output %q (it has %v)", name, outs)
	}
	return v
}

// changes returns how many resources an operation changed in a given way
// ("create", "update", "replace", "delete", "same").
func changes(summary *map[string]int, op string) int {
	if summary == nil {
		return 0
	}
	return (*summary)[op]
}

// readLines returns the lines of a file, or none when it does not exist.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	text := strings.TrimRight(string(data), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// wantLines fails the test unless the file holds exactly the given lines.
func wantLines(t *testing.T, path string, want ...string) {
	t.Helper()
	got := readLines(t, path)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s holds %q, want %q", filepath.Base(path), got, want)
	}
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
