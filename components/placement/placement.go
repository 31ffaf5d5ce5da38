// Package placement evaluates fleet's scheduling constraints without a cluster: for each
// unit it finds the machines fleet may run it on. The proxy configuration lists exactly
// these candidates, so it stays right wherever fleet puts (or later moves) a unit.
//
// The rules follow fleet v1.0.0's agent (AbleToRun): every [X-Fleet] value has the
// specifiers %n, %N, %p and %i expanded; MachineMetadata=key=value requires the machine to
// have that value for the key, several values of one key mean any of them and several keys
// mean all of them; MachineOf requires the named unit on the same machine; Conflicts
// takes glob patterns and keeps matching units off the machine; Global=true runs the unit
// on every machine that matches.
package placement

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// Machine is a fleet machine: its name and its metadata.
type Machine struct {
	Name     string
	Metadata map[string]string
}

// Unit is a rendered unit file and its name in fleet.
type Unit struct {
	Name string
	Text string
}

// Result holds the machines a unit may run on.
type Result struct {
	Unit string
	// Global reports whether fleet runs the unit on every candidate.
	Global bool
	// Candidates are the names of the machines the unit may run on, in machine order.
	Candidates []string
}

// Requirements are a unit's [X-Fleet] options after specifier expansion.
type Requirements struct {
	Metadata  map[string][]string
	MachineOf []string
	Conflicts []string
	Global    bool
}

// ParseRequirements reads the [X-Fleet] section of a unit file the way fleet does.
func ParseRequirements(name, text string) (Requirements, error) {
	opts, err := unit.DeserializeOptions(strings.NewReader(text))
	if err != nil {
		return Requirements{}, fmt.Errorf("unit %s: cannot parse unit file: %w", name, err)
	}

	req := Requirements{Metadata: map[string][]string{}}
	for _, opt := range opts {
		if opt.Section != "X-Fleet" {
			continue
		}
		for _, value := range splitMultivalue(opt.Value) {
			value = expandSpecifiers(value, name)
			switch opt.Name {
			case "MachineMetadata":
				kv := strings.Split(value, "=")
				if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
					// fleet ignores malformed pairs; we reject them, since a silently
					// dropped constraint lets a unit run anywhere.
					return Requirements{}, fmt.Errorf(
						"unit %s: MachineMetadata=%s is not of the form key=value", name, value)
				}
				req.Metadata[kv[0]] = append(req.Metadata[kv[0]], kv[1])
			case "MachineOf":
				req.MachineOf = append(req.MachineOf, value)
			case "Conflicts":
				req.Conflicts = append(req.Conflicts, strings.Fields(value)...)
			case "Global":
				req.Global = isTruthy(value)
			case "MachineID", "Replaces":
				return Requirements{}, fmt.Errorf("unit %s: [X-Fleet] %s is not supported by the farm's placement model",
					name, opt.Name)
			default:
				return Requirements{}, fmt.Errorf("unit %s: unknown [X-Fleet] option %s", name, opt.Name)
			}
		}
	}
	return req, nil
}

// splitMultivalue splits a value of the form "a=b" "c=d" into its quoted parts, and
// returns any other value whole, as fleet does.
func splitMultivalue(value string) []string {
	if !strings.HasPrefix(value, `"`) || !strings.HasSuffix(value, `"`) {
		return []string{value}
	}
	var values []string
	var current strings.Builder
	quoted := false
	for _, r := range value {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			values = append(values, current.String())
			current.Reset()
		default:
			current.WriteRune(r)
		}
	}
	return append(values, current.String())
}

// expandSpecifiers replaces %n, %N, %p and %i with parts of the unit name.
func expandSpecifiers(value, name string) string {
	full := name
	base := strings.TrimSuffix(name, path.Ext(name))
	prefix, instance := base, ""
	if at := strings.Index(base, "@"); at >= 0 {
		prefix, instance = base[:at], base[at+1:]
	}
	return strings.NewReplacer("%n", full, "%N", base, "%p", prefix, "%i", instance).Replace(value)
}

func isTruthy(value string) bool {
	switch strings.ToLower(value) {
	case "true", "yes", "1", "on", "t":
		return true
	}
	return false
}

func hasMetadata(m Machine, required map[string][]string) bool {
	for key, values := range required {
		local, ok := m.Metadata[key]
		if !ok {
			return false
		}
		found := false
		for _, v := range values {
			found = found || v == local
		}
		if !found {
			return false
		}
	}
	return true
}

// NoCandidateError reports a unit that no machine can run.
type NoCandidateError struct {
	Unit       string
	Constraint string
	Machines   []Machine
}

func (e *NoCandidateError) Error() string {
	var described []string
	for _, m := range e.Machines {
		described = append(described, m.Name+" ("+formatMetadata(m.Metadata)+")")
	}
	return fmt.Sprintf("unit %s has no candidate machine: %s matches none of %s. "+
		"Fix: change the machines' roles or indexes, or the unit's constraint",
		e.Unit, e.Constraint, strings.Join(described, ", "))
}

