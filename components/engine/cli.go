package engine

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

const usage = `usage: stf-farm COMMAND [--stack NAME]
       stf-farm pulumi ARGUMENTS...

Runs the farm's program through the Pulumi engine, with state in a local file backend
inside the project unless PULUMI_BACKEND_URL says otherwise. The stack is local unless
--stack names another.

Commands:
  preview   show what up would change, with a diff of every input
  up        create or update the farm, then print its URL
  refresh   refresh the stack state (commands keep the outputs they recorded)
  down      destroy every resource of the stack
  outputs   print the stack outputs
  pulumi    run the Pulumi CLI with the same backend, passphrase and plugins, for
            example: stf-farm pulumi config set --secret stf-farm:stfSecret --stack dev
`

// Main runs one command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	command := args[0]
	switch command {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "pulumi":
		return runPulumi(args[1:], stdout, stderr)
	}
	flags := flag.NewFlagSet(command, flag.ContinueOnError)
	flags.SetOutput(stderr)
	stack := flags.String("stack", "local", "name of the stack, for example dev")
	if err := flags.Parse(args[1:]); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q: name the stack with --stack\n%s", flags.Arg(0), usage)
		return 2
	}

	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, command, Options{ProjectDir: dir, Stack: *stack, Progress: stdout}, stdout); err != nil {
		fmt.Fprintf(stderr, "stf-farm %s --stack %s failed: %v\n", command, *stack, err)
		return 1
	}
	return 0
}

func run(ctx context.Context, command string, opts Options, stdout io.Writer) error {
	switch command {
	case "preview", "up", "refresh", "down", "outputs":
	default:
		return fmt.Errorf("unknown command %q\n%s", command, usage)
	}

	stack, err := OpenStack(ctx, opts)
	if err != nil {
		return err
	}
	return ExplainPassphrase(opts, operate(ctx, command, stack, opts, stdout))
}

// operate runs command on an open stack.
func operate(ctx context.Context, command string, stack auto.Stack, opts Options, stdout io.Writer) error {
	switch command {
	case "preview":
		result, err := PreviewDiff(ctx, stack, opts.Progress)
		if err != nil {
			return err
		}
		printSummary(stdout, "preview", result.ChangeSummary)
	case "up":
		result, err := stack.Up(ctx, optup.ProgressStreams(opts.Progress))
		if err != nil {
			return err
		}
		printOutputs(stdout, result.Outputs)
	case "refresh":
		_, err := stack.Refresh(ctx, optrefresh.ProgressStreams(opts.Progress))
		return err
	case "down":
		_, err := stack.Destroy(ctx, optdestroy.ProgressStreams(opts.Progress))
		return err
	case "outputs":
		outputs, err := stack.Outputs(ctx)
		if err != nil {
			return err
		}
		printOutputs(stdout, outputs)
	}
	return nil
}

func printSummary(w io.Writer, operation string, summary map[apitype.OpType]int) {
	ops := make([]string, 0, len(summary))
	for op := range summary {
		ops = append(ops, string(op))
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "\n%s summary:", operation)
	for _, op := range ops {
		fmt.Fprintf(w, " %s=%d", op, summary[apitype.OpType(op)])
	}
	fmt.Fprintln(w)
}

// printOutputs prints every stack output as JSON, secrets as [secret], then the URL.
func printOutputs(w io.Writer, outputs auto.OutputMap) {
	names := make([]string, 0, len(outputs))
	for name := range outputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out := outputs[name]
		if out.Secret {
			fmt.Fprintf(w, "%s: [secret]\n", name)
			continue
		}
		text, err := json.MarshalIndent(out.Value, "", "  ")
		if err != nil {
			text = []byte(fmt.Sprint(out.Value))
		}
		fmt.Fprintf(w, "%s: %s\n", name, text)
	}
	if len(outputs) == 0 {
		fmt.Fprintln(w, "The stack has no outputs yet: run up first.")
	}
	if url, ok := outputs["stfUrl"]; ok && !url.Secret {
		fmt.Fprintf(w, "\nSTF is at %v\n", url.Value)
	}
}

// IsEngineCommand reports whether the process was started to drive the engine rather
// than as the program: the Pulumi language host always sets PULUMI_MONITOR for the program.
func IsEngineCommand() bool {
	return os.Getenv("PULUMI_MONITOR") == ""
}

// PreviewDiff previews stack the way `stf-farm preview` shows it: the full plan with
// each change's diff, and the program's warnings, written to out. With diffs, the CLI
// writes warnings to its standard error, so both streams go to out.
func PreviewDiff(ctx context.Context, stack auto.Stack, out io.Writer) (auto.PreviewResult, error) {
	return Preview(ctx, stack, optpreview.Diff(), optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(out))
}

// runPulumi runs the Pulumi CLI that the engine uses (bin/pulumi, else pulumi on PATH)
// with the engine's environment, so commands such as `config set --secret` reach the
// project's backend with its passphrase.
func runPulumi(args []string, stdout, stderr io.Writer) int {
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	env, err := Environment(dir, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cli := filepath.Join(dir, "bin", "pulumi")
	if _, err := os.Stat(cli); err != nil {
		cli = "pulumi"
	}
	cmd := exec.Command(cli, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Env = os.Environ()
	for name, value := range env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintf(stderr, "stf-farm pulumi: %v (build the CLI with `make tools`)\n", err)
		return 1
	}
	return 0
}
