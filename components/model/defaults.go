package model

// Default values, applied by ApplyDefaults to every setting a stack leaves empty.
const (
	DefaultNetwork            = "192.168.56.0/24"
	DefaultBoxName            = "coreos-stable"
	DefaultDBName             = "db"
	DefaultDBBoxName          = "ubuntu/jammy64"
	DefaultDBAdminHostPort    = 8080
	DefaultMemoryMB           = 1024
	DefaultCPUs               = 1
	DefaultSTFImage           = "devicefarmer/stf:3.7.9"
	DefaultADBImage           = "devicefarmer/adb:latest"
	DefaultAmbassadorImage    = "devicefarmer/ambassador:latest"
	DefaultNginxImage         = "nginx:1.27"
	DefaultProviderPortMin    = 15000
	DefaultProviderPortMax    = 15500
	DefaultProcessors         = 3
	DefaultAdminName          = "administrator"
	DefaultAdminEmail         = "administrator@fakedomain.com"
	DefaultRootGroupName      = "Common"
	DefaultUnitTimeoutSeconds = 600
	DefaultDockerNetworkName  = "stf-farm"
	DefaultDockerNodeImage    = "stf-farm/node:local"
	DefaultDockerDBImage      = "stf-farm/db:local"
	DefaultDockerImagesDir    = ".local-docker/images"
)

// ApplyDefaults fills every empty setting with its default. Validation runs after it,
// so a zero that is not a valid value (a memory of 0, say) cannot reach a machine.
func (c *Config) ApplyDefaults() {
	if c.Provider == "" {
		c.Provider = ProviderVirtualBox
	}
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.Box.Name == "" {
		c.Box.Name = DefaultBoxName
	}
	if c.UnitTimeoutSeconds == 0 {
		c.UnitTimeoutSeconds = DefaultUnitTimeoutSeconds
	}

	c.DB.applyDefaults()
	for i := range c.Machines {
		c.Machines[i].applyDefaults()
	}
	c.STF.applyDefaults()
	if c.STF.Processors == 0 {
		// Processors conflict with each other, so there can be no more than machines.
		c.STF.Processors = min(DefaultProcessors, max(len(c.Machines), 1))
	}
	c.Docker.applyDefaults()
}

func (d *DBMachine) applyDefaults() {
	if d.Name == "" {
		d.Name = DefaultDBName
	}
	if d.Memory == 0 {
		d.Memory = DefaultMemoryMB
	}
	if d.CPUs == 0 {
		d.CPUs = DefaultCPUs
	}
	if d.Box.Name == "" {
		d.Box.Name = DefaultDBBoxName
	}
	if d.AdminHostPort == 0 {
		d.AdminHostPort = DefaultDBAdminHostPort
	}
}

func (m *Machine) applyDefaults() {
	if m.Memory == 0 {
		m.Memory = DefaultMemoryMB
	}
	if m.CPUs == 0 {
		m.CPUs = DefaultCPUs
	}
}

func (s *STF) applyDefaults() {
	if s.Image == "" {
		s.Image = DefaultSTFImage
	}
	if s.ADBImage == "" {
		s.ADBImage = DefaultADBImage
	}
	if s.AmbassadorImage == "" {
		s.AmbassadorImage = DefaultAmbassadorImage
	}
	if s.NginxImage == "" {
		s.NginxImage = DefaultNginxImage
	}
	if s.ProviderPorts == (PortRange{}) {
		s.ProviderPorts = PortRange{Min: DefaultProviderPortMin, Max: DefaultProviderPortMax}
	}
	if s.AdminName == "" {
		s.AdminName = DefaultAdminName
	}
	if s.AdminEmail == "" {
		s.AdminEmail = DefaultAdminEmail
	}
	if s.RootGroupName == "" {
		s.RootGroupName = DefaultRootGroupName
	}
}

func (d *Docker) applyDefaults() {
	if d.NetworkName == "" {
		d.NetworkName = DefaultDockerNetworkName
	}
	if d.NodeImage == "" {
		d.NodeImage = DefaultDockerNodeImage
	}
	if d.DBImage == "" {
		d.DBImage = DefaultDockerDBImage
	}
	if d.ImagesDir == "" {
		d.ImagesDir = DefaultDockerImagesDir
	}
}