func formatMetadata(metadata map[string]string) string {
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+metadata[k])
	}
	return strings.Join(parts, ",")
}

// Evaluate returns each unit's candidate machines, in the order of units. It fails when a
// unit has no candidate, naming the unit and the constraint, or when units that conflict
// with each other cannot all be placed at once.
func Evaluate(units []Unit, machines []Machine) ([]Result, error) {
	reqs := make(map[string]Requirements, len(units))
	candidates := make(map[string][]int, len(units))
	for _, u := range units {
		req, err := ParseRequirements(u.Name, u.Text)
		if err != nil {
			return nil, err
		}
		reqs[u.Name] = req

		var matching []int
		for i, m := range machines {
			if hasMetadata(m, req.Metadata) {
				matching = append(matching, i)
			}
		}
		if len(matching) == 0 {
			return nil, &NoCandidateError{Unit: u.Name, Constraint: describeMetadata(req.Metadata), Machines: machines}
		}
		candidates[u.Name] = matching
	}

	if err := applyMachineOf(units, reqs, candidates, machines); err != nil {
		return nil, err
	}
	if err := checkConflicts(units, reqs, candidates, machines); err != nil {
		return nil, err
	}

	results := make([]Result, 0, len(units))
	for _, u := range units {
		r := Result{Unit: u.Name, Global: reqs[u.Name].Global}
		for _, i := range candidates[u.Name] {
			r.Candidates = append(r.Candidates, machines[i].Name)
		}
		results = append(results, r)
	}
	return results, nil
}

func describeMetadata(metadata map[string][]string) string {
	if len(metadata) == 0 {
		return "no constraint"
	}
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range metadata[k] {
			parts = append(parts, "MachineMetadata="+k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// applyMachineOf narrows each unit to the candidates of the units it must run beside,
// until nothing changes.
func applyMachineOf(units []Unit, reqs map[string]Requirements, candidates map[string][]int, machines []Machine) error {
	for changed := true; changed; {
		changed = false
		for _, u := range units {
			for _, peer := range reqs[u.Name].MachineOf {
				peerCandidates, ok := candidates[peer]
				if !ok {
					return fmt.Errorf("unit %s: MachineOf=%s names a unit the farm does not submit", u.Name, peer)
				}
				narrowed := intersect(candidates[u.Name], peerCandidates)
				if len(narrowed) == 0 {
					return &NoCandidateError{Unit: u.Name, Constraint: "MachineOf=" + peer, Machines: machines}
				}
				if len(narrowed) != len(candidates[u.Name]) {
					candidates[u.Name] = narrowed
					changed = true
				}
			}
		}
	}
	return nil
}

func intersect(a, b []int) []int {
	in := map[int]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []int
	for _, x := range a {
		if in[x] {
			out = append(out, x)
		}
	}
	return out
}

// conflicts reports whether fleet keeps the two units off the same machine: either unit
// lists a pattern that matches the other's name.
func conflicts(a, b string, reqs map[string]Requirements) bool {
	for _, pattern := range reqs[a].Conflicts {
		if ok, _ := path.Match(pattern, b); ok {
			return true
		}
	}
	for _, pattern := range reqs[b].Conflicts {
		if ok, _ := path.Match(pattern, a); ok {
			return true
		}
	}
	return false
}

// checkConflicts searches for one assignment of the non-global units that have conflicts
// to machines, so that no two conflicting units share a machine.
func checkConflicts(units []Unit, reqs map[string]Requirements, candidates map[string][]int, machines []Machine) error {
	var involved []string
	for _, u := range units {
		if reqs[u.Name].Global {
			continue
		}
		for _, other := range units {
			if other.Name != u.Name && !reqs[other.Name].Global && conflicts(u.Name, other.Name, reqs) {
				involved = append(involved, u.Name)
				break
			}
		}
	}
	if len(involved) == 0 {
		return nil
	}

	assigned := map[string]int{}
	var place func(i int) bool
	place = func(i int) bool {
		if i == len(involved) {
			return true
		}
		name := involved[i]
		for _, m := range candidates[name] {
			free := true
			for other, om := range assigned {
				if om == m && conflicts(name, other, reqs) {
					free = false
					break
				}
			}
			if !free {
				continue
			}
			assigned[name] = m
			if place(i + 1) {
				return true
			}
			delete(assigned, name)
		}
		return false
	}
	if !place(0) {
		return fmt.Errorf("units %s conflict with each other (Conflicts=%s) and cannot all be placed on the %d machines %s. "+
			"Fix: run fewer of them or add machines",
			strings.Join(involved, ", "), strings.Join(reqs[involved[0]].Conflicts, " "),
			len(machines), machineNames(machines))
	}
	return nil
}

func machineNames(machines []Machine) string {
	names := make([]string, len(machines))
	for i, m := range machines {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}
