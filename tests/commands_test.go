package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
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

// The program drops comment lines and blank lines from the scripts it sends as command
// texts. That is safe only while no script has a string or here-document over several
// lines, where such a line would be data. Each command must still parse.
func TestCommandTextsParseWithoutComments(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join(projectDir(t), "files", "scripts", "*.sh"))
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	for _, path := range scripts {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		for n, line := range strings.Split(string(data), "\n") {
			trimmed := strings.TrimSpace(line)
			if strings.HasPrefix(trimmed, "#") {
				continue
			}
			assert.NotContains(t, line, "<<", "%s:%d has a here-document", filepath.Base(path), n+1)
			unescaped := strings.ReplaceAll(line, `\'`, "")
			unescaped = strings.ReplaceAll(unescaped, `\"`, "")
			assert.Zero(t, strings.Count(unescaped, "'")%2, "%s:%d opens a string that the line does not close: %s",
				filepath.Base(path), n+1, line)
			assert.Zero(t, strings.Count(unescaped, `"`)%2, "%s:%d opens a string that the line does not close: %s",
				filepath.Base(path), n+1, line)
		}
	}

	mocks, _ := runDev(t)
	commands := mocks.ofType(commandType)
	require.NotEmpty(t, commands)
	for _, r := range commands {
		for _, key := range []resource.PropertyKey{"create", "update", "delete"} {
			v, ok := r.Inputs[key]
			if !ok || !v.IsString() {
				continue
			}
			text := v.StringValue()
			for _, line := range strings.Split(text, "\n")[1:] {
				assert.False(t, strings.HasPrefix(strings.TrimSpace(line), "#"), "%s %s keeps a comment line: %s", r.Name, key, line)
			}
			out, err := exec.Command("sh", "-n", "-c", text).CombinedOutput()
			assert.NoError(t, err, "%s %s does not parse:\n%s", r.Name, key, out)
		}
	}
}
