package standin

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// validateValue checks one value of a flag against the flag's kind.
func validateValue(spec flagSpec, value string) error {
	quoted := strconv.Quote(value)
	if spec.secret {
		quoted = "(redacted)"
	}
	if spec.required && value == "" {
		return fmt.Errorf("flag --%s is empty, but it needs a value (%s)", spec.name, strings.TrimSuffix(spec.help, "."))
	}

	var err error
	switch spec.kind {
	case kindString:
		return nil
	case kindInteger:
		_, err = parseInteger(value, 0, 1<<53)
	case kindPort:
		_, err = parseInteger(value, 0, 65535)
	case kindRangePort:
		_, err = parseInteger(value, 1, 65535)
	case kindURL:
		err = checkURL(value)
	case kindConnectEndpoint:
		_, err = parseEndpoint(value, false)
	case kindBindEndpoint:
		_, err = parseEndpoint(value, true)
	case kindBindHost:
		_, err = parseBindHost(value)
	}
	if err != nil {
		return fmt.Errorf("invalid value %s for --%s: %w", quoted, spec.name, err)
	}
	return nil
}

// parseInteger parses a decimal integer from low to high inclusive.
func parseInteger(value string, low, high int64) (int64, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected a whole number")
	}
	if n < low || n > high {
		return 0, fmt.Errorf("expected a number from %d to %d", low, high)
	}
	return n, nil
}

func checkURL(value string) error {
	u, err := url.Parse(value)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return fmt.Errorf("expected an absolute URL starting with http://, https://, ws:// or wss://")
	}
	if u.Host == "" {
		return fmt.Errorf("the URL has no host")
	}
	return nil
}

// parseEndpoint parses a ZeroMQ TCP endpoint, tcp://host:port, into host:port for the
// net package. With wildcard set, the host may be * for every interface, which becomes
// an empty host.
func parseEndpoint(value string, wildcard bool) (string, error) {
	rest, ok := strings.CutPrefix(value, "tcp://")
	if !ok {
		return "", fmt.Errorf("expected tcp://HOST:PORT")
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return "", fmt.Errorf("expected tcp://HOST:PORT: %w", err)
	}
	if _, err := parseInteger(port, 1, 65535); err != nil {
		return "", fmt.Errorf("invalid port %q: %w", port, err)
	}
	switch {
	case host == "":
		return "", fmt.Errorf("the endpoint has no host")
	case host == "*" && wildcard:
		host = ""
	case host == "*":
		return "", fmt.Errorf("* (every interface) can only be bound, not connected to, so name the host")
	case strings.ContainsAny(host, "/?#*"):
		return "", fmt.Errorf("invalid host %q", host)
	}
	return net.JoinHostPort(host, port), nil
}

// parseBindHost parses RethinkDB's --bind value: an IP address, or "all" for every
// interface, which becomes an empty host.
func parseBindHost(value string) (string, error) {
	if value == "all" {
		return "", nil
	}
	if net.ParseIP(value) == nil {
		return "", fmt.Errorf("expected an IP address or \"all\"")
	}
	return value, nil
}
