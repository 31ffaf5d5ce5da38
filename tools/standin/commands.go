package standin

// valueKind is the type of a flag's value, which decides how validation checks it.
type valueKind int

const (
	// kindString accepts any text.
	kindString valueKind = iota
	// kindInteger accepts a non-negative decimal integer.
	kindInteger
	// kindPort accepts a TCP port from 0 to 65535, where 0 lets the system choose.
	kindPort
	// kindRangePort accepts a TCP port from 1 to 65535.
	kindRangePort
	// kindURL accepts an absolute http, https, ws or wss URL.
	kindURL
	// kindConnectEndpoint accepts tcp://host:port with a concrete host.
	kindConnectEndpoint
	// kindBindEndpoint accepts tcp://host:port where host may be * for every interface.
	kindBindEndpoint
	// kindBindHost accepts an IP address, or "all" for every interface.
	kindBindHost
)

// behaviour is the kind of service a subcommand runs once its arguments are valid.
type behaviour int

const (
	// behaviourHTTP serves the JSON response on --port.
	behaviourHTTP behaviour = iota
	// behaviourWebSocket serves the JSON response and WebSocket echo on --port.
	behaviourWebSocket
	// behaviourProvider serves the JSON response and WebSocket echo on the port range.
	behaviourProvider
	// behaviourTriproxy binds the three ZeroMQ endpoints as plain TCP listeners.
	behaviourTriproxy
	// behaviourWorker listens nowhere and only checks its endpoints.
	behaviourWorker
	// behaviourMigrate checks RethinkDB and exits.
	behaviourMigrate
	// behaviourRethinkDB plays the RethinkDB server.
	behaviourRethinkDB
)

// flagSpec describes one long flag of a subcommand.
type flagSpec struct {
	// name is the flag without its leading dashes, for example "connect-sub".
	name string
	kind valueKind
	// array marks flags that STF declares with `array: true`: they may be repeated
	// and take every following value up to the next flag.
	array bool
	// required marks flags that STF declares with `demand: true`.
	required bool
	// fallbackEnv names an environment variable that STF reads as the flag's default,
	// besides the STF_<SUBCOMMAND>_<FLAG> variable of yargs' env prefix.
	fallbackEnv string
	// defaultValue is used when neither the command line nor the environment sets the
	// flag. Empty means no default.
	defaultValue string
	// secret keeps the value out of logs and check output.
	secret bool
	help   string
}

// commandSpec describes one subcommand.
type commandSpec struct {
	name string
	// positional names the optional positional argument, as in STF's usage line
	// (`processor [name]`). Empty means the subcommand takes none.
	positional string
	// manyPositionals lets the positional argument repeat (`provider [serial..]`).
	manyPositionals bool
	// envPrefix is yargs' env prefix: STF_APP makes STF_APP_PORT set --port. Empty
	// means the subcommand reads no flags from the environment.
	envPrefix string
	behaviour behaviour
	flags     []flagSpec
	help      string
}

// Flags shared by several subcommands. The defaults are STF's own defaults for the
// subcommand, so a unit that leaves a flag out behaves as it would with STF.
func portFlag(defaultPort string) flagSpec {
	return flagSpec{name: "port", kind: kindPort, fallbackEnv: "PORT", defaultValue: defaultPort,
		help: "TCP port to listen on for HTTP."}
}

var secretFlag = flagSpec{name: "secret", kind: kindString, required: true, fallbackEnv: "SECRET", secret: true,
	help: "Secret that signs session tokens. The units pass it in the SECRET environment variable."}

func connectFlag(name, help string) flagSpec {
	return flagSpec{name: name, kind: kindConnectEndpoint, array: true, required: true, help: help}
}

func urlFlag(name, help string) flagSpec {
	return flagSpec{name: name, kind: kindURL, required: true, help: help}
}

var storageURLFlag = urlFlag("storage-url", "URL of the storage service.")

