package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stf-farm/components/engine"
)

// The driver validates a stack's settings before it starts the engine, so a nested
// mistake gets the program's short message, not the engine's output around it.
func TestDriverRejectsBadSettingsFirst(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	copyFile(t, filepath.Join(root, "Pulumi.yaml"), filepath.Join(dir, "Pulumi.yaml"))
	local, err := os.ReadFile(filepath.Join(root, "Pulumi.local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(local), "      index: 2\n", "      index: 2\n      memroy: 2048\n", 1)
	if bad == string(local) {
		t.Fatal("Pulumi.local.yaml has no line `      index: 2` to add a setting after")
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.bad.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}

	_, err = engine.OpenStack(context.Background(), engine.Options{ProjectDir: dir, Stack: "bad"})
	if err == nil {
		t.Fatal("opening a stack with a misspelt machine setting must fail")
	}
	want := "invalid stack configuration (1 problem):\n  - stf-farm:machines[1].memroy = 2048: unknown setting. Fix: remove it, or use memory."
	if err.Error() != want {
		t.Errorf("got the error:\n%v\nwant:\n%s", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, engine.StateDir, ".pulumi")); err == nil {
		t.Errorf("the driver created state for an invalid stack")
	}
}

// `stf-farm pulumi` runs the project's CLI with the engine's environment.
func TestDriverRunsTheCLI(t *testing.T) {
	root := repoRoot(t)
	requireTools(t, root, t.TempDir())
	previous, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(root); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(previous)

	var stdout, stderr bytes.Buffer
	code := engine.Main([]string{"pulumi", "version"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("stf-farm pulumi version exited with %d:\n%s", code, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != cliVersion {
		t.Errorf("stf-farm pulumi version printed %q, want %s", got, cliVersion)
	}

	stdout.Reset()
	code = engine.Main([]string{"--help"}, &stdout, &stderr)
	if code != 0 {
		t.Errorf("stf-farm --help exited with %d", code)
	}
	if !strings.Contains(stdout.String(), "stf-farm pulumi") {
		t.Errorf("stf-farm --help must list the pulumi command; it printed:\n%s", stdout.String())
	}
}

// foreignSalt is an encryptionsalt line that another passphrase wrote.
const foreignSalt = "encryptionsalt: v1:/o3DlWvu89s=:v1:O9VnC6f7PIhEb0Dq:r/DzDjKDSmWrDKXJmiHvG76pvsUSZw==\n"

// A stack file whose encryptionsalt belongs to another passphrase cannot be opened with
// the project's generated one. The driver names the line to delete and leaves the file
// as it was.
func TestForeignSaltNamesTheFix(t *testing.T) {
	root := repoRoot(t)
	requireTools(t, root, t.TempDir())
	dir := t.TempDir()
	copyFile(t, filepath.Join(root, "Pulumi.yaml"), filepath.Join(dir, "Pulumi.yaml"))
	local, err := os.ReadFile(filepath.Join(root, "Pulumi.local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stackFile := filepath.Join(dir, "Pulumi.local.yaml")
	salted := string(local) + foreignSalt
	if err := os.WriteFile(stackFile, []byte(salted), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "bin", "pulumi"), filepath.Join(dir, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	_, err = engine.OpenStack(ctx, engine.Options{
		ProjectDir: dir,
		Stack:      "local",
		Env:        map[string]string{"PULUMI_HOME": filepath.Join(dir, ".pulumi-home")},
	})
	if err == nil {
		t.Fatal("opening a stack whose file has another passphrase's encryptionsalt must fail")
	}
	for _, want := range []string{"Pulumi.local.yaml", "encryptionsalt", "delete its encryptionsalt line",
		filepath.Join(dir, engine.StateDir, "passphrase")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error must name %q; it is: %v", want, err)
		}
	}
	after, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != salted {
		t.Errorf("the failed open changed Pulumi.local.yaml:\n%s", after)
	}
}

// A stack that exists in the backend, opened with another passphrase, fails in the CLI
// itself. The driver replaces the CLI's bare "incorrect passphrase" with the source of
// the passphrase and the fix.
func TestWrongPassphraseNamesTheFix(t *testing.T) {
	root := repoRoot(t)
	requireTools(t, root, t.TempDir())
	dir := t.TempDir()
	copyFile(t, filepath.Join(root, "Pulumi.yaml"), filepath.Join(dir, "Pulumi.yaml"))
	stackFile := filepath.Join(dir, "Pulumi.dev.yaml")
	if err := os.WriteFile(stackFile, readStackFile(t, filepath.Join(root, "Pulumi.dev.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "bin", "pulumi"), filepath.Join(dir, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}
	// The CLI checks the passphrase before it loads any plugin, so the Pulumi home
	// needs none.
	t.Setenv("STF_FARM_PULUMI_HOME", filepath.Join(dir, ".pulumi-home"))

	// Creating the stack with the project's generated passphrase writes its salt.
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if _, err := engine.OpenStack(ctx, engine.Options{ProjectDir: dir, Stack: "dev"}); err != nil {
		t.Fatal(err)
	}
	salted, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(salted), "encryptionsalt:") {
		t.Fatalf("creating the stack wrote no encryptionsalt line:\n%s", salted)
	}

	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "another passphrase")
	previous, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(previous)
	var stdout, stderr bytes.Buffer
	code := engine.Main([]string{"preview", "--stack", "dev"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("a preview with the wrong passphrase exited with %d, want 1:\n%s", code, stderr.String())
	}
	message := stderr.String()
	for _, want := range []string{"stf-farm preview --stack dev failed", "PULUMI_CONFIG_PASSPHRASE",
		"does not decrypt stack dev", "Pulumi.dev.yaml", "the passphrase that created the stack"} {
		if !strings.Contains(message, want) {
			t.Errorf("the error must contain %q; it is:\n%s", want, message)
		}
	}
	if n := strings.Count(message, "incorrect passphrase"); n != 1 {
		t.Errorf("the error names the CLI's message %d times, want once:\n%s", n, message)
	}
}

// A preview or up in the checkout writes the checkout's encryptionsalt into its stack
// file. The temporary projects of these tests use their own passphrase, so their copy
// of the file must leave that line out and keep every other line.
func TestStackCopyDropsSalt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Pulumi.dev.yaml")
	settings := "config:\n  stf-farm:provider: virtualbox\n"
	if err := os.WriteFile(path, []byte(foreignSalt+settings), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := string(readStackFile(t, path)); got != settings {
		t.Errorf("the copy of a salted stack file is:\n%s\nwant:\n%s", got, settings)
	}
}
