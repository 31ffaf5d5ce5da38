package render

import (
	"fmt"
	"net"
	"strconv"

	"stf-farm/components/model"
	"stf-farm/components/placement"
)

// Route is one nginx location of the farm and the unit behind it.
type Route struct {
	// Path is the location prefix.
	Path string
	// Upstream is the nginx upstream name the location proxies to.
	Upstream string
	// Unit is the fleet unit that serves the path.
	Unit string
	// Port is the port the unit listens on, on whichever machine runs it.
	Port int
}

// Routes are the farm's fixed locations. Provider routes (/d/N/...) are added per
// provider by NginxConf.
var Routes = []Route{
	{Path: "/", Upstream: "stf_app", Unit: instance("stf-app", PortApp), Port: PortApp},
	{Path: "/auth/", Upstream: "stf_auth", Unit: instance("stf-auth", PortAuth), Port: PortAuth},
	{Path: "/s/apk/", Upstream: "stf_storage_apk", Unit: instance("stf-storage-plugin-apk", PortStorageAPK), Port: PortStorageAPK},
	{Path: "/s/image/", Upstream: "stf_storage_image", Unit: instance("stf-storage-plugin-image", PortStorageImage), Port: PortStorageImage},
	{Path: "/s/", Upstream: "stf_storage", Unit: instance("stf-storage-temp", PortStorageTemp), Port: PortStorageTemp},
	{Path: "/socket.io/", Upstream: "stf_websocket", Unit: instance("stf-websocket", PortWebsocket), Port: PortWebsocket},
	{Path: "/api/", Upstream: "stf_api", Unit: instance("stf-api", PortAPI), Port: PortAPI},
}

// ProxyValues are the inputs of nginx.conf besides the configuration.
type ProxyValues struct {
	// Listen is nginx's listen parameter: a port, or address:port. Empty means 80.
	Listen string
	// Addresses maps each cluster machine's name to its reported address.
	Addresses map[string]string
	// Placement is each unit's candidate machines.
	Placement []placement.Result
}

type upstream struct {
	Name    string
	Servers []string
}

type providerRoute struct {
	Index   int
	Address string
}

// NginxConf renders nginx.conf: one upstream per route listing every candidate machine
// of the unit behind it, and one /d/N/ location per provider to the machine with
// index=N.
func NginxConf(cfg *model.Config, values ProxyValues) (string, error) {
	candidates := map[string][]string{}
	for _, r := range values.Placement {
		candidates[r.Unit] = r.Candidates
	}

	var upstreams []upstream
	for _, route := range Routes {
		machines, ok := candidates[route.Unit]
		if !ok || len(machines) == 0 {
			return "", fmt.Errorf("nginx.conf: unit %s behind %s has no candidate machine", route.Unit, route.Path)
		}
		u := upstream{Name: route.Upstream}
		for _, name := range machines {
			addr, err := machineAddress(values.Addresses, name)
			if err != nil {
				return "", fmt.Errorf("nginx.conf: upstream %s: %w", route.Upstream, err)
			}
			u.Servers = append(u.Servers, net.JoinHostPort(addr, strconv.Itoa(route.Port)))
		}
		upstreams = append(upstreams, u)
	}

	var providers []providerRoute
	for _, index := range cfg.ProviderIndexes() {
		m, _ := cfg.MachineWithIndex(index)
		addr, err := machineAddress(values.Addresses, m.Name)
		if err != nil {
			return "", fmt.Errorf("nginx.conf: route /d/%d/: %w", index, err)
		}
		providers = append(providers, providerRoute{Index: index, Address: addr})
	}

	ports, err := PortPattern(cfg.STF.ProviderPorts.Min, cfg.STF.ProviderPorts.Max)
	if err != nil {
		return "", fmt.Errorf("nginx.conf: %s:stf.providerPorts: %w", model.Namespace, err)
	}

	listen := values.Listen
	if listen == "" {
		listen = "80"
	}
	return execute("proxy/nginx.conf.tmpl", nil, map[string]any{
		"Listen":        listen,
		"Upstreams":     upstreams,
		"Providers":     providers,
		"ProviderPorts": ports,
	})
}

// machineAddress returns a machine's address, which must be an IP address: a host name
// or a placeholder would stop nginx from starting.
func machineAddress(addresses map[string]string, name string) (string, error) {
	addr, ok := addresses[name]
	if !ok {
		return "", fmt.Errorf("machine %s has no reported address", name)
	}
	if net.ParseIP(addr) == nil {
		return "", fmt.Errorf("machine %s reported %q, which is not an IP address", name, addr)
	}
	return addr, nil
}
