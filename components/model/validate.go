package model

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// VirtualBoxHostOnlyRange is the only host-only range VirtualBox 6.1.28 and later accept
// unless /etc/vbox/networks.conf allows others.
var VirtualBoxHostOnlyRange = netip.MustParsePrefix("192.168.56.0/21")

// Problem is one invalid setting: the key, the value it has, what is wrong and the fix.
type Problem struct {
	Key     string
	Value   string
	Message string
	Fix     string
}

func (p Problem) Error() string {
	return fmt.Sprintf("%s:%s = %s: %s. Fix: %s.", Namespace, p.Key, p.Value, p.Message, p.Fix)
}

// ValidationError lists every problem of a stack configuration.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	noun := "problems"
	if len(e.Problems) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, "invalid stack configuration (%d %s):", len(e.Problems), noun)
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// HasKey reports whether one of the problems is about key.
func (e *ValidationError) HasKey(key string) bool {
	for _, p := range e.Problems {
		if p.Key == key {
			return true
		}
	}
	return false
}

var (
	machineNamePattern = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	usbIDPattern       = regexp.MustCompile(`^[0-9a-fA-F]{4}$`)
	serialPattern      = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	hostNamePattern    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)
	imagePattern       = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:@-]*$`)
)

type validator struct {
	cfg      *Config
	problems []Problem
	network  netip.Prefix
	netValid bool
}

func (v *validator) add(key string, value any, message, fix string) {
	v.problems = append(v.problems, Problem{
		Key:     key,
		Value:   fmt.Sprintf("%q", fmt.Sprint(value)),
		Message: message,
		Fix:     fix,
	})
}

// Validate checks the whole configuration and returns a *ValidationError listing every
// problem, or nil. It runs before any resource is registered, so an invalid stack fails
// at preview without running a command.
func (c *Config) Validate() error {
	v := &validator{cfg: c}
	v.checkProvider()
	v.checkNetwork()
	v.checkBox("box", c.Box)
	v.checkDB()
	v.checkMachines()
	v.checkRoles()
	v.checkSTF()
	v.checkVirtualBoxRange()
	if c.UnitTimeoutSeconds < 1 {
		v.add("unitTimeoutSeconds", c.UnitTimeoutSeconds, "the unit timeout must be positive",
			"set it to the seconds to wait for each group of units, for example 600")
	}
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

func (v *validator) checkProvider() {
	switch v.cfg.Provider {
	case ProviderVirtualBox, ProviderDocker:
	default:
		v.add("provider", v.cfg.Provider, "unknown Vagrant provider",
			"set it to virtualbox or docker")
	}
}

func (v *validator) checkNetwork() {
	prefix, err := netip.ParsePrefix(v.cfg.Network)
	if err != nil || !prefix.Addr().Is4() {
		v.add("network", v.cfg.Network, "not an IPv4 network in CIDR form",
			"set it to a network such as 192.168.56.0/24")
		return
	}
	if prefix.Bits() > 29 || prefix.Bits() < 8 {
		v.add("network", v.cfg.Network, "the prefix length must be between /8 and /29",
			"use a network such as 192.168.56.0/24")
		return
	}
	v.network = prefix.Masked()
	v.netValid = true

	for i, r := range v.cfg.AllowedHostOnlyRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil || !p.Addr().Is4() {
			v.add(fmt.Sprintf("allowedHostOnlyRanges[%d]", i), r,
				"not an IPv4 range in CIDR form",
				"write each range as it appears in /etc/vbox/networks.conf, for example 10.0.0.0/8")
		}
	}
}

func (v *validator) checkBox(key string, box Box) {
	if strings.TrimSpace(box.Name) == "" {
		v.add(key+".name", box.Name, "the box name is empty",
			"set it to the name of a box Vagrant has or can add, for example "+DefaultBoxName)
	}
	if box.URL == "" {
		return
	}
	u, err := url.Parse(box.URL)
	if err != nil {
		v.add(key+".url", box.URL, "not a valid URL or path",
			"use an http(s):// or file:// URL, or a path to a .box file")
		return
	}
	switch u.Scheme {
	case "", "http", "https", "file":
	default:
		v.add(key+".url", box.URL, "unsupported URL scheme "+u.Scheme,
			"use an http(s):// or file:// URL, or a path to a .box file")
	}
}

// checkAddress checks one machine address and returns it when it is valid.
func (v *validator) checkAddress(key, value string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(value)
	if err != nil || !addr.Is4() {
		example := "192.168.56.101"
		if v.netValid {
			example = v.network.Addr().Next().Next().String()
		}
		v.add(key, value, "not a valid IPv4 address", "set it to an address such as "+example)
		return netip.Addr{}, false
	}
	if !v.netValid {
		return addr, true
	}
	if !v.network.Contains(addr) {
		v.add(key, value, "the address is outside the farm network "+v.network.String()+
			" that holds the other machines",
			"use an address inside "+v.network.String()+", or change "+Namespace+":network")
		return addr, true
	}
	last := lastAddress(v.network)
	if addr == v.network.Addr() || addr == last || addr == v.network.Addr().Next() {
		v.add(key, value, "the address is the network, broadcast or host address of "+
			v.network.String(),
			"use an address between "+v.network.Addr().Next().Next().String()+" and "+
				last.Prev().String())
	}
	return addr, true
}

func lastAddress(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	hostBits := 32 - p.Bits()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= (1 << hostBits) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func (v *validator) checkMachineName(key, name string) {
	if !machineNamePattern.MatchString(name) {
		v.add(key, name, "invalid machine name",
			"use lower-case letters, digits and dashes, starting with a letter, for example core-01")
	}
}

func (v *validator) checkDB() {
	db := v.cfg.DB
	v.checkMachineName("db.name", db.Name)
	v.checkAddress("db.address", db.Address)
	if db.Memory < 512 {
		v.add("db.memory", db.Memory, "RethinkDB needs at least 512 MB",
			"set it to 512 or more (in MB)")
	}
	if db.CPUs < 1 {
		v.add("db.cpus", db.CPUs, "a machine needs at least one CPU", "set it to 1 or more")
	}
	v.checkBox("db.box", db.Box)
	if db.AdminHostPort < 1 || db.AdminHostPort > 65535 {
		v.add("db.adminHostPort", db.AdminHostPort, "not a TCP port",
			"set it to a free host port for RethinkDB's admin UI, for example 8080")
	}
}

func (v *validator) checkMachines() {
	machines := v.cfg.Machines
	if len(machines) == 0 {
		v.add("machines", "[]", "the farm has no cluster machine",
			"list at least one machine with the roles nginx, appside and devside")
		return
	}

	names := map[string]string{v.cfg.DB.Name: "db.name"}
	addresses := map[string]string{v.cfg.DB.Address: "db.address"}
	indexes := map[int]string{}
	for i, m := range machines {
		key := fmt.Sprintf("machines[%d]", i)
		v.checkMachineName(key+".name", m.Name)
		if other, ok := names[m.Name]; ok {
			v.add(key+".name", m.Name, "the name is already used by "+other,
				"give every machine its own name")
		}
		names[m.Name] = key + ".name"

		v.checkAddress(key+".address", m.Address)
		if other, ok := addresses[m.Address]; ok {
			v.add(key+".address", m.Address, "the address is already used by "+other,
				"give every machine its own address")
		}
		addresses[m.Address] = key + ".address"

		if m.Index < 1 {
			v.add(key+".index", m.Index, "the fleet index must be 1 or more",
				"number the machines 1, 2, 3 and so on")
		}
		if other, ok := indexes[m.Index]; ok {
			v.add(key+".index", m.Index, "the index is already used by "+other,
				"give every machine its own index")
		}
		indexes[m.Index] = key + ".index"

		if m.Memory < 1024 {
			v.add(key+".memory", m.Memory,
				"a cluster machine needs at least 1024 MB for etcd, fleet and the STF containers",
				"set it to 1024 or more (in MB)")
		}
		if m.CPUs < 1 {
			v.add(key+".cpus", m.CPUs, "a machine needs at least one CPU", "set it to 1 or more")
		}
		v.checkMachineRoles(key, m)
		v.checkDevices(key, m)
	}
}

func (v *validator) checkMachineRoles(key string, m Machine) {
	seen := map[string]bool{}
	for j, role := range m.Roles {
		roleKey := fmt.Sprintf("%s.roles[%d]", key, j)
		known := false
		for _, r := range KnownRoles {
			known = known || r == role
		}
		if !known {
			v.add(roleKey, role, "unknown role", "use one of "+strings.Join(KnownRoles, ", "))
		}
		if seen[role] {
			v.add(roleKey, role, "the role is listed twice", "list each role once")
		}
		seen[role] = true
	}
}

func (v *validator) checkDevices(key string, m Machine) {
	for j, d := range m.Devices {
		devKey := fmt.Sprintf("%s.devices[%d]", key, j)
		if strings.TrimSpace(d.Name) == "" {
			v.add(devKey+".name", d.Name, "the device name is empty",
				"name the USB filter, for example the phone model")
		}
		if !usbIDPattern.MatchString(d.VendorID) {
			v.add(devKey+".vendorId", d.VendorID, "a USB vendor id is 4 hexadecimal digits",
				"copy the id from lsusb, for example 18d1")
		}
		if !usbIDPattern.MatchString(d.ProductID) {
			v.add(devKey+".productId", d.ProductID, "a USB product id is 4 hexadecimal digits",
				"copy the id from lsusb, for example 4ee2")
		}
		if d.Serial != "" && !serialPattern.MatchString(d.Serial) {
			v.add(devKey+".serial", d.Serial, "invalid device serial",
				"copy the serial from adb devices, or leave it empty to match every device of the model")
		}
	}
}

func (v *validator) checkRoles() {
	if len(v.cfg.Machines) == 0 {
		return
	}
	for _, role := range KnownRoles {
		var holders []string
		for _, m := range v.cfg.Machines {
			if m.HasRole(role) {
				holders = append(holders, m.Name)
			}
		}
		switch len(holders) {
		case 1:
		case 0:
			v.add("machines", "no machine with role "+role, "exactly one machine must have the role "+role,
				"add "+role+" to the roles of one machine")
		default:
			v.add("machines", strings.Join(holders, ", "),
				"more than one machine has the role "+role+", but its address must be unique",
				"keep the role "+role+" on one machine only")
		}
	}
}

func (v *validator) checkSTF() {
	s := v.cfg.STF
	v.checkSTFImage(s.Image)
	for _, img := range []struct{ key, value string }{
		{"stf.adbImage", s.ADBImage},
		{"stf.ambassadorImage", s.AmbassadorImage},
		{"stf.nginxImage", s.NginxImage},
	} {
		if !imagePattern.MatchString(img.value) {
			v.add(img.key, img.value, "not a valid image reference",
				"use a reference such as devicefarmer/adb:latest")
		}
	}

	if s.PublicHost != "" && !hostNamePattern.MatchString(s.PublicHost) {
		v.add("stf.publicHost", s.PublicHost, "not a host name or address",
			"set it to the name users reach the farm on, or leave it empty for the nginx machine's address")
	}

	ports := s.ProviderPorts
	for _, p := range []struct {
		key   string
		value int
	}{{"stf.providerPorts.min", ports.Min}, {"stf.providerPorts.max", ports.Max}} {
		if p.value < 10000 || p.value > 65535 {
			v.add(p.key, p.value,
				"provider ports must have 5 digits because the nginx route /d/N/<serial>/<port>/ matches exactly 5",
				"use ports between 10000 and 65535, for example 15000-15500")
		}
	}
	if ports.Min > ports.Max {
		v.add("stf.providerPorts", fmt.Sprintf("%d-%d", ports.Min, ports.Max),
			"the port range is empty", "set min to a port no greater than max")
	}

	if s.Processors < 1 {
		v.add("stf.processors", s.Processors, "the farm needs at least one processor",
			"set it to 1 or more")
	} else if len(v.cfg.Machines) > 0 && s.Processors > len(v.cfg.Machines) {
		v.add("stf.processors", s.Processors, fmt.Sprintf(
			"processors conflict with each other (one per machine) and the farm has %d machines",
			len(v.cfg.Machines)),
			"lower it to the number of machines or add machines")
	}

	seen := map[int]bool{}
	for i, index := range s.Providers {
		key := fmt.Sprintf("stf.providers[%d]", i)
		if _, ok := v.cfg.MachineWithIndex(index); !ok {
			v.add(key, index, "no machine has this index, so the provider could never be placed",
				"use the index of a machine in "+Namespace+":machines")
		}
		if seen[index] {
			v.add(key, index, "the provider is listed twice", "list each index once")
		}
		seen[index] = true
	}

	if !strings.Contains(s.AdminEmail, "@") {
		v.add("stf.adminEmail", s.AdminEmail, "not an e-mail address",
			"set it to the administrator's address")
	}
}

func (v *validator) checkSTFImage(image string) {
	if !imagePattern.MatchString(image) {
		v.add("stf.image", image, "not a valid image reference",
			"use a pinned reference such as "+DefaultSTFImage)
		return
	}
	name := image
	if at := strings.Index(name, "@"); at >= 0 {
		return
	}
	slash := strings.LastIndex(name, "/")
	colon := strings.LastIndex(name, ":")
	if colon <= slash || name[colon+1:] == "latest" {
		v.add("stf.image", image,
			"the STF image must be pinned to a version because latest changed its required flags",
			"use a tag such as "+DefaultSTFImage)
	}
}

func (v *validator) checkVirtualBoxRange() {
	if v.cfg.Provider != ProviderVirtualBox || !v.netValid {
		return
	}
	allowed := []netip.Prefix{VirtualBoxHostOnlyRange}
	for _, r := range v.cfg.AllowedHostOnlyRanges {
		if p, err := netip.ParsePrefix(r); err == nil {
			allowed = append(allowed, p.Masked())
		}
	}
	within := func(p netip.Prefix) bool {
		for _, a := range allowed {
			if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
				return true
			}
		}
		return false
	}
	if !within(v.network) {
		v.add("network", v.cfg.Network,
			"VirtualBox 6.1.28 and later accept host-only networks only inside 192.168.56.0/21",
			"use a network inside 192.168.56.0/21, or allow the range with a line such as '* "+
				v.network.String()+"' in /etc/vbox/networks.conf and list it in "+
				Namespace+":allowedHostOnlyRanges")
	}
}