// stfCommands lists every subcommand the farm's unit templates run, with the flags
// they pass. The flag names and value forms are STF's.
var stfCommands = []*commandSpec{
	{
		name: "app", envPrefix: "STF_APP", behaviour: behaviourHTTP,
		help: "Serve STF's web app.",
		flags: []flagSpec{
			portFlag("7105"),
			urlFlag("auth-url", "URL of the authentication service."),
			urlFlag("websocket-url", "URL of the websocket service."),
			secretFlag,
		},
	},
	{
		name: "auth-mock", envPrefix: "STF_AUTH_MOCK", behaviour: behaviourHTTP,
		help: "Serve the mock authentication that accepts any user.",
		flags: []flagSpec{
			portFlag("7120"),
			urlFlag("app-url", "URL of the app service."),
			secretFlag,
		},
	},
	{
		name: "storage-plugin-apk", envPrefix: "STF_STORAGE_PLUGIN_APK", behaviour: behaviourHTTP,
		help:  "Serve the APK storage plugin.",
		flags: []flagSpec{portFlag("7100"), storageURLFlag},
	},
	{
		name: "storage-plugin-image", envPrefix: "STF_STORAGE_PLUGIN_IMAGE", behaviour: behaviourHTTP,
		help:  "Serve the image storage plugin.",
		flags: []flagSpec{portFlag("7100"), storageURLFlag},
	},
	{
		name: "storage-temp", envPrefix: "STF_STORAGE_TEMP", behaviour: behaviourHTTP,
		help: "Serve the temporary file storage.",
		flags: []flagSpec{
			portFlag("7100"),
			{name: "save-dir", kind: kindString, help: "Folder that uploaded files are saved to."},
		},
	},
	{
		name: "websocket", envPrefix: "STF_WEBSOCKET", behaviour: behaviourWebSocket,
		help: "Serve the websocket service of the web app.",
		flags: []flagSpec{
			portFlag("7110"),
			storageURLFlag,
			connectFlag("connect-sub", "App-side ZeroMQ PUB endpoint to connect to."),
			connectFlag("connect-push", "App-side ZeroMQ PULL endpoint to connect to."),
			secretFlag,
		},
	},
	{
		name: "api", envPrefix: "STF_API", behaviour: behaviourHTTP,
		help: "Serve the REST API.",
		flags: []flagSpec{
			portFlag("7106"),
			connectFlag("connect-sub", "App-side ZeroMQ PUB endpoint to connect to."),
			connectFlag("connect-push", "App-side ZeroMQ PULL endpoint to connect to."),
			connectFlag("connect-sub-dev", "Device-side ZeroMQ PUB endpoint to connect to."),
			connectFlag("connect-push-dev", "Device-side ZeroMQ PULL endpoint to connect to."),
			secretFlag,
		},
	},
	{
		name: "groups-engine", envPrefix: "STF_GROUPS_ENGINE", behaviour: behaviourWorker,
		help: "Run the groups engine.",
		flags: []flagSpec{
			connectFlag("connect-sub", "App-side ZeroMQ PUB endpoint to connect to."),
			connectFlag("connect-push", "App-side ZeroMQ PULL endpoint to connect to."),
			connectFlag("connect-sub-dev", "Device-side ZeroMQ PUB endpoint to connect to."),
			connectFlag("connect-push-dev", "Device-side ZeroMQ PULL endpoint to connect to."),
		},
	},
	{
		name: "processor", positional: "name", envPrefix: "STF_PROCESSOR", behaviour: behaviourWorker,
		help: "Run a processor, which relays messages between the app side and the device side.",
		flags: []flagSpec{
			connectFlag("connect-app-dealer", "App-side ZeroMQ DEALER endpoint to connect to."),
			connectFlag("connect-dev-dealer", "Device-side ZeroMQ DEALER endpoint to connect to."),
		},
	},
	{
		name: "provider", positional: "serial", manyPositionals: true, envPrefix: "STF_PROVIDER",
		behaviour: behaviourProvider,
		help:      "Run a provider for the devices attached to this machine.",
		flags: []flagSpec{
			{name: "name", kind: kindString, help: "Name of the provider in the UI and the logs, by default the host name."},
			connectFlag("connect-sub", "Device-side ZeroMQ PUB endpoint to connect to."),
			connectFlag("connect-push", "Device-side ZeroMQ PULL endpoint to connect to."),
			storageURLFlag,
			{name: "public-ip", kind: kindString, help: "Address or host name that device URLs use."},
			{name: "min-port", kind: kindRangePort, defaultValue: "7400", help: "Lowest port that device workers use."},
			{name: "max-port", kind: kindRangePort, defaultValue: "7700", help: "Highest port that device workers use."},
			{name: "heartbeat-interval", kind: kindInteger, help: "Interval between heartbeat messages, in milliseconds."},
			{name: "screen-ws-url-pattern", kind: kindString, help: "Pattern of the screen WebSocket URL sent to browsers."},
		},
	},
	{
		name: "reaper", positional: "name", envPrefix: "STF_REAPER", behaviour: behaviourWorker,
		help: "Run the reaper, which marks devices without recent heartbeats as absent.",
		flags: []flagSpec{
			connectFlag("connect-push", "Device-side ZeroMQ PULL endpoint to connect to."),
			connectFlag("connect-sub", "App-side ZeroMQ PUB endpoint to connect to."),
			{name: "heartbeat-timeout", kind: kindInteger, help: "Age after which a device's heartbeat counts as missing, in milliseconds."},
		},
	},
	{
		name: "triproxy", positional: "name", envPrefix: "STF_TRIPROXY", behaviour: behaviourTriproxy,
		help: "Run a triproxy, which binds the PUB, DEALER and PULL endpoints one side connects to.",
		flags: []flagSpec{
			{name: "bind-pub", kind: kindBindEndpoint, defaultValue: "tcp://*:7111", help: "Address to bind the ZeroMQ PUB endpoint to."},
			{name: "bind-dealer", kind: kindBindEndpoint, defaultValue: "tcp://*:7112", help: "Address to bind the ZeroMQ DEALER endpoint to."},
			{name: "bind-pull", kind: kindBindEndpoint, defaultValue: "tcp://*:7113", help: "Address to bind the ZeroMQ PULL endpoint to."},
		},
	},
	{
		name: "migrate", behaviour: behaviourMigrate,
		help: "Check that RethinkDB at RETHINKDB_PORT_28015_TCP accepts connections, then exit.",
	},
}

// rethinkdbCommand is the RethinkDB stand-in. Its flag names are RethinkDB's own.
var rethinkdbCommand = &commandSpec{
	name: "rethinkdb", behaviour: behaviourRethinkDB,
	help: "Listen on RethinkDB's driver, cluster and admin UI ports.",
	flags: []flagSpec{
		{name: "bind", kind: kindBindHost, help: "Address to listen on, or \"all\" for every interface, which is the default."},
		{name: "driver-port", kind: kindPort, defaultValue: "28015", help: "TCP port for client drivers."},
		{name: "cluster-port", kind: kindPort, defaultValue: "29015", help: "TCP port for other servers of the cluster."},
		{name: "http-port", kind: kindPort, defaultValue: "8080", help: "TCP port for the admin UI, where the stand-in responds with JSON."},
	},
}

// findCommand returns the STF subcommand called name, or nil.
func findCommand(name string) *commandSpec {
	for _, c := range stfCommands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// findFlag returns the flag of c called name, or nil.
func (c *commandSpec) findFlag(name string) *flagSpec {
	for i := range c.flags {
		if c.flags[i].name == name {
			return &c.flags[i]
		}
	}
	return nil
}
