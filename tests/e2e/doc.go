// Package e2e runs the whole farm for real: the Pulumi engine through
// components/engine.OpenStack, Vagrant's docker provider booting Docker nodes that run
// systemd, etcd and fleetd, the fleet units submitted with fleetctl, and the real nginx
// on the nginx node. Nothing is simulated except STF itself, whose services run as the
// stand-ins of tools/standin.
//
// Each test and the benchmark work on a temporary copy of the project (the files that
// git tracks, with links to bin/, to the installed provider plugins and to
// .local-docker/images) and a stack named e2e. That stack is the local stack moved to
// the network 10.231.77.0/24 and the Docker network stf-farm-e2e, so its containers
// (stf-farm-e2e-*) never collide with a farm of the local stack. The nodes run in the
// Docker engine of this checkout (local/dockerd.sh), so the images are built once for
// both. The tests send traffic only to the farm's own addresses.
//
// What the tests need, and what fails them when it is missing:
//
//   - root, git, make, Vagrant 2.3, ssh and the docker.io package (`make local-deps`
//     and .ci/run install the packages);
//   - the Pulumi CLI and the provider plugins (`make tools`);
//   - the node and unit images: the setup runs `make farm-images`, which builds what
//     is missing (about 1.5 minutes the first time) and otherwise returns in a second.
//
// The setup starts the engine when it is not running (through `make farm-images`), and
// the tests stop it again at the end unless other containers run in it by then. A lock
// file, .farm/e2e.lock, keeps two runs from using the e2e stack at once. Containers and
// the network of the e2e stack that a killed run left behind are removed at the start.
//
// Run the tests with:
//
//	go test -count=1 ./tests/e2e/
//
// and the benchmark of `up` with `make bench-local` (see docs/benchmarks.md).
package e2e
