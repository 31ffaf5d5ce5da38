package standin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Settings are the stand-in's own options. They come from STF_STANDIN_* environment
// variables, so the STF command line stays exactly what the units pass.
type Settings struct {
	// Check validates the arguments and exits without listening (STF_STANDIN_CHECK).
	Check bool
	// Machine names the machine in responses and logs (STF_STANDIN_MACHINE, default
	// the host name).
	Machine string
	// Instance names the instance when the command line does not (STF_STANDIN_INSTANCE).
	Instance string
	// BindHost replaces "every interface" in the addresses the stand-in binds
	// (STF_STANDIN_BIND_HOST); tests set it to 127.0.0.1.
	BindHost string
	// ConnectTimeout bounds the reachability checks (STF_STANDIN_CONNECT_TIMEOUT).
	ConnectTimeout time.Duration
	// ProviderPorts is how many ports of the provider's range to listen on, counted from
	// --min-port (STF_STANDIN_PROVIDER_PORTS). 0 means the whole range, up to
	// maxProviderPorts.
	ProviderPorts int
	// Hostname is the host name, STF's default for --name.
	Hostname string
}

const (
	defaultConnectTimeout = 30 * time.Second
	// maxProviderPorts caps the listeners of one provider, since a five-digit range may
	// hold tens of thousands of ports and each listener is a file descriptor.
	maxProviderPorts = 1024
)

// SettingsFromEnv reads the STF_STANDIN_* variables and the host name.
func SettingsFromEnv(lookup LookupEnv) (Settings, error) {
	s := Settings{ConnectTimeout: defaultConnectTimeout}
	s.Hostname, _ = os.Hostname()
	if s.Hostname == "" {
		s.Hostname = "localhost"
	}
	get := func(name string) string {
		value, _ := lookup(name)
		return value
	}

	switch value := get("STF_STANDIN_CHECK"); strings.ToLower(value) {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		s.Check = true
	default:
		return s, fmt.Errorf("invalid STF_STANDIN_CHECK %q: use 1 to only check the arguments, or leave it unset", value)
	}

	s.Machine = get("STF_STANDIN_MACHINE")
	if s.Machine == "" {
		s.Machine = s.Hostname
	}
	s.Instance = get("STF_STANDIN_INSTANCE")

	s.BindHost = get("STF_STANDIN_BIND_HOST")
	if s.BindHost != "" && net.ParseIP(s.BindHost) == nil {
		return s, fmt.Errorf("invalid STF_STANDIN_BIND_HOST %q: expected an IP address such as 127.0.0.1", s.BindHost)
	}

	if value := get("STF_STANDIN_CONNECT_TIMEOUT"); value != "" {
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("invalid STF_STANDIN_CONNECT_TIMEOUT %q: expected a positive duration such as 30s", value)
		}
		s.ConnectTimeout = d
	}

	if value := get("STF_STANDIN_PROVIDER_PORTS"); value != "" {
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > maxProviderPorts {
			return s, fmt.Errorf("invalid STF_STANDIN_PROVIDER_PORTS %q: expected a number of ports from 1 to %d", value, maxProviderPorts)
		}
		s.ProviderPorts = n
	}
	return s, nil
}

// newIdentity decides the role, instance and machine that responses and logs report.
func newIdentity(inv *Invocation, settings Settings) identity {
	id := identity{role: inv.Subcommand(), machine: settings.Machine}
	switch {
	case inv.Has("name"):
		id.instance = inv.String("name")
	case inv.command.positional == "name" && len(inv.Positionals) > 0:
		id.instance = inv.Positionals[0]
	case settings.Instance != "":
		id.instance = settings.Instance
	case inv.command.behaviour == behaviourProvider:
		id.instance = settings.Hostname
	case inv.Has("port"):
		id.instance = id.role + ":" + inv.String("port")
	default:
		id.instance = id.role
	}
	return id
}

// Start starts the service that inv describes and returns once it listens. migrate
// has no service: use Migrate.
func Start(inv *Invocation, settings Settings, log *slog.Logger) (*Service, error) {
	s := newService(log, newIdentity(inv, settings))
	var err error
	switch inv.command.behaviour {
	case behaviourHTTP, behaviourWebSocket:
		err = s.startHTTP(inv, settings)
	case behaviourProvider:
		err = s.startProvider(inv, settings)
	case behaviourTriproxy:
		err = s.startTriproxy(inv, settings)
	case behaviourRethinkDB:
		err = s.startRethinkDB(inv, settings)
	case behaviourWorker:
	case behaviourMigrate:
		err = errors.New("migrate runs to completion and has no service, so call Migrate instead")
	}
	if err != nil {
		s.Close()
		return nil, err
	}

	for _, spec := range inv.command.flags {
		if spec.kind != kindConnectEndpoint {
			continue
		}
		for _, endpoint := range inv.Strings(spec.name) {
			address, _ := parseEndpoint(endpoint, false)
			s.watchEndpoint("--"+spec.name, endpoint, address, settings.ConnectTimeout)
		}
	}
	return s, nil
}

