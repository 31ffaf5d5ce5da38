package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/require"
)

// commandRun is the result of running one of a Command resource's scripts.
type commandRun struct {
	Stdout, Stderr string
	Err            error
}

// runRegisteredCommand runs the create, update or delete script of a command the
// program registered, the way the command provider does: with /bin/sh -c, the
// resource's environment on top of the test's, and overrides applied last. It fails the
// test when the script does not finish within timeout.
func runRegisteredCommand(t *testing.T, r registered, operation string, overrides map[string]string,
	timeout time.Duration) commandRun {
	t.Helper()
	input, ok := r.Inputs[resource.PropertyKey(operation)]
	require.True(t, ok && input.IsString(), "%s has no %s script", r.Name, operation)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", input.StringValue())
	// The script starts children (ssh, fleetctl) that keep the output pipes open, so a
	// timeout kills the whole process group, and Wait gives up on the pipes soon after.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = os.Environ()
	for k, v := range r.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range overrides {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "%s %s did not finish within %s; stderr:\n%s", r.Name, operation, timeout, stderr.String())
	return commandRun{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// toolPath returns the path of a tool the project builds into bin/, failing the test
// with the command that builds it when it is missing.
func toolPath(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(projectDir(t), "bin", name)
	_, err := os.Stat(path)
	require.NoError(t, err, "%s is missing: run `make tools` first", path)
	return path
}

func resourceKeyOf(name string) resource.PropertyKey {
	return resource.PropertyKey(name)
}
