package standin

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// UsageError reports a command line that STF would reject. The program prints it and
// exits with status 2.
type UsageError struct {
	// Command is the command the error is about, for example "stf app".
	Command string
	Message string
}

func (e *UsageError) Error() string {
	return e.Command + ": " + e.Message
}

// errHelp is returned when the command line requests help with -h or --help.
var errHelp = errors.New("help requested")

// LookupEnv reads one environment variable, like os.LookupEnv.
type LookupEnv func(name string) (string, bool)

// Invocation is a parsed and validated command line.
type Invocation struct {
	// Program is the command the arguments were given to: "stf" or "rethinkdb".
	Program string
	command *commandSpec
	// Positionals are the positional arguments after the subcommand.
	Positionals []string
	values      map[string][]string
}

// Subcommand returns the STF subcommand, or "rethinkdb" for the RethinkDB stand-in.
func (inv *Invocation) Subcommand() string {
	return inv.command.name
}

// Has reports whether the flag has a value from the command line, the environment or
// its default.
func (inv *Invocation) Has(flag string) bool {
	return len(inv.values[flag]) > 0
}

// String returns the flag's value, or "" when it has none.
func (inv *Invocation) String(flag string) string {
	if v := inv.values[flag]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Strings returns every value of an array flag.
func (inv *Invocation) Strings(flag string) []string {
	return inv.values[flag]
}

// Int returns the flag's value as an integer. Validation has already checked it.
func (inv *Invocation) Int(flag string) int {
	n, _ := strconv.Atoi(inv.String(flag))
	return n
}

// Redacted returns the flag values with secrets replaced, for logs and check output.
func (inv *Invocation) Redacted() map[string][]string {
	out := map[string][]string{}
	for name, values := range inv.values {
		if spec := inv.command.findFlag(name); spec != nil && spec.secret {
			out[name] = []string{"(redacted)"}
			continue
		}
		out[name] = append([]string(nil), values...)
	}
	return out
}

// ParseSTF parses an STF command line: args[0] is the subcommand and the rest are its
// positional arguments and flags. lookup supplies the environment that STF reads flag
// values from.
func ParseSTF(args []string, lookup LookupEnv) (*Invocation, error) {
	if len(args) == 0 {
		return nil, &UsageError{Command: "stf", Message: "missing subcommand. " + subcommandList()}
	}
	name := args[0]
	if name == "-h" || name == "--help" {
		return nil, errHelp
	}
	command := findCommand(name)
	if command == nil {
		message := fmt.Sprintf("unknown subcommand %q", name)
		if strings.HasPrefix(name, "-") {
			message = fmt.Sprintf("unknown flag %s before the subcommand", name)
		}
		names := make([]string, len(stfCommands))
		for i, c := range stfCommands {
			names[i] = c.name
		}
		if guess := closest(name, names); guess != "" {
			message += fmt.Sprintf(" (did you mean %q?)", guess)
		}
		return nil, &UsageError{Command: "stf", Message: message + ". " + subcommandList()}
	}
	return parseCommand("stf", command, args[1:], lookup)
}

// ParseRethinkDB parses the RethinkDB stand-in's flags.
func ParseRethinkDB(args []string, lookup LookupEnv) (*Invocation, error) {
	return parseCommand("rethinkdb", rethinkdbCommand, args, lookup)
}

func subcommandList() string {
	names := make([]string, len(stfCommands))
	for i, c := range stfCommands {
		names[i] = c.name
	}
	return "The stand-in accepts these subcommands: " + strings.Join(names, ", ") + "."
}

// parseCommand reads the positional arguments and flags of one command, fills in the
// environment and the defaults, and validates every value.
func parseCommand(program string, command *commandSpec, args []string, lookup LookupEnv) (*Invocation, error) {
	label := program
	if command != rethinkdbCommand {
		label += " " + command.name
	}
	usage := func(format string, a ...any) error {
		return &UsageError{Command: label, Message: fmt.Sprintf(format, a...)}
	}

	inv := &Invocation{Program: program, command: command, values: map[string][]string{}}
	onCommandLine := map[string]bool{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			inv.Positionals = append(inv.Positionals, args[i+1:]...)
			i = len(args)
		case arg == "-h" || arg == "--help":
			return nil, errHelp
		case strings.HasPrefix(arg, "--"):
			name, value, hasValue := strings.Cut(arg[2:], "=")
			spec := command.findFlag(name)
			if spec == nil {
				return nil, usage("%s", unknownFlagMessage(command, "--"+name))
			}
			if onCommandLine[name] && !spec.array {
				return nil, usage("flag --%s is given more than once, which STF would turn into a list of values", name)
			}
			onCommandLine[name] = true
			switch {
			case hasValue:
				inv.values[name] = append(inv.values[name], value)
			case spec.array:
				// STF's array flags take every following value up to the next flag.
				start := len(inv.values[name])
				for i+1 < len(args) && !looksLikeFlag(args[i+1]) {
					i++
					inv.values[name] = append(inv.values[name], args[i])
				}
				if len(inv.values[name]) == start {
					return nil, usage("flag --%s needs a value: write --%s VALUE or --%s=VALUE", name, name, name)
				}
			case i+1 < len(args) && !looksLikeFlag(args[i+1]):
				i++
				inv.values[name] = append(inv.values[name], args[i])
			default:
				return nil, usage("flag --%s needs a value: write --%s VALUE or --%s=VALUE", name, name, name)
			}
		case looksLikeFlag(arg):
			return nil, usage("%s. The stand-in accepts only long flag names such as --port, not STF's short aliases",
				unknownFlagMessage(command, arg))
		default:
			inv.Positionals = append(inv.Positionals, arg)
		}
	}

	if err := checkPositionals(command, inv.Positionals); err != nil {
		return nil, usage("%s", err)
	}
	if err := fillFromEnvironment(command, inv, onCommandLine, lookup); err != nil {
		return nil, usage("%s", err)
	}
	for _, spec := range command.flags {
		for _, value := range inv.values[spec.name] {
			if err := validateValue(spec, value); err != nil {
				return nil, usage("%s", err)
			}
		}
	}
	if command.behaviour == behaviourProvider && inv.Int("min-port") > inv.Int("max-port") {
		return nil, usage("--min-port %s is greater than --max-port %s, but the provider needs a port range from low to high",
			inv.String("min-port"), inv.String("max-port"))
	}
	return inv, nil
}

