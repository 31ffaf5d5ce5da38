module stf-farm/tools/fleetctl

go 1.26.6

require (
	github.com/coreos/etcd v3.3.10+incompatible
	github.com/coreos/fleet v1.0.0
	github.com/coreos/go-semver v0.2.0
	github.com/coreos/go-systemd v0.0.0-20161114122254-48702e0da86b
	github.com/godbus/dbus v4.1.0+incompatible
	github.com/golang/protobuf v1.2.0
	github.com/google/uuid v1.0.0
	github.com/jonboulle/clockwork v0.1.0
	github.com/pborman/uuid v1.2.0
	github.com/prometheus/client_golang v0.9.1
	github.com/rakyll/globalconf v0.0.0-00010101000000-000000000000
	github.com/spf13/cobra v0.0.3
	github.com/spf13/pflag v1.0.3
	github.com/ugorji/go v1.1.1
	github.com/vishvananda/netlink v1.0.0
	golang.org/x/crypto v0.0.0-20200622213623-75b288015ac9
	golang.org/x/net v0.0.0-20201021035429-f5854403a974
	golang.org/x/sys v0.2.0
	google.golang.org/api v0.1.0
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
)

// fleetd (package github.com/coreos/fleet) reads its settings through globalconf.
// ./globalconf is a small module of this repository that implements the part of
// globalconf's API that fleetd calls.
replace github.com/rakyll/globalconf => ./globalconf
