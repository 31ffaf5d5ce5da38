// Package fleet reads what fleetctl reports about the farm's units.
package fleet

import (
	"fmt"
	"net"
	"strings"
)

// ParsePlacement reads the rows the farm's start_unit shell function prints ("unit machine active sub", where
// machine is fleet's "<machine id>/<address>") and returns the machine names.
func ParsePlacement(output string, names map[string]string) []string {
	machines := []string{}
	for _, line := range strings.Split(output, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		_, addr, _ := strings.Cut(fields[1], "/")
		if net.ParseIP(addr) == nil {
			continue
		}
		name, ok := names[addr]
		if !ok {
			name = fmt.Sprintf("unknown machine at %s", addr)
		}
		machines = append(machines, name)
	}
	return machines
}
