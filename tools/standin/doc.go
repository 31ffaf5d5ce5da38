// Package standin is a stand-in for STF's command-line program (`stf`) and for
// RethinkDB, used by the local farm on machines that cannot fetch STF's container
// images. It is one small static program that the farm's units run in place of the real
// services, so that fleet, nginx and the unit files can be exercised end to end.
//
// # Invocation
//
// The program chooses what to play from the name it is run under:
//
//	stf <subcommand> [flags]              STF's command line, as the unit files pass it
//	rethinkdb [flags]                     the RethinkDB stand-in
//	stf-standin [--check] stf <subcommand> [flags]
//	stf-standin [--check] <subcommand> [flags]
//	stf-standin [--check] rethinkdb [flags]
//
// The container image installs the binary as /usr/local/bin/stf (and as stf-standin)
// with no entrypoint, so `docker run IMAGE stf app --port 3000 ...` runs it with argv[0]
// "stf" and argv[1] the subcommand, exactly like STF's own image. See the Dockerfile
// in this folder.
//
// # Command line
//
// The stand-in accepts the subcommands and flags that the farm's unit templates pass:
// app, auth-mock, storage-plugin-apk, storage-plugin-image, storage-temp, websocket,
// api, groups-engine, processor, provider, reaper, triproxy and migrate (the table is in
// commands.go). Like STF's yargs-based CLI in strict mode, it rejects an unknown
// subcommand, an unknown flag or an extra positional argument with an error and exit
// status 2. Flags are given as `--flag value` or `--flag=value`, and a flag that STF
// declares as an array (the --connect-* endpoints) may be repeated or followed by
// several values. A flag may also come from the environment variable STF_<SUBCOMMAND>_
// <FLAG> (for example STF_APP_PORT), as yargs' env prefix allows, --port from PORT and
// --secret from SECRET, as STF's defaults read them. Flags that STF requires must be
// present, either way.
//
// The stand-in is stricter than STF in a few places, so that template mistakes show up
// early: it rejects STF's short aliases such as -p (units should use long names),
// checks that numbers are integers, ports are in range, URLs have a scheme and a host,
// and endpoints have the form tcp://host:port. A flag that STF has but no unit passes is
// rejected too; add it to the table when a template starts to use it.
//
// With `--check` (or the environment variable STF_STANDIN_CHECK=1) the program only
// validates its arguments, prints them as JSON on standard output with secrets
// redacted, and exits 0 without listening or connecting anywhere.
//
// # What is emulated
//
//   - app, auth-mock, storage-plugin-apk, storage-plugin-image, storage-temp, websocket
//     and api listen for HTTP on --port (or PORT, or STF's default port for the
//     subcommand). Every request gets a small JSON body that names the role, the
//     instance, the machine, the port, the method, the request path and the Host
//     header. websocket also accepts WebSocket upgrades on any path and echoes text and
//     binary messages.
//   - provider listens on every port from --min-port to --max-port (at most 1024 ports,
//     or the first STF_STANDIN_PROVIDER_PORTS ports) with the same JSON response and
//     WebSocket echo, because nginx routes /d/N/<serial>/<port>/ to any of them.
//   - triproxy binds the TCP ports of --bind-pub, --bind-dealer and --bind-pull and
//     accepts connections. ZeroMQ is not emulated, so a real STF peer would connect but
//     never complete the ZeroMQ handshake.
//   - processor, reaper, groups-engine, api, websocket and provider check that their
//     --connect-* endpoints accept TCP connections, retrying for a bounded time
//     (STF_STANDIN_CONNECT_TIMEOUT, default 30s), then keep running and keep checking.
//   - migrate checks that RethinkDB accepts TCP connections at the address in
//     RETHINKDB_PORT_28015_TCP (tcp://host:port, which docker's --link sets) within the
//     same bound, and exits 0, or exits 1 when it cannot.
//   - rethinkdb listens on 28015 (driver), 29015 (cluster) and 8080 (admin UI, HTTP
//     with the JSON response), accepting TCP connections. The RethinkDB wire protocol is
//     not emulated.
//
// Nothing else of STF is emulated: there are no devices, users, sessions, storage,
// ZeroMQ messages or database writes.
//
// # Environment
//
//	STF_STANDIN_CHECK            1 or true: validate the arguments and exit
//	STF_STANDIN_MACHINE          machine name in responses and logs (default: the host name)
//	STF_STANDIN_INSTANCE         instance name when neither --name nor a positional
//	                             name is given; docker does not tell a container its name
//	STF_STANDIN_BIND_HOST        address to bind instead of every interface
//	STF_STANDIN_CONNECT_TIMEOUT  bound for the reachability checks, a Go duration
//	STF_STANDIN_PROVIDER_PORTS   how many provider ports to listen on, from --min-port
//
// The program logs one line to standard error when it starts, for each listener (one
// for the provider's whole port range), for each error and when it stops. SIGTERM or
// SIGINT stops it within a second, with exit status 0.
package standin
