package conformance

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const commandType = "command:local:Command"

// logStep returns a shell command that appends "STEP $VALUE" to path, so a
// test can see which command ran and with which environment.
func logStep(path, step string) string {
	return `echo "` + step + ` $VALUE" >> ` + shellQuote(path)
}

// An input change runs "update", or "create" again when there is no update
// command. A triggers change replaces the resource, and the old resource's
// delete command runs with the environment recorded in the state.
func TestUpdateRunsUpdateAndTriggersReplace(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	withUpdate, withoutUpdate := h.path("with-update.log"), h.path("without-update.log")
	value, trigger := "one", "a"
	s := h.stack(func(ctx *pulumi.Context) error {
		env := pulumi.StringMap{"VALUE": pulumi.String(value)}
		triggers := pulumi.Array{pulumi.String(trigger)}
		if _, err := local.NewCommand(ctx, "withUpdate", &local.CommandArgs{
			Create:      pulumi.String(logStep(withUpdate, "create")),
			Update:      pulumi.String(logStep(withUpdate, "update")),
			Delete:      pulumi.String(logStep(withUpdate, "delete")),
			Environment: env,
			Triggers:    triggers,
		}); err != nil {
			return err
		}
		_, err := local.NewCommand(ctx, "withoutUpdate", &local.CommandArgs{
			Create:      pulumi.String(logStep(withoutUpdate, "create")),
			Delete:      pulumi.String(logStep(withoutUpdate, "delete")),
			Environment: env,
			Triggers:    triggers,
		})
		return err
	})

	s.up()
	wantLines(t, withUpdate, "create one")
	wantLines(t, withoutUpdate, "create one")

	value = "two"
	res := s.up()
	if got := changes(res.Summary.ResourceChanges, "update"); got != 2 {
		t.Fatalf("changing the environment updated %d resources, want 2 (summary %v)", got, *res.Summary.ResourceChanges)
	}
	if got := changes(res.Summary.ResourceChanges, "replace"); got != 0 {
		t.Fatalf("changing the environment replaced %d resources, want 0", got)
	}
	wantLines(t, withUpdate, "create one", "update two")
	wantLines(t, withoutUpdate, "create one", "create two")

	value, trigger = "three", "b"
	res = s.up()
	if got := changes(res.Summary.ResourceChanges, "replace"); got != 2 {
		t.Fatalf("changing triggers replaced %d resources, want 2 (summary %v)", got, *res.Summary.ResourceChanges)
	}
	// The replacement is created first; the old resource is then deleted
	// with the environment it was last run with.
	wantLines(t, withUpdate, "create one", "update two", "create three", "delete two")
	wantLines(t, withoutUpdate, "create one", "create two", "create three", "delete two")

	s.destroy()
	wantLines(t, withUpdate, "create one", "update two", "create three", "delete two", "delete three")
}

// With the deleteBeforeReplace option the old resource's delete command runs
// before the replacement's create command; without it, after.
func TestDeleteBeforeReplaceOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	deleteFirst, createFirst := h.path("delete-first.log"), h.path("create-first.log")
	generation := "1"
	s := h.stack(func(ctx *pulumi.Context) error {
		env := pulumi.StringMap{"VALUE": pulumi.String(generation)}
		triggers := pulumi.Array{pulumi.String(generation)}
		if _, err := local.NewCommand(ctx, "deleteFirst", &local.CommandArgs{
			Create:      pulumi.String(logStep(deleteFirst, "create")),
			Delete:      pulumi.String(logStep(deleteFirst, "delete")),
			Environment: env,
			Triggers:    triggers,
		}, pulumi.DeleteBeforeReplace(true)); err != nil {
			return err
		}
		_, err := local.NewCommand(ctx, "createFirst", &local.CommandArgs{
			Create:      pulumi.String(logStep(createFirst, "create")),
			Delete:      pulumi.String(logStep(createFirst, "delete")),
			Environment: env,
			Triggers:    triggers,
		})
		return err
	})

	s.up()
	generation = "2"
	s.up()
	wantLines(t, deleteFirst, "create 1", "delete 1", "create 2")
	wantLines(t, createFirst, "create 1", "create 2", "delete 1")
}

