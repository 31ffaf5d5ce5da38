// Package render turns the stack configuration and the machines' reported addresses
// into the farm's files: fleet units, nginx.conf, the Vagrant data files and
// cloud-config. It is plain Go, so every file can be checked without Pulumi.
package render

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"stf-farm/components/model"
	"stf-farm/files"
)

// Unit groups, in the order fleet starts them: each group starts once the one before it
// is active.
const (
	GroupBase     = "base"
	GroupMigrate  = "migrate"
	GroupServices = "services"
	GroupProxy    = "proxy"
)

// Groups lists the unit groups in start order.
var Groups = []string{GroupBase, GroupMigrate, GroupServices, GroupProxy}

// Unit is one rendered fleet unit.
type Unit struct {
	// Name is the unit's name in fleet, for example stf-app@3100.service.
	Name string
	// Template is the file in files/units the unit comes from.
	Template string
	// Group is the start group of the unit.
	Group string
	// Text is the unit file.
	Text string
	// UsesSecret reports whether Text contains the STF secret.
	UsesSecret bool
	// UsesImage reports whether Text runs the STF image.
	UsesImage bool
}

// Addresses are the values that come from the machines once they run.
type Addresses struct {
	// DB is the db machine's address.
	DB string
	// Machines maps each cluster machine's name to its reported address.
	Machines map[string]string
}

// UnitValues are the dynamic inputs of the unit templates.
type UnitValues struct {
	Addresses Addresses
	// Secret signs STF's sessions.
	Secret string
}

// unitSpec describes one unit or one instance of a template unit.
type unitSpec struct {
	name, template, group string
	usesSecret            bool
	provider              int
}

// Service ports: the instance number of each web unit is the host port it listens on.
const (
	PortApp          = 3100
	PortAuth         = 3200
	PortStorageAPK   = 3300
	PortStorageImage = 3400
	PortStorageTemp  = 3500
	PortWebsocket    = 3600
	PortAPI          = 3700
)

func unitSpecs(cfg *model.Config) []unitSpec {
	specs := []unitSpec{
		{name: "adbd.service", template: "adbd.service", group: GroupBase},
		{name: "rethinkdb-proxy-28015.service", template: "rethinkdb-proxy-28015.service", group: GroupBase},
		{name: "stf-migrate.service", template: "stf-migrate.service", group: GroupMigrate},
		{name: instance("stf-app", PortApp), template: "stf-app@.service", group: GroupServices, usesSecret: true},
		{name: instance("stf-auth", PortAuth), template: "stf-auth@.service", group: GroupServices, usesSecret: true},
		{name: instance("stf-storage-plugin-apk", PortStorageAPK), template: "stf-storage-plugin-apk@.service", group: GroupServices},
		{name: instance("stf-storage-plugin-image", PortStorageImage), template: "stf-storage-plugin-image@.service", group: GroupServices},
		{name: instance("stf-storage-temp", PortStorageTemp), template: "stf-storage-temp@.service", group: GroupServices},
		{name: instance("stf-websocket", PortWebsocket), template: "stf-websocket@.service", group: GroupServices, usesSecret: true},
		{name: instance("stf-api", PortAPI), template: "stf-api@.service", group: GroupServices, usesSecret: true},
		{name: "stf-triproxy-app.service", template: "stf-triproxy-app.service", group: GroupServices},
		{name: "stf-triproxy-dev.service", template: "stf-triproxy-dev.service", group: GroupServices},
		{name: "stf-reaper.service", template: "stf-reaper.service", group: GroupServices},
	}
	if cfg.STF.UsesGroupsEngine() {
		specs = append(specs, unitSpec{name: "stf-groups-engine.service", template: "stf-groups-engine.service", group: GroupServices})
	}
	for i := 1; i <= cfg.STF.Processors; i++ {
		specs = append(specs, unitSpec{name: instance("stf-processor", i), template: "stf-processor@.service", group: GroupServices})
	}
	for _, index := range cfg.ProviderIndexes() {
		specs = append(specs, unitSpec{
			name: instance("stf-provider", index), template: "stf-provider@.service",
			group: GroupServices, provider: index,
		})
	}
	return append(specs, unitSpec{name: "nginx.service", template: "nginx.service", group: GroupProxy})
}

func instance(prefix string, n int) string {
	return prefix + "@" + strconv.Itoa(n) + ".service"
}

// unitData is the data the unit templates render.
type unitData struct {
	Image, ADBImage, AmbassadorImage, NginxImage string
	DBAddress, AppsideAddress, DevsideAddress    string
	PublicURL, WebsocketURL                      string
	ScreenURLPattern, ProviderAddress            string
	Secret                                       string
	ProviderPorts                                model.PortRange
	AdminName, AdminEmail, RootGroupName         string
	PullImages                                   bool
	cfg                                          *model.Config
}

