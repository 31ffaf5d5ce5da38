// Package globalconf fills flag sets from an INI file and from environment variables.
//
// It provides the part of the API of github.com/rakyll/globalconf that fleetd v1.0.0
// calls (Options, Register, NewWithOptions and GlobalConf.ParseSet), so that fleetd
// builds from source with a go.mod replace directive and no copy of that package. For
// each flag of a set, a value comes from, in this order:
//
//  1. the environment variable named EnvPrefix, then the set's name and "_" when the
//     name is not empty, then the flag's name, all in upper case: fleetd's "public_ip"
//     is read from FLEET_PUBLIC_IP;
//  2. the key of the flag's name in the INI file, in the section named after the set,
//     or outside any section for a set with an empty name;
//  3. otherwise the flag keeps the value it has.
//
// An empty environment variable counts as unset, as in the original package.
package globalconf

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Options selects the sources of a GlobalConf.
type Options struct {
	// Filename is the INI file to read; empty means no file.
	Filename string
	// EnvPrefix is prepended to environment variable names; empty means that the
	// environment is not read.
	EnvPrefix string
}

// GlobalConf holds the values read from an INI file and the environment prefix.
type GlobalConf struct {
	Filename  string
	EnvPrefix string
	// sections maps a section name ("" outside any section) to its keys and values.
	sections map[string]map[string]string
}

// registered holds the flag sets given to Register, by name.
var registered = map[string]*flag.FlagSet{}

// Register records a flag set under a name for Parse.
func Register(flagSetName string, set *flag.FlagSet) {
	registered[flagSetName] = set
}

// NewWithOptions reads the INI file named in opts, if any.
func NewWithOptions(opts *Options) (*GlobalConf, error) {
	conf := &GlobalConf{
		Filename:  opts.Filename,
		EnvPrefix: opts.EnvPrefix,
		sections:  map[string]map[string]string{},
	}
	if opts.Filename == "" {
		return conf, nil
	}
	sections, err := readINI(opts.Filename)
	if err != nil {
		return nil, err
	}
	conf.sections = sections
	return conf, nil
}

// Parse fills flag.CommandLine and every registered flag set. Flags given on the
// command line keep their command-line values.
func (g *GlobalConf) Parse() {
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if !explicit[f.Name] {
			g.fill("", flag.CommandLine, f)
		}
	})
	for name, set := range registered {
		g.ParseSet(name, set)
	}
}

// ParseSet fills every flag of set from the environment or the INI file. A value that
// the flag rejects is reported on standard error and leaves the flag unchanged.
func (g *GlobalConf) ParseSet(flagSetName string, set *flag.FlagSet) {
	set.VisitAll(func(f *flag.Flag) {
		g.fill(flagSetName, set, f)
	})
}

func (g *GlobalConf) fill(flagSetName string, set *flag.FlagSet, f *flag.Flag) {
	source := ""
	value := ""
	if name := g.envName(flagSetName, f.Name); name != "" {
		if v := os.Getenv(name); v != "" {
			source, value = "environment variable "+name, v
		}
	}
	if source == "" {
		v, found := g.sections[flagSetName][f.Name]
		if !found {
			return
		}
		source, value = "key "+f.Name+" of "+g.Filename, v
	}
	if err := set.Set(f.Name, value); err != nil {
		fmt.Fprintf(os.Stderr, "globalconf: invalid value %q in %s: %v\n", value, source, err)
	}
}

// envName returns the environment variable of a flag, or "" without a prefix.
func (g *GlobalConf) envName(flagSetName, flagName string) string {
	if g.EnvPrefix == "" {
		return ""
	}
	name := g.EnvPrefix
	if flagSetName != "" {
		name += flagSetName + "_"
	}
	return strings.ToUpper(name + flagName)
}

// readINI parses "key=value" lines grouped under "[section]" headers. Lines starting
// with "#" or ";" are comments, and one pair of matching quotes around a value is
// removed, so metadata="a=b", metadata='a=b' and metadata=a=b are the same value.
func readINI(path string) (map[string]map[string]string, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()

	sections := map[string]map[string]string{"": {}}
	section := ""
	scanner := bufio.NewScanner(file)
	for number := 1; scanner.Scan(); number++ {
		line := strings.TrimSpace(scanner.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
			if sections[section] == nil {
				sections[section] = map[string]string{}
			}
			continue
		}
		key, value, found := strings.Cut(line, "=")
		if !found {
			return nil, fmt.Errorf("%s:%d: invalid line %q: expected key=value", path, number, line)
		}
		sections[section][strings.TrimSpace(key)] = unquote(strings.TrimSpace(value))
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sections, nil
}

func unquote(value string) string {
	if len(value) >= 2 {
		first, last := value[0], value[len(value)-1]
		if first == last && (first == '"' || first == '\'') {
			return value[1 : len(value)-1]
		}
	}
	return value
}
