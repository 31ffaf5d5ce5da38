package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// killGrace is how long a command may take to exit after SIGTERM before the
// whole process group gets SIGKILL.
const killGrace = 2 * time.Second

// drainLimit bounds how long we keep reading output after the command's
// process group was killed, in case a process that left the group still
// holds the output pipes open.
const drainLimit = 5 * time.Second

// spec describes one command to run.
type spec struct {
	// Command is the text handed to the interpreter as its last argument.
	Command string
	// Interpreter is the program and leading arguments; empty means /bin/sh -c.
	Interpreter []string
	// Dir is the working directory; empty means the provider's own.
	Dir string
	// Env is the complete environment of the process.
	Env []string
	// Stdin is written to the process's standard input; empty means none.
	Stdin string
	// LogStdout and LogStderr choose which streams are passed, one line at a
	// time, to OnLine while the command runs.
	LogStdout, LogStderr bool
	OnLine               func(line string)
	// Display is the name of the command in error messages. It differs from
	// Command when the command text is a secret.
	Display string
}

// result holds the captured output of a command that exited with status 0.
type result struct {
	Stdout, Stderr string
}

// runCommand runs s and waits for it. It returns an error when the command
// cannot start, exits with a non-zero status, or when ctx ends first. In the
// last case the command's whole process group is stopped (SIGTERM, then
// SIGKILL after killGrace), and the error wraps context.Cause(ctx).
//
// As with the official provider, one trailing newline is removed from the
// captured stdout and stderr.
func runCommand(ctx context.Context, s spec) (result, error) {
	args := s.Interpreter
	if len(args) == 0 {
		args = []string{"/bin/sh", "-c"}
	}
	args = append(append([]string(nil), args...), s.Command)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = s.Env
	// A process group of its own lets us stop the command together with
	// everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.Stdin != "" {
		cmd.Stdin = strings.NewReader(s.Stdin)
	}

	// The streams go through pipes that we read ourselves, so that waiting
	// for the process and waiting for its output are separate steps.
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return result{}, err
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return result{}, err
	}
	cmd.Stdout = stdoutW
	cmd.Stderr = stderrW

	var stdout, stderr bytes.Buffer
	combined := &lockedBuffer{}
	stdoutLines := &lineWriter{emit: s.OnLine, enabled: s.LogStdout && s.OnLine != nil}
	stderrLines := &lineWriter{emit: s.OnLine, enabled: s.LogStderr && s.OnLine != nil}

	startErr := cmd.Start()
	// The child has its own copies of the write ends now.
	stdoutW.Close()
	stderrW.Close()
	if startErr != nil {
		stdoutR.Close()
		stderrR.Close()
		return result{}, fmt.Errorf("starting %s: %w", s.Display, startErr)
	}

	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		_, _ = io.Copy(io.MultiWriter(&stdout, combined, stdoutLines), stdoutR)
	}()
	go func() {
		defer readers.Done()
		_, _ = io.Copy(io.MultiWriter(&stderr, combined, stderrLines), stderrR)
	}()
	outputDone := make(chan struct{})
	go func() {
		readers.Wait()
		close(outputDone)
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var waitErr error
	stopped := false
	select {
	case waitErr = <-exited:
		// The process has exited; background children may still write.
		select {
		case <-outputDone:
		case <-ctx.Done():
			stopGroup(cmd.Process.Pid, nil)
			stopped = true
		}
	case <-ctx.Done():
		waitErr = stopGroup(cmd.Process.Pid, exited)
		stopped = true
	}
	if stopped {
		select {
		case <-outputDone:
		case <-time.After(drainLimit):
		}
	}
	stdoutR.Close()
	stderrR.Close()
	<-outputDone
	stdoutLines.flush()
	stderrLines.flush()

	if stopped {
		cause := context.Cause(ctx)
		return result{}, fmt.Errorf("%s was stopped: %w%s", s.Display, cause, outputSuffix(combined.String()))
	}
	if waitErr != nil {
		var exitErr *exec.ExitError
		if errors.As(waitErr, &exitErr) {
			return result{}, fmt.Errorf("%s failed: %s%s", s.Display, exitErr.ProcessState, outputSuffix(combined.String()))
		}
		return result{}, fmt.Errorf("%s failed: %w%s", s.Display, waitErr, outputSuffix(combined.String()))
	}
	return result{
		Stdout: strings.TrimSuffix(stdout.String(), "\n"),
		Stderr: strings.TrimSuffix(stderr.String(), "\n"),
	}, nil
}

// stopGroup sends SIGTERM to the process group pgid and, if it is still
// there after killGrace, SIGKILL. When exited is not nil it also waits for
// the leader's exit status and returns it.
func stopGroup(pgid int, exited <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	if exited == nil {
		time.Sleep(killGrace / 4)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	}
	select {
	case err := <-exited:
		// The leader is gone; make sure nothing else of the group stays.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return err
	case <-time.After(killGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-exited
	}
}

func outputSuffix(output string) string {
	output = strings.TrimRight(output, "\n")
	if output == "" {
		return ""
	}
	return "\n" + output
}

// lockedBuffer is a bytes.Buffer that two goroutines may write at once; it
// keeps stdout and stderr interleaved in the order they arrived.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWriter passes each complete line written to it to emit. Only one
// goroutine writes to a given lineWriter.
type lineWriter struct {
	emit    func(string)
	enabled bool
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if !w.enabled {
		return len(p), nil
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.emit(strings.TrimSuffix(string(w.partial[:i]), "\r"))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// flush passes on a last line that had no newline.
func (w *lineWriter) flush() {
	if w.enabled && len(w.partial) > 0 {
		w.emit(string(w.partial))
		w.partial = nil
	}
}
