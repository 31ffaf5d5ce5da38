package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stf-farm/components/vagrant"
)

// standInVBoxManage writes a stand-in for VBoxManage, which cannot run here. It prints, for
// `showvminfo UUID --machinereadable`, what VirtualBox 7 prints: key=value lines with a
// VMState line, or, for an unknown UUID, exit code 1 and the VBOX_E_OBJECT_NOT_FOUND
// error. The VM's state is read from the file state next to it.
func standInVBoxManage(t *testing.T) (command, stateFile string) {
	t.Helper()
	dir := t.TempDir()
	stateFile = filepath.Join(dir, "state")
	command = filepath.Join(dir, "VBoxManage")
	script := `#!/bin/sh
[ "$1" = showvminfo ] && [ "$3" = --machinereadable ] || { echo "stand-in: unexpected arguments: $*" >&2; exit 2; }
state="$(cat "` + stateFile + `")"
if [ "$state" = gone ]; then
  echo "VBoxManage: error: Could not find a registered machine named '$2'" >&2
  echo "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, interface IVirtualBox, callee nsISupports" >&2
  exit 1
fi
printf 'name="stf-farm-dev-core-01"\nUUID="%s"\nmemory=2048\nVMState="%s"\nVMStateChangeTime="2026-12-04T10:00:00.000000000"\n' "$2" "$state"
`
	if err := os.WriteFile(command, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return command, stateFile
}

func TestProberReadsVirtualBoxStates(t *testing.T) {
	command, stateFile := standInVBoxManage(t)
	project := t.TempDir()
	farm := filepath.Join(".farm", "dev")
	write := func(rel, text string) {
		writeFiles(t, filepath.Join(project, farm), map[string]string{rel: text})
	}
	prober := &vagrant.Prober{ProjectDir: project, FarmDir: farm, Provider: "virtualbox", VBoxManage: command}

	// Never booted: no state is read, so a preview needs no VirtualBox.
	if f := prober.Machine("core-01"); f != (vagrant.Finding{}) {
		t.Errorf("a machine without a boot record: got %+v, want nothing found", f)
	}

	write("machines/core-01.applied", "starts 2\nfiles abc\n")
	if f := prober.Machine("core-01"); f.Starts != 3 || !strings.Contains(f.Down, "Vagrant has no record") {
		t.Errorf("a booted machine that Vagrant no longer knows: got %+v, want starts 3 and down", f)
	}

	write(".vagrant/machines/core-01/virtualbox/id", "5f4b0a0e-0000-4000-8000-000000000001\n")
	for _, c := range []struct {
		state  string
		starts int
		down   string
	}{
		{"running", 2, ""},
		{"poweroff", 3, "its VM is poweroff"},
		{"saved", 3, "its VM is saved"},
		{"aborted", 3, "its VM is aborted"},
		{"gone", 3, "its VM is gone (removed outside Pulumi)"},
	} {
		if err := os.WriteFile(stateFile, []byte(c.state), 0o644); err != nil {
			t.Fatal(err)
		}
		f := prober.Machine("core-01")
		if f.Starts != c.starts || f.Down != c.down || f.Warning != "" {
			t.Errorf("VM state %s: got %+v, want starts %d and down %q", c.state, f, c.starts, c.down)
		}
	}
}

// When the state cannot be read, the machine's input stays as recorded, so up changes
// nothing it cannot detect, and the warning gives the reason.
func TestProberWarnsWhenStateIsUnknown(t *testing.T) {
	project := t.TempDir()
	farm := filepath.Join(".farm", "dev")
	writeFiles(t, filepath.Join(project, farm), map[string]string{
		".vagrant/machines/core-01/virtualbox/id": "5f4b0a0e-0000-4000-8000-000000000001",
		"machines/core-01.applied":                "starts 1\nfiles abc\n",
		"machines/core-02.applied":                "starts one\n",
	})
	missing := filepath.Join(t.TempDir(), "VBoxManage")
	prober := &vagrant.Prober{ProjectDir: project, FarmDir: farm, Provider: "virtualbox", VBoxManage: missing}
	if f := prober.Machine("core-01"); f.Starts != 1 || f.Down != "" || !strings.Contains(f.Warning, "showvminfo") {
		t.Errorf("no VBoxManage: got %+v, want starts 1, not down, and a warning naming showvminfo", f)
	}
	if f := prober.Machine("core-02"); !strings.Contains(f.Warning, "core-02.applied") || !strings.Contains(f.Warning, "remove the file") {
		t.Errorf("a damaged boot record: got %+v, want a warning naming the file and the fix", f)
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
