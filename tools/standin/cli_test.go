package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runMain runs Main to completion and returns its exit status and output.
func runMain(t *testing.T, lookup LookupEnv, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr, lookup)
	return code, stdout.String(), stderr.String()
}

func TestMainCheckPrintsReport(t *testing.T) {
	forms := map[string][]string{
		"installed as stf":       append([]string{"/usr/local/bin/stf"}, unitCommandLines["stf-app@3100"]...),
		"stf-standin with stf":   append([]string{"stf-standin", "--check", "stf"}, unitCommandLines["stf-app@3100"]...),
		"stf-standin subcommand": append([]string{"stf-standin", "--check"}, unitCommandLines["stf-app@3100"]...),
	}
	for name, args := range forms {
		lookup := env("SECRET", "golden-secret", "STF_STANDIN_CHECK", "1")
		code, stdout, stderr := runMain(t, lookup, args...)
		if code != exitOK {
			t.Errorf("%s: exit status %d, stderr %s", name, code, stderr)
			continue
		}
		var report CheckReport
		if err := json.Unmarshal([]byte(stdout), &report); err != nil {
			t.Errorf("%s: the report is not JSON: %v: %s", name, err, stdout)
			continue
		}
		if report.Program != "stf" || report.Subcommand != "app" {
			t.Errorf("%s: report names %s %s, want stf app", name, report.Program, report.Subcommand)
		}
		if got := report.Flags["auth-url"]; len(got) != 1 || got[0] != "http://192.168.56.101/auth/mock/" {
			t.Errorf("%s: auth-url = %q", name, got)
		}
		if strings.Contains(stdout, "golden-secret") {
			t.Errorf("%s: the report shows the secret: %s", name, stdout)
		}
	}
}

func TestMainCheckDoesNotListen(t *testing.T) {
	// The port is in use, so the check passes only if it never tries to listen.
	occupant, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer occupant.Close()
	_, port, _ := net.SplitHostPort(occupant.Addr().String())
	code, _, stderr := runMain(t, env("STF_STANDIN_CHECK", "true", "STF_STANDIN_BIND_HOST", loopback),
		"stf", "storage-temp", "--port", port)
	if code != exitOK {
		t.Fatalf("exit status %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("check mode logged %q, want nothing", stderr)
	}
}

func TestMainUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"stf", "ap"}, `stf: unknown subcommand "ap"`},
		{[]string{"stf", "app", "--prot", "3000"}, "stf app: unknown flag --prot"},
		{[]string{"stf", "rethinkdb"}, `stf: unknown subcommand "rethinkdb"`},
		{[]string{"stf-standin", "--check", "stf", "migrate", "--force"}, "stf migrate: unknown flag --force. This subcommand takes no flags"},
		{[]string{"rethinkdb", "--port", "1"}, "rethinkdb: unknown flag --port"},
		{[]string{"stf-standin"}, "Usage:"},
	}
	for _, c := range cases {
		code, stdout, stderr := runMain(t, env("SECRET", "s"), c.args...)
		if code != exitUsage {
			t.Errorf("%q: exit status %d, want %d", c.args, code, exitUsage)
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("%q: stderr %q does not contain %q", c.args, stderr, c.want)
		}
		if stdout != "" {
			t.Errorf("%q: printed %q on standard output", c.args, stdout)
		}
	}
	code, _, stderr := runMain(t, env("STF_STANDIN_CONNECT_TIMEOUT", "soon"), "stf", "migrate")
	if code != exitUsage || !strings.Contains(stderr, "STF_STANDIN_CONNECT_TIMEOUT") {
		t.Errorf("an invalid setting: exit status %d, stderr %q", code, stderr)
	}
}

func TestMainHelp(t *testing.T) {
	cases := map[string][]string{
		"stf-standin":      {"stf-standin", "--help"},
		"stf":              {"stf", "--help"},
		"stf provider":     {"stf", "provider", "--help"},
		"rethinkdb":        {"rethinkdb", "-h"},
		"stf-standin stf":  {"stf-standin", "stf", "app", "-h"},
		"no-flag migrate":  {"stf", "migrate", "--help"},
		"check and help":   {"stf-standin", "--check", "websocket", "--help"},
		"subcommand typo?": {"stf", "storage-temp", "--help", "--bogus"},
	}
	for name, args := range cases {
		code, stdout, stderr := runMain(t, env(), args...)
		if code != exitOK || !strings.HasPrefix(stdout, "Usage:") {
			t.Errorf("%s: exit status %d, stdout %q, stderr %q", name, code, stdout, stderr)
		}
	}
	_, stdout, _ := runMain(t, env(), "stf", "provider", "--help")
	for _, flag := range []string{"--min-port", "--screen-ws-url-pattern", "STF_PROVIDER_MIN_PORT"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("stf provider --help does not mention %s:\n%s", flag, stdout)
		}
	}
}

func TestMainMigrateExitStatus(t *testing.T) {
	fake, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	code, _, stderr := runMain(t, env("RETHINKDB_PORT_28015_TCP", "tcp://"+fake.Addr().String()), "stf", "migrate")
	if code != exitOK {
		t.Errorf("migrate against a listening RethinkDB: exit status %d: %s", code, stderr)
	}

	port := freePort(t)
	start := time.Now()
	code, _, stderr = runMain(t, env("RETHINKDB_PORT_28015_TCP", "tcp://127.0.0.1:"+strconv.Itoa(port),
		"STF_STANDIN_CONNECT_TIMEOUT", "500ms"), "stf", "migrate")
	if code != exitFailure {
		t.Errorf("migrate with nothing listening: exit status %d, want %d: %s", code, exitFailure, stderr)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("migrate with nothing listening took %s, want about 500ms", elapsed)
	}
	if !strings.Contains(stderr, "level=ERROR msg=\"migrate failed\"") {
		t.Errorf("migrate failure is not logged as an error:\n%s", stderr)
	}
}

// logAddress matches the address attribute of a log line.
var logAddress = regexp.MustCompile(`\baddress=(\S+)`)

// listenedAddress returns the address of the "listening" log line of a listener, or "".
func listenedAddress(log, listener string) string {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg=listening") || !strings.Contains(line, " listener="+listener+" ") {
			continue
		}
		if match := logAddress.FindStringSubmatch(line); match != nil {
			return match[1]
		}
	}
	return ""
}

func TestMainServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"stf-standin", "rethinkdb", "--bind", loopback,
			"--driver-port", "0", "--cluster-port", "0", "--http-port", "0"},
			&bytes.Buffer{}, stderr, env("STF_STANDIN_MACHINE", "db"))
	}()
	waitForLog(t, stderr, "listener=http", 2*time.Second)

	address := listenedAddress(stderr.String(), "http")
	if address == "" {
		t.Fatalf("no HTTP address in the log:\n%s", stderr.String())
	}
	answer := getResponse(t, address, "/", "db:8080")
	if answer.Role != "rethinkdb" || answer.Machine != "db" {
		t.Errorf("answer = %+v", answer)
	}

	start := time.Now()
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit status %d after a stop request, want 0", code)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Main did not return within 2s of the stop request")
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Main took %s to stop, want under a second", elapsed)
	}
	for _, line := range []string{"msg=\"starting the stand-in for rethinkdb\"", "msg=stopping", "msg=stopped"} {
		if !strings.Contains(stderr.String(), line) {
			t.Errorf("the log has no %s line:\n%s", line, stderr.String())
		}
	}
}
