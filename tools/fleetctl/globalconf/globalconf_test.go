package globalconf

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func newSet() *flag.FlagSet {
	set := flag.NewFlagSet("fleet", flag.ContinueOnError)
	set.String("public_ip", "", "")
	set.String("metadata", "", "")
	set.Int("verbosity", 0, "")
	set.String("agent_ttl", "30s", "")
	return set
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fleet.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnvironmentOverridesFile(t *testing.T) {
	path := writeFile(t, "# comment\npublic_ip=10.0.0.1\nmetadata=\"role=a,index=1\"\nverbosity = 1\n")
	t.Setenv("FLEET_PUBLIC_IP", "10.0.0.2")
	conf, err := NewWithOptions(&Options{Filename: path, EnvPrefix: "FLEET_"})
	if err != nil {
		t.Fatal(err)
	}
	set := newSet()
	conf.ParseSet("", set)
	if got := set.Lookup("public_ip").Value.String(); got != "10.0.0.2" {
		t.Errorf("public_ip = %q, want the environment's 10.0.0.2", got)
	}
	if got := set.Lookup("metadata").Value.String(); got != "role=a,index=1" {
		t.Errorf("metadata = %q, want the file's value without quotes", got)
	}
	if got := set.Lookup("verbosity").Value.String(); got != "1" {
		t.Errorf("verbosity = %q, want 1", got)
	}
	if got := set.Lookup("agent_ttl").Value.String(); got != "30s" {
		t.Errorf("agent_ttl = %q, want the default 30s", got)
	}
}

func TestEnvironmentWithoutFile(t *testing.T) {
	t.Setenv("FLEET_METADATA", "role=nginx,index=1")
	t.Setenv("FLEET_VERBOSITY", "")
	conf, err := NewWithOptions(&Options{EnvPrefix: "FLEET_"})
	if err != nil {
		t.Fatal(err)
	}
	set := newSet()
	conf.ParseSet("", set)
	if got := set.Lookup("metadata").Value.String(); got != "role=nginx,index=1" {
		t.Errorf("metadata = %q, want role=nginx,index=1", got)
	}
	if got := set.Lookup("verbosity").Value.String(); got != "0" {
		t.Errorf("verbosity = %q, want the default 0 for an empty variable", got)
	}
}

func TestSectionsAndSetNames(t *testing.T) {
	path := writeFile(t, "metadata=top\n[fleet]\nmetadata='in-section'\n")
	t.Setenv("APP_FLEET_PUBLIC_IP", "10.0.0.3")
	conf, err := NewWithOptions(&Options{Filename: path, EnvPrefix: "APP_"})
	if err != nil {
		t.Fatal(err)
	}
	set := newSet()
	conf.ParseSet("fleet", set)
	if got := set.Lookup("metadata").Value.String(); got != "in-section" {
		t.Errorf("metadata = %q, want the [fleet] section's value", got)
	}
	if got := set.Lookup("public_ip").Value.String(); got != "10.0.0.3" {
		t.Errorf("public_ip = %q, want APP_FLEET_PUBLIC_IP's value", got)
	}
}

func TestInvalidValueKeepsFlag(t *testing.T) {
	t.Setenv("FLEET_VERBOSITY", "loud")
	conf, err := NewWithOptions(&Options{EnvPrefix: "FLEET_"})
	if err != nil {
		t.Fatal(err)
	}
	set := newSet()
	conf.ParseSet("", set)
	if got := set.Lookup("verbosity").Value.String(); got != "0" {
		t.Errorf("verbosity = %q, want 0 after an invalid value", got)
	}
}

func TestInvalidFileLine(t *testing.T) {
	path := writeFile(t, "public_ip\n")
	if _, err := NewWithOptions(&Options{Filename: path}); err == nil {
		t.Fatal("NewWithOptions accepted a line without '='")
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := NewWithOptions(&Options{Filename: filepath.Join(t.TempDir(), "missing.conf")}); err == nil {
		t.Fatal("NewWithOptions accepted a missing file")
	}
}
