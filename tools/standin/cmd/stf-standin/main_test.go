package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildOnce builds the program once per test run, statically, as the image needs it.
var buildOnce struct {
	sync.Once
	dir string
	err error
}

// buildStandIn returns a folder holding the program as stf-standin and as stf.
func buildStandIn(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stf-standin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.dir = dir
		build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "stf-standin"), ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildOnce.err = errors.New("go build failed: " + err.Error() + "\n" + string(out))
			return
		}
		buildOnce.err = os.Symlink("stf-standin", filepath.Join(dir, "stf"))
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.dir != "" {
		_ = os.RemoveAll(buildOnce.dir)
	}
	os.Exit(code)
}

func TestBinaryIsStatic(t *testing.T) {
	file, err := elf.Open(filepath.Join(buildStandIn(t), "stf-standin"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, program := range file.Progs {
		if program.Type == elf.PT_INTERP {
			t.Fatal("the program needs a dynamic loader; build it with CGO_ENABLED=0 so it runs in an empty image")
		}
	}
}

// lineWatcher collects a process's standard error and reports when a line matches.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
}

func (w *lineWatcher) collect(scanner *bufio.Scanner) {
	for scanner.Scan() {
		w.mu.Lock()
		w.lines = append(w.lines, scanner.Text())
		w.mu.Unlock()
	}
}

func (w *lineWatcher) wait(t *testing.T, pattern *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, line := range w.lines {
			if match := pattern.FindStringSubmatch(line); match != nil {
				w.mu.Unlock()
				return match
			}
		}
		w.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line matches %s; the log is:\n%s", pattern, w.String())
	return nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

func TestBinaryRunsAsSTFAndStopsOnSIGTERM(t *testing.T) {
	dir := buildStandIn(t)
	// argv[0] is "stf" and argv[1] the subcommand, as `docker run IMAGE stf websocket`
	// runs it when the image installs the program as /usr/local/bin/stf.
	cmd := exec.Command(filepath.Join(dir, "stf"), "websocket", "--port", "0",
		"--storage-url", "http://farm.test/",
		"--connect-sub", "tcp://127.0.0.1:1", "--connect-push", "tcp://127.0.0.1:1")
	cmd.Args[0] = "stf"
	cmd.Env = []string{"SECRET=test-secret", "STF_STANDIN_BIND_HOST=127.0.0.1", "STF_STANDIN_MACHINE=core-01"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	watcher := &lineWatcher{}
	collected := make(chan struct{})
	go func() {
		watcher.collect(bufio.NewScanner(stderr))
		close(collected)
	}()

	address := watcher.wait(t, regexp.MustCompile(`msg=listening .*address=(\S+)`))[1]
	response, err := http.Get("http://" + address + "/socket.io/")
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Role, Machine, Path string }
	err = json.NewDecoder(response.Body).Decode(&answer)
	response.Body.Close()
	if err != nil || answer.Role != "websocket" || answer.Machine != "core-01" || answer.Path != "/socket.io/" {
		t.Errorf("answer = %+v, err = %v", answer, err)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-collected
	err = cmd.Wait()
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("the program took %s to exit after SIGTERM, want under a second", elapsed)
	}
	if err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0\n%s", err, watcher.String())
	}
	if log := watcher.String(); !strings.Contains(log, "msg=stopped") || strings.Contains(log, "test-secret") {
		t.Errorf("the log lacks the stopped line or shows the secret:\n%s", log)
	}
}

func TestBinaryRejectsUnknownFlag(t *testing.T) {
	dir := buildStandIn(t)
	cmd := exec.Command(filepath.Join(dir, "stf"), "storage-temp", "--port", "3000", "--save-dri", "/data")
	cmd.Args[0] = "stf"
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("err = %v, want exit status 2; output %s", err, out)
	}
	if !strings.Contains(string(out), "stf storage-temp: unknown flag --save-dri (did you mean --save-dir?)") {
		t.Errorf("output %q does not explain the unknown flag", out)
	}
}
