//go:build tools

// Package fleetctl pins fleet v1.0.0 and the versions of its dependencies that build
// together, since fleet's own module has no go.mod and no vendor folder.
package fleetctl

import _ "github.com/coreos/fleet/fleetctl"