// Update and delete commands see the previous stdout and stderr in
// PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR, unless
// addPreviousOutputInEnv is false. Delete also runs in the recorded dir.
// Captured output loses one trailing newline.
func TestPreviousOutputInEnvironment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	withPrevious, withoutPrevious := h.path("with-previous.log"), h.path("without-previous.log")
	runDir := h.path("run-dir")
	if err := os.Mkdir(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	value := "x1"
	s := h.stack(func(ctx *pulumi.Context) error {
		env := pulumi.StringMap{"VALUE": pulumi.String(value)}
		with, err := local.NewCommand(ctx, "withPrevious", &local.CommandArgs{
			Create: pulumi.String(`echo first; echo first-err >&2`),
			Update: pulumi.String(`echo "update saw [$PULUMI_COMMAND_STDOUT] [$PULUMI_COMMAND_STDERR] $VALUE" >> ` +
				shellQuote(withPrevious) + `; echo second`),
			Delete: pulumi.String(`echo "delete saw [$PULUMI_COMMAND_STDOUT] [${PULUMI_COMMAND_STDERR-unset}] in $(pwd) with $VALUE" >> ` +
				shellQuote(withPrevious)),
			Dir:         pulumi.String(runDir),
			Environment: env,
		})
		if err != nil {
			return err
		}
		ctx.Export("stdout", with.Stdout)
		ctx.Export("stderr", with.Stderr)
		_, err = local.NewCommand(ctx, "withoutPrevious", &local.CommandArgs{
			Create:                 pulumi.String(`echo first`),
			Update:                 pulumi.String(`echo "update saw [${PULUMI_COMMAND_STDOUT-unset}]" >> ` + shellQuote(withoutPrevious)),
			Delete:                 pulumi.String(`echo "delete saw [${PULUMI_COMMAND_STDOUT-unset}]" >> ` + shellQuote(withoutPrevious)),
			Environment:            env,
			AddPreviousOutputInEnv: pulumi.Bool(false),
		})
		return err
	})

	s.up()
	if got := s.output("stdout").Value; got != "first" {
		t.Fatalf("stdout after create is %q, want %q", got, "first")
	}
	if got := s.output("stderr").Value; got != "first-err" {
		t.Fatalf("stderr after create is %q, want %q", got, "first-err")
	}

	value = "x2"
	s.up()
	wantLines(t, withPrevious, "update saw [first] [first-err] x2")
	if got := s.output("stdout").Value; got != "second" {
		t.Fatalf("stdout after update is %q, want %q", got, "second")
	}

	s.destroy()
	// The update printed nothing on stderr, so PULUMI_COMMAND_STDERR is not
	// set at all for the delete command.
	wantLines(t, withPrevious,
		"update saw [first] [first-err] x2",
		"delete saw [second] [unset] in "+runDir+" with x2")
	wantLines(t, withoutPrevious, "update saw [unset]", "delete saw [unset]")
}

// stdin is passed to the command, and the command text is the last argument
// of the interpreter.
func TestStdinAndInterpreter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := h.stack(func(ctx *pulumi.Context) error {
		withStdin, err := local.NewCommand(ctx, "withStdin", &local.CommandArgs{
			Create: pulumi.String("cat"),
			Stdin:  pulumi.String("line one\nline two\n"),
		})
		if err != nil {
			return err
		}
		ctx.Export("stdin", withStdin.Stdout)
		interpreted, err := local.NewCommand(ctx, "interpreted", &local.CommandArgs{
			Interpreter: pulumi.StringArray{
				pulumi.String("/bin/sh"), pulumi.String("-c"), pulumi.String(`echo "argument: $1"`), pulumi.String("sh"),
			},
			Create: pulumi.String("hello"),
		})
		if err != nil {
			return err
		}
		ctx.Export("interpreted", interpreted.Stdout)
		return nil
	})

	s.up()
	if got := s.output("stdin").Value; got != "line one\nline two" {
		t.Fatalf("cat of stdin printed %q, want %q", got, "line one\nline two")
	}
	if got := s.output("interpreted").Value; got != "argument: hello" {
		t.Fatalf("the interpreter printed %q, want %q", got, "argument: hello")
	}
}

