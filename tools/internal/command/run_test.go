package command

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRunCapturesOutputAndTrimsOneNewline(t *testing.T) {
	out, err := runCommand(context.Background(), spec{
		Command: `printf 'a\n\n'; printf 'warn\n' >&2`,
		Display: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "a\n" || out.Stderr != "warn" {
		t.Fatalf("got stdout %q and stderr %q, want %q and %q", out.Stdout, out.Stderr, "a\n", "warn")
	}
}

func TestRunPassesStdinEnvironmentAndDir(t *testing.T) {
	dir := t.TempDir()
	out, err := runCommand(context.Background(), spec{
		Command: `read line; echo "$line $GREETING $(pwd)"`,
		Stdin:   "from-stdin\n",
		Env:     append(os.Environ(), "GREETING=hello"),
		Dir:     dir,
		Display: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "from-stdin hello " + dir; out.Stdout != want {
		t.Fatalf("got %q, want %q", out.Stdout, want)
	}
}

func TestRunReportsExitStatusAndOutput(t *testing.T) {
	_, err := runCommand(context.Background(), spec{
		Command: "echo out; echo broken >&2; exit 7",
		Display: `command "x"`,
	})
	if err == nil {
		t.Fatal("a failing command reported success")
	}
	for _, want := range []string{`command "x" failed`, "exit status 7", "out", "broken"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRunStreamsSelectedLines(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	_, err := runCommand(context.Background(), spec{
		Command:   "echo one; echo two >&2; printf 'three'",
		LogStdout: true,
		OnLine: func(line string) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, line)
		},
		Display: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(lines, ",") != "one,three" {
		t.Fatalf("logged %q, want only the stdout lines [one three]", lines)
	}
}

// A context that ends stops the whole process group, including children
// that the command left running in the background.
func TestRunStopsProcessGroupWhenContextEnds(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	limit := errors.New("test limit reached")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 500*time.Millisecond, limit)
	defer cancel()

	start := time.Now()
	_, err := runCommand(ctx, spec{
		Command: "trap '' TERM; sleep 300 & echo $! > " + pidFile + "; wait",
		Display: "test",
	})
	if !errors.Is(err, limit) {
		t.Fatalf("got error %v, want one that wraps the context's cause", err)
	}
	if elapsed := time.Since(start); elapsed > killGrace+3*time.Second {
		t.Fatalf("stopping took %s", elapsed)
	}
	data, readErr := os.ReadFile(pidFile)
	if readErr != nil {
		t.Fatal(readErr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the background process %d survived", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	fields := strings.Fields(rest)
	return len(fields) > 0 && fields[0] == "Z"
}

func TestRunUsesInterpreter(t *testing.T) {
	out, err := runCommand(context.Background(), spec{
		Interpreter: []string{"/bin/sh", "-c", `echo "last: $1"`, "sh"},
		Command:     "word",
		Display:     "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "last: word" {
		t.Fatalf("got %q", out.Stdout)
	}
}
