// Package engine runs the farm's program through the real Pulumi engine: the CLI that
// `make tools` builds into bin/, the provider plugins it installs, and a file backend in
// a temporary folder. The program is components.Program, run in the test process as an
// inline program of the Automation API.
//
// Every test works on a temporary copy of the project (Pulumi.yaml and one stack file),
// so the repository's own stack files and state are never touched. The tests that need
// state run `up` with stand-ins for vagrant, fleetctl and ssh. These are small shell
// scripts, first on PATH, that print what the real tools print and log every call. So
// no machine boots and no network traffic leaves the test.
//
// Run the tests from the top of the repository after `make tools`:
//
//	go test -count=1 ./tests/engine/
//
// and the preview benchmark, which prints medians of warm previews, with:
//
//	make bench
//
// Nothing is skipped: a missing CLI or plugin fails the tests with a message that says
// to run `make tools`.
package engine