// A non-zero exit fails the step with an error that names the command and
// includes its stderr. A failed create leaves nothing in the state; a failed
// update keeps the previous state.
func TestFailingCommandFailsStep(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	failCreate := true
	updateCommand := "echo fine"
	s := h.stack(func(ctx *pulumi.Context) error {
		if failCreate {
			_, err := local.NewCommand(ctx, "failing", &local.CommandArgs{
				Create: pulumi.String("echo partial-output; echo boom-on-stderr >&2; exit 3"),
			})
			return err
		}
		stable, err := local.NewCommand(ctx, "stable", &local.CommandArgs{
			Create: pulumi.String("echo v1"),
			Update: pulumi.String(updateCommand),
		})
		if err != nil {
			return err
		}
		ctx.Export("stdout", stable.Stdout)
		return nil
	})

	_, err := s.tryUp()
	if err == nil {
		t.Fatal("up succeeded although the create command exits with status 3")
	}
	t.Logf("up failed as expected: %v", err)
	for _, want := range []string{"exit 3", "boom-on-stderr"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error does not contain %q:\n%v", want, err)
		}
	}
	if s.hasResource(commandType, "failing") {
		t.Fatal("a command whose create failed is in the state")
	}

	failCreate = false
	s.up()
	updateCommand = "echo update-broke >&2; exit 4"
	_, err = s.tryUp()
	if err == nil {
		t.Fatal("up succeeded although the update command exits with status 4")
	}
	for _, want := range []string{"exit 4", "update-broke"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error does not contain %q:\n%v", want, err)
		}
	}
	stable := s.resource(commandType, "stable")
	if got := stable.Outputs["stdout"]; got != "v1" {
		t.Fatalf("after a failed update the recorded stdout is %v, want the previous %q", got, "v1")
	}
}

// A command that hangs is stopped, with everything it started, when the
// customTimeouts of its create or update run out, and the step fails.
//
// NOTE: this and TestInterruptStopsRunningCommand have only run against the
// stand-in provider. Whether the official one also stops the processes a
// command leaves in the background is unverified.
func TestTimeoutStopsHungCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	createPID, updatePID := h.path("create.pid"), h.path("update.pid")
	hang := func(pidFile string) string {
		return "sleep 300 & echo $! > " + shellQuote(pidFile) + "; wait"
	}
	phase := "create"
	s := h.stack(func(ctx *pulumi.Context) error {
		if phase == "create" {
			_, err := local.NewCommand(ctx, "hangsOnCreate", &local.CommandArgs{
				Create: pulumi.String(hang(createPID)),
			}, pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "2s"}))
			return err
		}
		_, err := local.NewCommand(ctx, "hangsOnUpdate", &local.CommandArgs{
			Create:      pulumi.String("echo created"),
			Update:      pulumi.String(hang(updatePID)),
			Environment: pulumi.StringMap{"PHASE": pulumi.String(phase)},
		}, pulumi.Timeouts(&pulumi.CustomTimeouts{Update: "2s"}))
		return err
	})

	expectTimeout := func(pidFile string) {
		t.Helper()
		start := time.Now()
		_, err := s.tryUp()
		elapsed := time.Since(start)
		if err == nil {
			t.Fatal("up succeeded although the command hangs")
		}
		if elapsed > 90*time.Second {
			t.Fatalf("up took %s; the 2s timeout did not stop the command", elapsed)
		}
		t.Logf("up failed after %s as expected: %v", elapsed.Round(time.Millisecond), err)
		msg := strings.ToLower(err.Error())
		if !strings.Contains(msg, "timed out") && !strings.Contains(msg, "deadline") && !strings.Contains(msg, "timeout") {
			t.Fatalf("the error does not mention the timeout:\n%v", err)
		}
		waitGone(t, pidFile)
	}

	expectTimeout(createPID)
	phase = "update-1"
	s.up()
	phase = "update-2"
	expectTimeout(updatePID)
}

