package render

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/template"

	"stf-farm/components/model"
	"stf-farm/files"
)

// Machine kinds in the Vagrant data files.
const (
	KindDB   = "db"
	KindCore = "core"
)

// DBProvisionPath is the path of the db machine's provisioning script in the Vagrant
// project folder.
const DBProvisionPath = "provision/rethinkdb.sh"

// MachineFiles are the files one machine adds to the farm's Vagrant project folder.
type MachineFiles struct {
	// Data is machines/<name>.json, the machine's description the Vagrantfile reads.
	Data string
	// ExtraPath is the folder-relative path of the machine's second file: its
	// cloud-config, or the db machine's provisioning script.
	ExtraPath string
	// Extra is the content of that file.
	Extra string
}

// Vagrantfile returns the farm's Vagrantfile. It is static: every setting comes from the
// machines' data files.
func Vagrantfile() string {
	return files.Read("vagrant/Vagrantfile")
}

// boxData is a box as the Vagrantfile reads it; empty fields are left out. The
// Vagrantfile resolves a URL without a scheme as a path relative to the project folder,
// so moving the project changes no data file.
type boxData struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	URL     string `json:"url,omitempty"`
}

type machineData struct {
	Name            string         `json:"name"`
	Kind            string         `json:"kind"`
	VMName          string         `json:"vmName"`
	Address         string         `json:"address"`
	Memory          int            `json:"memory"`
	CPUs            int            `json:"cpus"`
	Box             boxData        `json:"box"`
	Devices         []model.Device `json:"devices"`
	AdminHostPort   int            `json:"adminHostPort,omitempty"`
	ProvisionScript string         `json:"provisionScript,omitempty"`
	UserData        string         `json:"userData,omitempty"`
	// Boot is the machine's etcd and fleet settings as environment variables, which a
	// docker node reads at boot. A CoreOS machine gets the same values in cloud-config.
	Boot map[string]string `json:"boot,omitempty"`
	// Provider is the Vagrant provider that boots the machine.
	Provider string `json:"provider"`
	// Docker is set for the docker provider.
	Docker *dockerData `json:"docker,omitempty"`
}

// dockerData holds the settings the docker provider runs a machine's container with.
type dockerData struct {
	Image     string `json:"image"`
	Network   string `json:"network"`
	ImagesDir string `json:"imagesDir"`
}

func dockerSettings(cfg *model.Config, image string) *dockerData {
	if cfg.Provider != model.ProviderDocker {
		return nil
	}
	return &dockerData{Image: image, Network: cfg.Docker.NetworkName, ImagesDir: cfg.Docker.ImagesDir}
}

func vmName(stack, machine string) string {
	return model.Namespace + "-" + stack + "-" + machine
}

func encode(data machineData) (string, error) {
	if data.Devices == nil {
		data.Devices = []model.Device{}
	}
	out, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		return "", fmt.Errorf("machine %s: %w", data.Name, err)
	}
	return string(out) + "\n", nil
}

// DBMachine renders the db machine's data file and its provisioning script.
func DBMachine(cfg *model.Config, stack string) (MachineFiles, error) {
	db := cfg.DB
	data, err := encode(machineData{
		Name:    db.Name,
		Kind:    KindDB,
		VMName:  vmName(stack, db.Name),
		Address: db.Address,
		Memory:  db.Memory,
		CPUs:    db.CPUs,
		Box: boxData{
			Name: db.Box.Name, Version: db.Box.Version, URL: db.Box.URL,
		},
		AdminHostPort:   db.AdminHostPort,
		ProvisionScript: DBProvisionPath,
		Provider:        cfg.Provider,
		Docker:          dockerSettings(cfg, cfg.Docker.DBImage),
	})
	if err != nil {
		return MachineFiles{}, err
	}
	return MachineFiles{
		Data:      data,
		ExtraPath: DBProvisionPath,
		Extra:     files.Read("vagrant/rethinkdb-provision.sh"),
	}, nil
}

// CoreMachine renders a cluster machine's data file and its cloud-config. The
// cloud-config bootstraps etcd statically from every cluster machine's configured
// address, since the machines do not exist yet when it is written.
func CoreMachine(cfg *model.Config, stack string, m model.Machine) (MachineFiles, error) {
	userDataPath := "machines/" + m.Name + ".user-data"
	data, err := encode(machineData{
		Name:    m.Name,
		Kind:    KindCore,
		VMName:  vmName(stack, m.Name),
		Address: m.Address,
		Memory:  m.Memory,
		CPUs:    m.CPUs,
		Box: boxData{
			Name: cfg.Box.Name, Version: cfg.Box.Version, URL: cfg.Box.URL,
		},
		Devices:  m.Devices,
		UserData: userDataPath,
		Boot:     BootSettings(cfg, stack, m),
		Provider: cfg.Provider,
		Docker:   dockerSettings(cfg, cfg.Docker.NodeImage),
	})
	if err != nil {
		return MachineFiles{}, err
	}

	boot := BootSettings(cfg, stack, m)
	userData, err := execute("vagrant/cloud-config.yaml.tmpl", template.FuncMap{"yaml": yamlQuote},
		map[string]any{
			"Name":           m.Name,
			"Address":        m.Address,
			"InitialCluster": boot["ETCD_INITIAL_CLUSTER"],
			"ClusterToken":   boot["ETCD_INITIAL_CLUSTER_TOKEN"],
			"FleetMetadata":  boot["FLEET_METADATA"],
		})
	if err != nil {
		return MachineFiles{}, err
	}
	return MachineFiles{Data: data, ExtraPath: userDataPath, Extra: userData}, nil
}

// yamlQuote writes a value as a double-quoted YAML scalar; JSON strings are valid YAML.
func yamlQuote(value string) (string, error) {
	out, err := json.Marshal(value)
	return string(out), err
}

// BootSettings returns a cluster machine's etcd and fleet settings, named as etcd and
// fleetd read them from the environment. etcd bootstraps statically from every cluster
// machine's configured address, since the machines do not exist yet at boot.
func BootSettings(cfg *model.Config, stack string, m model.Machine) map[string]string {
	var members []string
	for _, other := range cfg.Machines {
		members = append(members, other.Name+"=http://"+other.Address+":2380")
	}
	return map[string]string{
		"ETCD_NAME":                        m.Name,
		"ETCD_INITIAL_CLUSTER":             strings.Join(members, ","),
		"ETCD_INITIAL_CLUSTER_STATE":       "new",
		"ETCD_INITIAL_CLUSTER_TOKEN":       model.Namespace + "-" + stack,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": "http://" + m.Address + ":2380",
		"ETCD_ADVERTISE_CLIENT_URLS":       "http://" + m.Address + ":2379",
		"ETCD_LISTEN_PEER_URLS":            "http://" + m.Address + ":2380",
		"ETCD_LISTEN_CLIENT_URLS":          "http://0.0.0.0:2379",
		"ETCD_ENABLE_V2":                   "true",
		"FLEET_PUBLIC_IP":                  m.Address,
		"FLEET_METADATA":                   m.FleetMetadataString(),
		"FLEET_ETCD_SERVERS":               "http://127.0.0.1:2379",
	}
}
