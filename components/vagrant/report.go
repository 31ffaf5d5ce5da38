// Package vagrant reads what Vagrant and a machine report after `vagrant up`: the
// machine-readable status, the SSH settings and the machine's own IPv4 addresses.
package vagrant

import (
	"bufio"
	"fmt"
	"net/netip"
	"strings"
)

// Report is a machine as Vagrant and the machine itself describe it.
type Report struct {
	// State is Vagrant's machine state, for example running or not_created.
	State string
	// Provider is the provider that runs the machine.
	Provider string
	// Address is the machine's address inside the farm network.
	Address string
	SSH     SSH
}

// SSH are the settings `vagrant ssh-config` prints for the machine.
type SSH struct {
	Host         string
	Port         string
	User         string
	IdentityFile string
}

// Report sections, as machine-files.sh prints them.
const (
	sectionStatus    = "== status"
	sectionSSHConfig = "== ssh-config"
	sectionAddresses = "== addresses"
)

// ParseReport reads the output of report_machine for the named machine and picks the
// address inside network.
func ParseReport(machine, output string, network netip.Prefix) (Report, error) {
	sections := map[string][]string{}
	current := ""
	scanner := bufio.NewScanner(strings.NewReader(output))
	scanner.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := strings.TrimRight(scanner.Text(), "\r")
		switch line {
		case sectionStatus, sectionSSHConfig, sectionAddresses:
			current = line
			continue
		}
		if current != "" {
			sections[current] = append(sections[current], line)
		}
	}

	var r Report
	for _, line := range sections[sectionStatus] {
		// timestamp,target,type,data...
		fields := strings.SplitN(line, ",", 4)
		if len(fields) < 4 || fields[1] != machine {
			continue
		}
		switch fields[2] {
		case "state":
			r.State = fields[3]
		case "provider-name":
			r.Provider = fields[3]
		}
	}
	if r.State == "" {
		return Report{}, fmt.Errorf("machine %s: vagrant status reported no state; output was:\n%s", machine, output)
	}

	for _, line := range sections[sectionSSHConfig] {
		key, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch key {
		case "HostName":
			r.SSH.Host = value
		case "Port":
			r.SSH.Port = value
		case "User":
			r.SSH.User = value
		case "IdentityFile":
			if r.SSH.IdentityFile == "" {
				r.SSH.IdentityFile = value
			}
		}
	}

	var seen []string
	for _, line := range sections[sectionAddresses] {
		// `ip -4 -o addr show`: "3: eth1    inet 192.168.56.101/24 brd ... scope global eth1"
		fields := strings.Fields(line)
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] != "inet" {
				continue
			}
			prefix, err := netip.ParsePrefix(fields[i+1])
			if err != nil {
				continue
			}
			seen = append(seen, prefix.Addr().String())
			if network.Contains(prefix.Addr()) && r.Address == "" {
				r.Address = prefix.Addr().String()
			}
		}
	}
	if r.Address == "" {
		return Report{}, fmt.Errorf("machine %s reports no IPv4 address inside the farm network %s (it has: %s). "+
			"Check the machine's private network with `vagrant ssh %s -c 'ip addr'`",
			machine, network, strings.Join(seen, ", "), machine)
	}
	return r, nil
}