// looksLikeFlag reports whether arg starts a flag rather than being a value. A negative
// number is a value, as in yargs.
func looksLikeFlag(arg string) bool {
	if len(arg) < 2 || arg[0] != '-' {
		return false
	}
	_, err := strconv.ParseFloat(arg, 64)
	return err != nil
}

func checkPositionals(command *commandSpec, positionals []string) error {
	switch {
	case len(positionals) == 0:
		return nil
	case command.positional == "":
		return fmt.Errorf("unexpected argument %q: this subcommand takes no positional arguments", positionals[0])
	case len(positionals) > 1 && !command.manyPositionals:
		return fmt.Errorf("unexpected argument %q: this subcommand takes at most one positional argument, [%s]",
			positionals[1], command.positional)
	}
	return nil
}

// fillFromEnvironment gives each flag missing from the command line its value from
// STF_<SUBCOMMAND>_<FLAG>, then from the flag's fallback variable, then its default, and
// reports a required flag that is still missing.
func fillFromEnvironment(command *commandSpec, inv *Invocation, onCommandLine map[string]bool, lookup LookupEnv) error {
	for _, spec := range command.flags {
		if onCommandLine[spec.name] {
			continue
		}
		var sources []string
		if command.envPrefix != "" {
			sources = append(sources, envName(command.envPrefix, spec.name))
		}
		if spec.fallbackEnv != "" {
			sources = append(sources, spec.fallbackEnv)
		}
		found := false
		for _, variable := range sources {
			if value, ok := lookup(variable); ok && value != "" {
				inv.values[spec.name] = []string{value}
				found = true
				break
			}
		}
		switch {
		case found:
		case spec.defaultValue != "":
			inv.values[spec.name] = []string{spec.defaultValue}
		case spec.required:
			message := fmt.Sprintf("missing required flag --%s (%s)", spec.name, strings.TrimSuffix(spec.help, "."))
			if len(sources) > 0 {
				message += ": pass --" + spec.name + " or set " + strings.Join(sources, " or ")
			}
			return errors.New(message)
		}
	}
	return nil
}

// envName returns the variable of yargs' env prefix for a flag: STF_APP and auth-url
// give STF_APP_AUTH_URL.
func envName(prefix, flag string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func unknownFlagMessage(command *commandSpec, flag string) string {
	names := make([]string, len(command.flags))
	for i, f := range command.flags {
		names[i] = "--" + f.name
	}
	message := "unknown flag " + flag
	if guess := closest(flag, names); guess != "" {
		message += " (did you mean " + guess + "?)"
	}
	if len(names) == 0 {
		return message + ". This subcommand takes no flags"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return message + ". The accepted flags are " + strings.Join(sorted, ", ")
}

// closest returns the candidate nearest to word by edit distance when it is near enough
// to be a likely typo, or "". Of equally near candidates, the first wins.
func closest(word string, candidates []string) string {
	best, bestDistance := "", len(word)/3+2
	for _, c := range candidates {
		if d := editDistance(word, c); d > 0 && d < bestDistance {
			best, bestDistance = c, d
		}
	}
	return best
}

// editDistance returns the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current := make([]int, len(b)+1)
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous = current
	}
	return previous[len(b)]
}