func (s *Service) startHTTP(inv *Invocation, settings Settings) error {
	address := net.JoinHostPort(settings.BindHost, inv.String("port"))
	l, err := s.listen("http", address)
	if err != nil {
		return fmt.Errorf("cannot listen for HTTP on %s (--port): %w", address, err)
	}
	websocket := inv.command.behaviour == behaviourWebSocket
	s.serveHTTP(s.newHTTPServer(websocket), l)
	s.log.Info("listening", "listener", "http", "address", l.Addr().String(), "websocket", websocket)
	return nil
}

func (s *Service) startProvider(inv *Invocation, settings Settings) error {
	low, high := inv.Int("min-port"), inv.Int("max-port")
	limit := settings.ProviderPorts
	if limit == 0 {
		limit = maxProviderPorts
	}
	last := min(high, low+limit-1)

	server := s.newHTTPServer(true)
	listening, failed := 0, 0
	var firstErr error
	for port := low; port <= last; port++ {
		l, err := s.listen("provider", net.JoinHostPort(settings.BindHost, strconv.Itoa(port)))
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		s.serveHTTP(server, l)
		listening++
	}
	if listening == 0 {
		return fmt.Errorf("cannot listen on any provider port from %d to %d: %w", low, last, firstErr)
	}
	s.log.Info("listening", "listener", "provider", "host", hostLabel(settings.BindHost),
		"ports", fmt.Sprintf("%d-%d", low, last), "count", listening, "websocket", true)
	if failed > 0 {
		s.log.Error("cannot listen on some provider ports", "failed", failed, "first_error", firstErr)
	}
	if last < high {
		s.log.Info("not listening on the rest of the provider port range",
			"ports", fmt.Sprintf("%d-%d", last+1, high), "limit", limit)
	}
	return nil
}

func (s *Service) startTriproxy(inv *Invocation, settings Settings) error {
	for _, flag := range []string{"bind-pub", "bind-dealer", "bind-pull"} {
		endpoint := inv.String(flag)
		address := bindAddress(endpoint, settings.BindHost)
		l, err := s.listen(flag, address)
		if err != nil {
			return fmt.Errorf("cannot bind --%s %s: %w", flag, endpoint, err)
		}
		s.serveTCP(l)
		s.log.Info("listening", "listener", flag, "endpoint", endpoint, "address", l.Addr().String(), "protocol", "tcp")
	}
	return nil
}

func (s *Service) startRethinkDB(inv *Invocation, settings Settings) error {
	host := settings.BindHost
	if inv.Has("bind") {
		host, _ = parseBindHost(inv.String("bind"))
	}
	for _, listener := range []struct{ name, flag string }{
		{"driver", "driver-port"}, {"cluster", "cluster-port"}, {"http", "http-port"},
	} {
		address := net.JoinHostPort(host, inv.String(listener.flag))
		l, err := s.listen(listener.name, address)
		if err != nil {
			return fmt.Errorf("cannot listen on %s (--%s): %w", address, listener.flag, err)
		}
		if listener.name == "http" {
			s.serveHTTP(s.newHTTPServer(false), l)
		} else {
			s.serveTCP(l)
		}
		s.log.Info("listening", "listener", listener.name, "address", l.Addr().String())
	}
	return nil
}

// bindAddress turns a validated bind endpoint into a listen address, with bindHost in
// place of the * wildcard.
func bindAddress(endpoint, bindHost string) string {
	address, _ := parseEndpoint(endpoint, true)
	host, port, _ := net.SplitHostPort(address)
	if host == "" {
		host = bindHost
	}
	return net.JoinHostPort(host, port)
}

func hostLabel(host string) string {
	if host == "" {
		return "every interface"
	}
	return host
}

// Migrate checks that RethinkDB accepts TCP connections at RETHINKDB_PORT_28015_TCP
// within settings.ConnectTimeout. It returns nil when it does; it migrates nothing.
func Migrate(ctx context.Context, settings Settings, lookup LookupEnv, log *slog.Logger) error {
	const variable = "RETHINKDB_PORT_28015_TCP"
	endpoint, _ := lookup(variable)
	if endpoint == "" {
		return fmt.Errorf("%s is not set: run migrate with docker's --link to the RethinkDB ambassador, "+
			"or set it to tcp://HOST:28015", variable)
	}
	address, err := parseEndpoint(endpoint, false)
	if err != nil {
		return fmt.Errorf("invalid %s %q: %w", variable, endpoint, err)
	}

	log.Info("waiting for RethinkDB", "address", address, "timeout", settings.ConnectTimeout)
	if err := waitReachable(ctx, address, settings.ConnectTimeout, retryInterval); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped before RethinkDB at %s accepted a connection", address)
		}
		return fmt.Errorf("RethinkDB is not reachable: %w. Check that the RethinkDB ambassador unit "+
			"runs and that the db machine listens on port 28015", err)
	}

	attrs := []any{"address", address}
	for _, name := range []string{"STF_ROOT_GROUP_NAME", "STF_ADMIN_NAME", "STF_ADMIN_EMAIL"} {
		if value, ok := lookup(name); ok {
			attrs = append(attrs, strings.ToLower(name), value)
		}
	}
	log.Info("RethinkDB is reachable, but the stand-in creates no tables and no admin user", attrs...)
	return nil
}