// waitGone fails the test unless the process whose id is in pidFile ends
// within a few seconds. A zombie (ended, not yet reaped) counts as gone.
func waitGone(t *testing.T, pidFile string) {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the command never wrote its process id: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("bad process id in %s: %v", pidFile, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(fields) > 0 && fields[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d started by the hung command is still running", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A preview runs no command and reports stdout as not yet known, both for a
// create and for an update.
func TestPreviewRunsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ran := h.path("ran.log")
	value := "one"
	// seen records every stdout value the program got to see. An apply
	// callback only runs for known values, so a preview adds nothing.
	var mu sync.Mutex
	var seen []string
	seenCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	s := h.stack(func(ctx *pulumi.Context) error {
		cmd, err := local.NewCommand(ctx, "quietInPreview", &local.CommandArgs{
			Create:      pulumi.String(logStep(ran, "create") + "; echo real-output"),
			Update:      pulumi.String(logStep(ran, "update") + "; echo real-output"),
			Delete:      pulumi.String(logStep(ran, "delete")),
			Environment: pulumi.StringMap{"VALUE": pulumi.String(value)},
		})
		if err != nil {
			return err
		}
		ctx.Export("stdout", cmd.Stdout.ApplyT(func(out string) string {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, out)
			return out
		}))
		return nil
	})

	res, _ := s.preview()
	if res.ChangeSummary["create"] == 0 {
		t.Fatalf("the preview plans no create: %v", res.ChangeSummary)
	}
	wantLines(t, ran)
	if n := seenCount(); n != 0 {
		t.Fatalf("the preview of a create reported a known stdout %q", seen)
	}

	s.up()
	wantLines(t, ran, "create one")
	if n := seenCount(); n != 1 || seen[0] != "real-output" {
		t.Fatalf("after up the program saw stdout %q, want [real-output]", seen)
	}

	value = "two"
	res, _ = s.preview()
	if res.ChangeSummary["update"] == 0 {
		t.Fatalf("the preview plans no update: %v", res.ChangeSummary)
	}
	wantLines(t, ran, "create one")
	if n := seenCount(); n != 1 {
		t.Fatalf("the preview of an update reported a known stdout %q", seen[1:])
	}

	s.up()
	wantLines(t, ran, "create one", "update two")
}

// Output lines appear in the engine's log while the command runs, filtered by
// the logging input.
func TestLoggingSelectsStreams(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := h.stack(func(ctx *pulumi.Context) error {
		both := "echo both-out; echo both-err >&2"
		if _, err := local.NewCommand(ctx, "logsBoth", &local.CommandArgs{Create: pulumi.String(both)}); err != nil {
			return err
		}
		if _, err := local.NewCommand(ctx, "logsStdout", &local.CommandArgs{
			Create:  pulumi.String("echo stdout-only-out; echo stdout-only-err >&2"),
			Logging: local.LoggingStdout,
		}); err != nil {
			return err
		}
		_, err := local.NewCommand(ctx, "logsNothing", &local.CommandArgs{
			Create:  pulumi.String("echo silent-out; echo silent-err >&2"),
			Logging: local.LoggingNone,
		})
		return err
	})

	_, evts := s.upWithEvents()
	var logged []string
	for _, e := range evts {
		if e.DiagnosticEvent != nil {
			logged = append(logged, e.DiagnosticEvent.Message)
		}
	}
	all := strings.Join(logged, "\n")
	for _, want := range []string{"both-out", "both-err", "stdout-only-out"} {
		if !strings.Contains(all, want) {
			t.Errorf("the engine log lacks %q; it holds:\n%s", want, all)
		}
	}
	for _, unwanted := range []string{"stdout-only-err", "silent-out", "silent-err"} {
		if strings.Contains(all, unwanted) {
			t.Errorf("the engine log holds %q although logging filters it out:\n%s", unwanted, all)
		}
	}
}

// Interrupting a deployment (the Automation API sends the CLI an interrupt
// signal when the context ends) makes the engine cancel the provider, which
// stops the running command together with everything it started.
func TestInterruptStopsRunningCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pidFile := h.path("hung.pid")
	s := h.stack(func(ctx *pulumi.Context) error {
		_, err := local.NewCommand(ctx, "hangs", &local.CommandArgs{
			Create: pulumi.String("sleep 300 & echo $! > " + shellQuote(pidFile) + "; wait"),
		})
		return err
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Interrupt as soon as the command is running.
		for ctx.Err() == nil {
			if data, err := os.ReadFile(pidFile); err == nil && len(data) > 0 {
				cancel()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	start := time.Now()
	_, err := s.stack.Up(ctx)
	if err == nil {
		t.Fatal("an interrupted up reported success")
	}
	t.Logf("up ended after %s: %v", time.Since(start).Round(time.Millisecond), err)
	waitGone(t, pidFile)
}
