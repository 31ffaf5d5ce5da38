// Package model is the stack configuration of an STF farm: its types, defaults and
// validation. It has no Pulumi dependency, so every rule can be tested directly.
package model

import (
	"strconv"
	"strings"
)

// Namespace is the Pulumi configuration namespace of every key, the project name.
const Namespace = "stf-farm"

// Machine providers that Vagrant boots the farm with.
const (
	ProviderVirtualBox = "virtualbox"
	ProviderDocker     = "docker"
)

// Roles that fleet metadata carries and that units are pinned to.
const (
	RoleNginx   = "nginx"
	RoleAppside = "appside"
	RoleDevside = "devside"
)

// KnownRoles lists every role a machine may take, in the order they are documented.
var KnownRoles = []string{RoleNginx, RoleAppside, RoleDevside}

// Config is one stack's description of a farm.
type Config struct {
	// Provider is the Vagrant provider that boots every machine.
	Provider string `json:"provider"`
	// Network is the host-only (or Docker) network, in CIDR form, that holds every machine.
	Network string `json:"network"`
	// AllowedHostOnlyRanges are the ranges a user has allowed in /etc/vbox/networks.conf
	// beyond VirtualBox's default 192.168.56.0/21.
	AllowedHostOnlyRanges []string `json:"allowedHostOnlyRanges"`
	// Box is the Vagrant box of the cluster machines.
	Box Box `json:"box"`
	// DB is the machine that runs RethinkDB.
	DB DBMachine `json:"db"`
	// Machines are the cluster machines that run etcd, fleet and the STF units.
	Machines []Machine `json:"machines"`
	// STF holds the settings of the STF services.
	STF STF `json:"stf"`
	// Docker holds the settings that apply only to the docker provider.
	Docker Docker `json:"docker"`
	// UnitTimeoutSeconds bounds the wait for each group of fleet units to become active.
	UnitTimeoutSeconds int `json:"unitTimeoutSeconds"`
}

// Box is a Vagrant box reference.
type Box struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// URL is the source Vagrant adds the box from: http(s), file:// or a local path.
	URL string `json:"url,omitempty"`
}

// DBMachine is the RethinkDB machine.
type DBMachine struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Memory  int    `json:"memory"`
	CPUs    int    `json:"cpus"`
	Box     Box    `json:"box"`
	// AdminHostPort is the host port forwarded to RethinkDB's admin UI on 8080.
	AdminHostPort int `json:"adminHostPort"`
}

// Machine is one cluster machine.
type Machine struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Index   int      `json:"index"`
	Roles   []string `json:"roles"`
	Memory  int      `json:"memory"`
	CPUs    int      `json:"cpus"`
	// Devices are the USB device models that get a VirtualBox USB filter.
	Devices []Device `json:"devices"`
}

// Device is a USB device model passed through to a machine.
type Device struct {
	Name      string `json:"name"`
	VendorID  string `json:"vendorId"`
	ProductID string `json:"productId"`
	Serial    string `json:"serial,omitempty"`
}

// PortRange is an inclusive range of TCP ports.
type PortRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// STF holds the images and settings of the STF services.
type STF struct {
	Image           string `json:"image"`
	ADBImage        string `json:"adbImage"`
	AmbassadorImage string `json:"ambassadorImage"`
	NginxImage      string `json:"nginxImage"`
	// PublicHost is the host name users reach the farm on. Empty means the nginx
	// machine's address as the machine reports it.
	PublicHost string `json:"publicHost"`
	// ProviderPorts are the ports each provider hands out to device screens and adb.
	ProviderPorts PortRange `json:"providerPorts"`
	// Processors is the number of stf-processor instances, at most one per machine.
	Processors int `json:"processors"`
	// Providers are the indexes of the machines that run a provider. Empty means every
	// machine that has devices.
	Providers []int `json:"providers"`
	// PullImages makes each unit pull its image before it starts. Turn it off where the
	// images are loaded onto the machines instead of fetched from a registry.
	PullImages *bool `json:"pullImages,omitempty"`
	// GroupsEngine adds the stf-groups-engine unit that STF 3.4.2 and later need.
	GroupsEngine  *bool  `json:"groupsEngine,omitempty"`
	AdminName     string `json:"adminName"`
	AdminEmail    string `json:"adminEmail"`
	RootGroupName string `json:"rootGroupName"`
}

// Docker holds the settings of the docker provider.
type Docker struct {
	// NodeImage is the image of the cluster nodes.
	NodeImage string `json:"nodeImage"`
	// DBImage is the image of the db node.
	DBImage string `json:"dbImage"`
	// NetworkName is the Docker network the nodes join; its subnet is Network.
	NetworkName string `json:"networkName"`
	// ImagesDir is the folder, relative to the project, whose image archives every node
	// loads into its own Docker engine at boot.
	ImagesDir string `json:"imagesDir"`
	// Host is the Docker engine, as DOCKER_HOST names it. Empty means the project's own
	// engine, which local/dockerd.sh starts.
	Host string `json:"host"`
}

// HasRole reports whether the machine has the role.
func (m Machine) HasRole(role string) bool {
	for _, r := range m.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// PullsImages reports whether units pull their images before they start.
func (s STF) PullsImages() bool {
	return s.PullImages == nil || *s.PullImages
}

// UsesGroupsEngine reports whether the farm runs stf-groups-engine.
func (s STF) UsesGroupsEngine() bool {
	return s.GroupsEngine == nil || *s.GroupsEngine
}

// MachineWithRole returns the first machine that has the role.
func (c *Config) MachineWithRole(role string) (Machine, bool) {
	for _, m := range c.Machines {
		if m.HasRole(role) {
			return m, true
		}
	}
	return Machine{}, false
}

// MachineWithIndex returns the machine whose fleet index is index.
func (c *Config) MachineWithIndex(index int) (Machine, bool) {
	for _, m := range c.Machines {
		if m.Index == index {
			return m, true
		}
	}
	return Machine{}, false
}

// ProviderIndexes returns the machine indexes that run a provider: the configured list,
// or every machine that has devices when the list is empty.
func (c *Config) ProviderIndexes() []int {
	if len(c.STF.Providers) > 0 {
		return append([]int(nil), c.STF.Providers...)
	}
	var indexes []int
	for _, m := range c.Machines {
		if len(m.Devices) > 0 {
			indexes = append(indexes, m.Index)
		}
	}
	return indexes
}

// RoleSeparator joins the roles of a machine into its one fleet `role` value, because
// fleet keeps a single value per metadata key.
const RoleSeparator = "+"

// FleetMetadata returns the machine's fleet metadata as ordered key=value pairs:
// role (its roles joined by RoleSeparator, when it has any) and index.
func (m Machine) FleetMetadata() [][2]string {
	var pairs [][2]string
	if len(m.Roles) > 0 {
		pairs = append(pairs, [2]string{"role", strings.Join(m.Roles, RoleSeparator)})
	}
	return append(pairs, [2]string{"index", strconv.Itoa(m.Index)})
}

// FleetMetadataString returns the metadata in fleetd's `metadata` setting form,
// for example role=nginx,index=1.
func (m Machine) FleetMetadataString() string {
	parts := make([]string, 0, 2)
	for _, kv := range m.FleetMetadata() {
		parts = append(parts, kv[0]+"="+kv[1])
	}
	return strings.Join(parts, ",")
}
