// Package conformance pins down how the "command" and "random" providers
// behave under the real Pulumi engine, so that the program can rely on it.
//
// The tests drive the Pulumi CLI in ./bin through the Automation API with
// inline programs. Each test gets its own file backend and its own Pulumi
// home folder in a temporary directory. The home folder's plugins folder is a
// link to the one that "make tools" filled, so nothing is downloaded or copied.
//
// Run them from the top of the repository after "make tools":
//
//	go test ./tests/conformance/
//
// By default the tests use the stand-in providers that "make tools" builds
// from the tools folder and installs into .pulumi-home (or into the folder
// named by STF_FARM_PULUMI_HOME). With STF_FARM_OFFICIAL_PLUGINS=1 the same
// tests run against the official providers already installed on the
// machine, in PULUMI_HOME or else in ~/.pulumi; use that on a machine that
// has them to check that the stand-ins still behave like the real thing.
//
// Nothing here is ever skipped: a missing CLI or provider fails the test
// with a message that explains how to get it.
package conformance