// RoleMetadata returns the MachineMetadata values that select the machines with role:
// one role=<value> for each distinct fleet role value that includes it.
func (d unitData) RoleMetadata(role string) []string {
	seen := map[string]bool{}
	var values []string
	for _, m := range d.cfg.Machines {
		if !m.HasRole(role) {
			continue
		}
		value := "role=" + strings.Join(m.Roles, model.RoleSeparator)
		if !seen[value] {
			seen[value] = true
			values = append(values, value)
		}
	}
	sort.Strings(values)
	return values
}

// PublicHost returns the host users reach the farm on: the configured public host, or
// the nginx machine's address.
func PublicHost(cfg *model.Config, addresses Addresses) string {
	if cfg.STF.PublicHost != "" {
		return cfg.STF.PublicHost
	}
	nginx, _ := cfg.MachineWithRole(model.RoleNginx)
	return addresses.Machines[nginx.Name]
}

// Units renders every unit of the farm in start order.
func Units(cfg *model.Config, values UnitValues) ([]Unit, error) {
	var units []Unit
	for _, spec := range unitSpecs(cfg) {
		u, err := renderUnit(cfg, spec, values)
		if err != nil {
			return nil, err
		}
		units = append(units, u)
	}
	return units, nil
}

// UnitText renders one unit by name. values needs only the addresses the unit uses: the
// db machine, the appside and devside machines, the nginx machine unless stf.publicHost
// is set, and for a provider the machine it is pinned to (see UnitMachines).
func UnitText(cfg *model.Config, name string, values UnitValues) (string, error) {
	for _, spec := range unitSpecs(cfg) {
		if spec.name == name {
			u, err := renderUnit(cfg, spec, values)
			return u.Text, err
		}
	}
	return "", fmt.Errorf("the farm has no unit %s", name)
}

// UnitMachines returns the names of the cluster machines whose addresses the unit's
// file contains.
func UnitMachines(cfg *model.Config, name string) []string {
	var names []string
	add := func(m model.Machine) {
		for _, n := range names {
			if n == m.Name {
				return
			}
		}
		names = append(names, m.Name)
	}
	for _, role := range []string{model.RoleAppside, model.RoleDevside, model.RoleNginx} {
		if m, ok := cfg.MachineWithRole(role); ok {
			add(m)
		}
	}
	for _, spec := range unitSpecs(cfg) {
		if spec.name == name && spec.provider > 0 {
			m, _ := cfg.MachineWithIndex(spec.provider)
			add(m)
		}
	}
	return names
}

func renderUnit(cfg *model.Config, spec unitSpec, values UnitValues) (Unit, error) {
	appside, _ := cfg.MachineWithRole(model.RoleAppside)
	devside, _ := cfg.MachineWithRole(model.RoleDevside)
	public := PublicHost(cfg, values.Addresses)
	data := unitData{
		Image:           cfg.STF.Image,
		ADBImage:        cfg.STF.ADBImage,
		AmbassadorImage: cfg.STF.AmbassadorImage,
		NginxImage:      cfg.STF.NginxImage,
		DBAddress:       values.Addresses.DB,
		AppsideAddress:  values.Addresses.Machines[appside.Name],
		DevsideAddress:  values.Addresses.Machines[devside.Name],
		PublicURL:       "http://" + public + "/",
		WebsocketURL:    "ws://" + public + "/",
		Secret:          values.Secret,
		ProviderPorts:   cfg.STF.ProviderPorts,
		AdminName:       cfg.STF.AdminName,
		AdminEmail:      cfg.STF.AdminEmail,
		RootGroupName:   cfg.STF.RootGroupName,
		PullImages:      cfg.STF.PullsImages(),
		cfg:             cfg,
	}
	if spec.provider > 0 {
		m, _ := cfg.MachineWithIndex(spec.provider)
		data.ProviderAddress = values.Addresses.Machines[m.Name]
		// The provider fills in serial and publicPort (EJS syntax) for each device.
		data.ScreenURLPattern = fmt.Sprintf("ws://%s/d/%d/<%%= serial %%>/<%%= publicPort %%>/",
			public, spec.provider)
	}
	text, err := execute("units/"+spec.template+".tmpl", unitFuncs, data)
	if err != nil {
		return Unit{}, err
	}
	return Unit{
		Name:       spec.name,
		Template:   spec.template,
		Group:      spec.group,
		Text:       text,
		UsesSecret: spec.usesSecret,
		UsesImage:  strings.Contains(text, systemdQuote(cfg.STF.Image)),
	}, nil
}

var unitFuncs = template.FuncMap{"q": systemdQuote}

// systemdQuote quotes a value for a systemd command line: inside double quotes, with
// backslash and quote escaped, and % and $ doubled so systemd expands neither
// specifiers nor variables in it.
func systemdQuote(value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(value) + `"`
}

func execute(name string, funcs template.FuncMap, data any) (string, error) {
	tmpl, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(files.Read(name))
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}
