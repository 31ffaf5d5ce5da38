package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// requireTool returns the path of a program that a test runs for real. A missing program
// fails the test and names the Debian package that provides it. These tests check the
// farm's files against the programs that read them, so skipping would hide a broken file.
func requireTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	// Debian installs daemons such as nginx in sbin folders, which the PATH of a
	// non-root user often lacks.
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return path
		}
	}
	t.Fatalf("%s is not installed, and this test runs the real program instead of skipping: "+
		"install the Debian package %s (apt-get install %s)", name, debianPackage, debianPackage)
	return ""
}

// toolRun is the outcome of one finished program run.
type toolRun struct {
	// Output is the program's standard output and standard error, interleaved.
	Output string
	// Duration is the wall-clock time from start to exit.
	Duration time.Duration
	// Err is nil when the program exited with status 0.
	Err error
}

// runTool runs a program to completion in dir and kills it after timeout. env replaces
// the test process's environment when it is not nil.
func runTool(t testing.TB, timeout time.Duration, dir string, env []string, program string, args ...string) toolRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Dir = dir
	cmd.Env = env
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	// Children that keep the output pipes open must not hold the test past the timeout.
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	err := cmd.Run()
	run := toolRun{Output: output.String(), Duration: time.Since(start), Err: err}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		run.Err = errors.Join(err, errors.New(filepath.Base(program)+" timed out after "+timeout.String()))
	}
	return run
}
