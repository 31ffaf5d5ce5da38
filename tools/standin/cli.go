package standin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
)

// Exit statuses of Main.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// CheckReport is the output of check mode on standard output: the parsed command line,
// with defaults and environment values filled in and secrets redacted.
type CheckReport struct {
	Program     string              `json:"program"`
	Subcommand  string              `json:"subcommand"`
	Positionals []string            `json:"positionals"`
	Flags       map[string][]string `json:"flags"`
}

// Main runs the program with args as os.Args and returns its exit status: 0 on success
// or after a stop request, 1 when the service fails, and 2 for a command line that STF
// would reject. ctx ends when the process must stop, for example on SIGTERM.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, lookup LookupEnv) int {
	settings, err := SettingsFromEnv(lookup)
	if err != nil {
		fmt.Fprintln(stderr, "stf-standin: "+err.Error())
		return exitUsage
	}

	program := "stf-standin"
	if len(args) > 0 {
		program = filepath.Base(args[0])
	}
	var rest []string
	if len(args) > 1 {
		rest = args[1:]
	}

	var inv *Invocation
	var helpFor *commandSpec
	switch program {
	case "stf":
		inv, err = ParseSTF(rest, lookup)
		helpFor = helpTarget(rest)
	case "rethinkdb":
		inv, err = ParseRethinkDB(rest, lookup)
		helpFor = rethinkdbCommand
	default:
		if len(rest) > 0 && rest[0] == "--check" {
			settings.Check = true
			rest = rest[1:]
		}
		switch {
		case len(rest) == 0:
			fmt.Fprint(stderr, standInUsage())
			return exitUsage
		case rest[0] == "-h" || rest[0] == "--help":
			fmt.Fprint(stdout, standInUsage())
			return exitOK
		case rest[0] == "rethinkdb":
			inv, err = ParseRethinkDB(rest[1:], lookup)
			helpFor = rethinkdbCommand
		case rest[0] == "stf":
			inv, err = ParseSTF(rest[1:], lookup)
			helpFor = helpTarget(rest[1:])
		default:
			inv, err = ParseSTF(rest, lookup)
			helpFor = helpTarget(rest)
		}
	}

	var usage *UsageError
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, commandUsage(helpFor))
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, usage.Error())
		return exitUsage
	case err != nil:
		fmt.Fprintln(stderr, "stf-standin: "+err.Error())
		return exitUsage
	}

	if settings.Check {
		return printCheck(inv, stdout, stderr)
	}
	return serve(ctx, inv, settings, lookup, stderr)
}

func printCheck(inv *Invocation, stdout, stderr io.Writer) int {
	report := CheckReport{
		Program:     inv.Program,
		Subcommand:  inv.Subcommand(),
		Positionals: append([]string{}, inv.Positionals...),
		Flags:       inv.Redacted(),
	}
	encoder := json.NewEncoder(stdout)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(report); err != nil {
		fmt.Fprintln(stderr, "stf-standin: cannot write the check report: "+err.Error())
		return exitFailure
	}
	return exitOK
}

// serve runs the service until ctx ends, or runs migrate to completion.
func serve(ctx context.Context, inv *Invocation, settings Settings, lookup LookupEnv, stderr io.Writer) int {
	id := newIdentity(inv, settings)
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("role", id.role, "instance", id.instance)
	log.Info("starting the stand-in for "+inv.Program, "machine", id.machine, "args", describeArgs(inv))

	if inv.command.behaviour == behaviourMigrate {
		if err := Migrate(ctx, settings, lookup, log); err != nil {
			log.Error("migrate failed", "error", err)
			return exitFailure
		}
		log.Info("migrate finished")
		return exitOK
	}

	service, err := Start(inv, settings, log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitFailure
	}
	<-ctx.Done()
	log.Info("stopping")
	service.Close()
	log.Info("stopped")
	return exitOK
}

// describeArgs renders the parsed command line for the start log line, with secrets
// redacted and flags in the order of the command's table.
func describeArgs(inv *Invocation) string {
	parts := []string{inv.Program}
	if inv.command != rethinkdbCommand {
		parts = append(parts, inv.Subcommand())
	}
	parts = append(parts, inv.Positionals...)
	redacted := inv.Redacted()
	for _, spec := range inv.command.flags {
		for _, value := range redacted[spec.name] {
			parts = append(parts, "--"+spec.name+"="+value)
		}
	}
	return strings.Join(parts, " ")
}

// helpTarget returns the subcommand whose help an STF command line requests, or nil
// for the list of subcommands.
func helpTarget(args []string) *commandSpec {
	if len(args) == 0 {
		return nil
	}
	return findCommand(args[0])
}

func standInUsage() string {
	var b strings.Builder
	b.WriteString(`Usage:
  stf <subcommand> [flags]                        (installed under the name stf)
  rethinkdb [flags]                               (installed under the name rethinkdb)
  stf-standin [--check] [stf] <subcommand> [flags]
  stf-standin [--check] rethinkdb [flags]

A stand-in for STF's command line and for RethinkDB, for farms that cannot fetch STF's
images. It accepts the subcommands and flags of the farm's units, responds to HTTP
requests with JSON naming the service, and binds the ports STF would bind. --check, or
STF_STANDIN_CHECK=1, only validates the arguments.

Subcommands:
`)
	for _, c := range append(append([]*commandSpec{}, stfCommands...), rethinkdbCommand) {
		fmt.Fprintf(&b, "  %-22s %s\n", c.name, c.help)
	}
	b.WriteString("\nRun a subcommand with --help for its flags.\n")
	return b.String()
}

func commandUsage(c *commandSpec) string {
	if c == nil {
		return standInUsage()
	}
	var b strings.Builder
	name := "stf " + c.name
	if c == rethinkdbCommand {
		name = "rethinkdb"
	}
	fmt.Fprintf(&b, "Usage: %s", name)
	if c.positional != "" {
		if c.manyPositionals {
			fmt.Fprintf(&b, " [%s..]", c.positional)
		} else {
			fmt.Fprintf(&b, " [%s]", c.positional)
		}
	}
	fmt.Fprintf(&b, " [flags]\n\n%s\n", c.help)
	if len(c.flags) == 0 {
		b.WriteString("\nThis subcommand takes no flags.\n")
		return b.String()
	}
	b.WriteString("\nFlags (--flag VALUE or --flag=VALUE):\n")
	for _, f := range c.flags {
		var notes []string
		if f.required {
			notes = append(notes, "required")
		}
		if f.array {
			notes = append(notes, "repeatable")
		}
		if f.defaultValue != "" {
			notes = append(notes, "default "+f.defaultValue)
		}
		var variables []string
		if c.envPrefix != "" {
			variables = append(variables, envName(c.envPrefix, f.name))
		}
		if f.fallbackEnv != "" {
			variables = append(variables, f.fallbackEnv)
		}
		if len(variables) > 0 {
			notes = append(notes, "environment "+strings.Join(variables, " or "))
		}
		fmt.Fprintf(&b, "  --%-22s %s", f.name, f.help)
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, "; "))
		}
		b.WriteString("\n")
	}
	return b.String()
}
