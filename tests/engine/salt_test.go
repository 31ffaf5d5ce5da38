package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stf-farm/components/engine"
)

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
