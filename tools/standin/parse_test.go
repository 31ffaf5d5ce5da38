package standin

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// unitCommandLines are the STF command lines of the dev stack's rendered units, after
// systemd's unquoting and with %p-%i and %H filled in. tests/standin_units_test.go in
// the main module checks the rendered units themselves.
var unitCommandLines = map[string][]string{
	"stf-app@3100": {"app", "--port", "3000",
		"--auth-url", "http://192.168.56.101/auth/mock/",
		"--websocket-url", "ws://192.168.56.101/"},
	"stf-auth@3200": {"auth-mock", "--port", "3000",
		"--app-url", "http://192.168.56.101/"},
	"stf-storage-plugin-apk@3300": {"storage-plugin-apk", "--port", "3000",
		"--storage-url", "http://192.168.56.101/"},
	"stf-storage-plugin-image@3400": {"storage-plugin-image", "--port", "3000",
		"--storage-url", "http://192.168.56.101/"},
	"stf-storage-temp@3500": {"storage-temp", "--port", "3000", "--save-dir", "/data"},
	"stf-websocket@3600": {"websocket", "--port", "3000",
		"--storage-url", "http://192.168.56.101/",
		"--connect-sub", "tcp://192.168.56.102:7150",
		"--connect-push", "tcp://192.168.56.102:7170"},
	"stf-api@3700": {"api", "--port", "3000",
		"--connect-sub", "tcp://192.168.56.102:7150",
		"--connect-push", "tcp://192.168.56.102:7170",
		"--connect-sub-dev", "tcp://192.168.56.103:7250",
		"--connect-push-dev", "tcp://192.168.56.103:7270"},
	"stf-triproxy-app": {"triproxy", "app",
		"--bind-pub", "tcp://*:7150", "--bind-dealer", "tcp://*:7160", "--bind-pull", "tcp://*:7170"},
	"stf-triproxy-dev": {"triproxy", "dev",
		"--bind-pub", "tcp://*:7250", "--bind-dealer", "tcp://*:7260", "--bind-pull", "tcp://*:7270"},
	"stf-reaper": {"reaper", "dev",
		"--connect-push", "tcp://192.168.56.103:7270",
		"--connect-sub", "tcp://192.168.56.102:7150",
		"--heartbeat-timeout", "30000"},
	"stf-groups-engine": {"groups-engine",
		"--connect-sub", "tcp://192.168.56.102:7150",
		"--connect-push", "tcp://192.168.56.102:7170",
		"--connect-sub-dev", "tcp://192.168.56.103:7250",
		"--connect-push-dev", "tcp://192.168.56.103:7270"},
	"stf-processor@1": {"processor", "stf-processor-1",
		"--connect-app-dealer", "tcp://192.168.56.102:7160",
		"--connect-dev-dealer", "tcp://192.168.56.103:7260"},
	"stf-provider@1": {"provider", "--name", "core-01",
		"--connect-sub", "tcp://192.168.56.103:7250",
		"--connect-push", "tcp://192.168.56.103:7270",
		"--storage-url", "http://192.168.56.101/",
		"--public-ip", "192.168.56.101",
		"--min-port", "15000", "--max-port", "15500",
		"--heartbeat-interval", "10000",
		"--screen-ws-url-pattern", "ws://192.168.56.101/d/1/<%= serial %>/<%= publicPort %>/"},
	"stf-migrate": {"migrate"},
}

// unitEnv is the environment the units pass with docker's -e.
var unitEnv = env("SECRET", "golden-secret",
	"STF_ROOT_GROUP_NAME", "Common", "STF_ADMIN_NAME", "administrator",
	"STF_ADMIN_EMAIL", "administrator@fakedomain.com")

// withEquals rewrites every "--flag value" pair as "--flag=value".
func withEquals(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "--") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			out = append(out, args[i]+"="+args[i+1])
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

func usageMessage(t *testing.T, err error) string {
	t.Helper()
	var usage *UsageError
	if !errors.As(err, &usage) {
		t.Fatalf("expected a *UsageError, got %T: %v", err, err)
	}
	return usage.Error()
}

func TestParseAcceptsEveryUnitCommandLine(t *testing.T) {
	covered := map[string]bool{}
	for unit, args := range unitCommandLines {
		spaced, err := ParseSTF(args, unitEnv)
		if err != nil {
			t.Errorf("%s: the --flag value form is rejected: %v", unit, err)
			continue
		}
		equals, err := ParseSTF(withEquals(args), unitEnv)
		if err != nil {
			t.Errorf("%s: the --flag=value form is rejected: %v", unit, err)
			continue
		}
		if !reflect.DeepEqual(spaced.Redacted(), equals.Redacted()) {
			t.Errorf("%s: the two forms parse differently:\n%v\n%v", unit, spaced.Redacted(), equals.Redacted())
		}
		if !reflect.DeepEqual(spaced.Positionals, equals.Positionals) {
			t.Errorf("%s: positionals differ: %q and %q", unit, spaced.Positionals, equals.Positionals)
		}
		covered[spaced.Subcommand()] = true
	}
	for _, c := range stfCommands {
		if !covered[c.name] {
			t.Errorf("no unit command line exercises stf %s", c.name)
		}
	}
}

func TestParseReadsValues(t *testing.T) {
	inv, err := ParseSTF(unitCommandLines["stf-provider@1"], unitEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.Int("min-port"); got != 15000 {
		t.Errorf("min-port = %d, want 15000", got)
	}
	if got := inv.Strings("connect-sub"); !reflect.DeepEqual(got, []string{"tcp://192.168.56.103:7250"}) {
		t.Errorf("connect-sub = %q", got)
	}
	if got := inv.String("screen-ws-url-pattern"); got != "ws://192.168.56.101/d/1/<%= serial %>/<%= publicPort %>/" {
		t.Errorf("screen-ws-url-pattern = %q", got)
	}

	processor, err := ParseSTF(unitCommandLines["stf-processor@1"], unitEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(processor.Positionals, []string{"stf-processor-1"}) {
		t.Errorf("processor positionals = %q, want the name", processor.Positionals)
	}
}

func TestParseRejectsMisspeltFlags(t *testing.T) {
	for unit, args := range unitCommandLines {
		for i, arg := range args {
			if !strings.HasPrefix(arg, "--") {
				continue
			}
			misspelt := append([]string(nil), args...)
			misspelt[i] = arg + "x"
			_, err := ParseSTF(misspelt, unitEnv)
			if err == nil {
				t.Errorf("%s: %s is accepted", unit, misspelt[i])
				continue
			}
			message := usageMessage(t, err)
			if !strings.Contains(message, "unknown flag "+misspelt[i]) {
				t.Errorf("%s: the error does not name %s: %s", unit, misspelt[i], message)
			}
			if !strings.Contains(message, "did you mean "+arg+"?") {
				t.Errorf("%s: the error does not suggest %s: %s", unit, arg, message)
			}
		}
	}
}

func TestParseRejectsUnknownFlags(t *testing.T) {
	cases := map[string][]string{
		"flag of another subcommand": {"app", "--port", "3000", "--storage-url", "http://x/"},
		"STF flag no unit passes":    {"app", "--ssid", "ssid"},
		"short alias":                {"app", "-p", "3000"},
		"camel case":                 {"app", "--authUrl", "http://x/"},
		"flag before subcommand":     {"--port", "3000"},
		"migrate with a flag":        {"migrate", "--db", "x"},
		"equals form":                {"app", "--prot=3000"},
	}
	for name, args := range cases {
		_, err := ParseSTF(args, unitEnv)
		if err == nil {
			t.Errorf("%s: %q is accepted", name, args)
			continue
		}
		if message := usageMessage(t, err); !strings.Contains(message, "unknown flag") {
			t.Errorf("%s: the error does not say unknown flag: %s", name, message)
		}
	}
}

func TestParseRejectsUnknownSubcommands(t *testing.T) {
	for _, name := range []string{"ap", "rethinkdb", "local", "auth-ldap", "App", "doctor"} {
		_, err := ParseSTF([]string{name}, unitEnv)
		if err == nil {
			t.Errorf("stf %s is accepted", name)
			continue
		}
		if message := usageMessage(t, err); !strings.Contains(message, "unknown subcommand") {
			t.Errorf("stf %s: the error does not say unknown subcommand: %s", name, message)
		}
	}

	_, err := ParseSTF([]string{"ap"}, unitEnv)
	if message := usageMessage(t, err); !strings.Contains(message, `did you mean "app"?`) {
		t.Errorf("stf ap: the error does not suggest app: %s", message)
	}
	_, err = ParseSTF(nil, unitEnv)
	if message := usageMessage(t, err); !strings.Contains(message, "missing subcommand") {
		t.Errorf("stf with no subcommand: %s", message)
	}
}

func TestParseRejectsExtraPositionals(t *testing.T) {
	cases := map[string][]string{
		"app takes none":               {"app", "extra", "--auth-url", "http://x/", "--websocket-url", "ws://x/"},
		"migrate takes none":           {"migrate", "now"},
		"processor takes one name":     {"processor", "a", "b", "--connect-app-dealer", "tcp://h:1", "--connect-dev-dealer", "tcp://h:2"},
		"triproxy takes one name":      {"triproxy", "app", "dev"},
		"value after a string flag":    {"storage-temp", "--save-dir", "/data", "/other"},
		"positional after double dash": {"storage-temp", "--", "--port"},
	}
	for name, args := range cases {
		_, err := ParseSTF(args, unitEnv)
		if err == nil {
			t.Errorf("%s: %q is accepted", name, args)
			continue
		}
		if message := usageMessage(t, err); !strings.Contains(message, "unexpected argument") {
			t.Errorf("%s: the error does not say unexpected argument: %s", name, message)
		}
	}
}

func TestParseProviderAcceptsSerials(t *testing.T) {
	args := append([]string{"provider", "serial-1", "serial-2"}, unitCommandLines["stf-provider@1"][1:]...)
	inv, err := ParseSTF(args, unitEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(inv.Positionals, []string{"serial-1", "serial-2"}) {
		t.Errorf("positionals = %q, want both serials", inv.Positionals)
	}
}

func TestParseRejectsMissingRequiredFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		lookup  LookupEnv
		missing string
	}{
		{"app without auth URL", []string{"app", "--websocket-url", "ws://x/"}, unitEnv, "--auth-url"},
		{"app without secret", unitCommandLines["stf-app@3100"], env(), "--secret"},
		{"websocket without storage URL", []string{"websocket", "--connect-sub", "tcp://h:1", "--connect-push", "tcp://h:2"}, unitEnv, "--storage-url"},
		{"api without device-side push", unitCommandLines["stf-api@3700"][:9], unitEnv, "--connect-push-dev"},
		{"processor without dealers", []string{"processor", "p"}, unitEnv, "--connect-app-dealer"},
		{"reaper without sub", []string{"reaper", "dev", "--connect-push", "tcp://h:1"}, unitEnv, "--connect-sub"},
		{"provider without storage URL", []string{"provider", "--connect-sub", "tcp://h:1", "--connect-push", "tcp://h:2"}, unitEnv, "--storage-url"},
	}
	for _, c := range cases {
		_, err := ParseSTF(c.args, c.lookup)
		if err == nil {
			t.Errorf("%s: %q is accepted", c.name, c.args)
			continue
		}
		if message := usageMessage(t, err); !strings.Contains(message, "missing required flag "+c.missing) {
			t.Errorf("%s: the error does not name %s: %s", c.name, c.missing, message)
		}
	}
}

func TestParseRejectsInvalidValues(t *testing.T) {
	cases := map[string][]string{
		"port not a number":        {"storage-temp", "--port", "web"},
		"port out of range":        {"storage-temp", "--port", "70000"},
		"negative port":            {"storage-temp", "--port=-1"},
		"URL without scheme":       {"storage-plugin-apk", "--storage-url", "192.168.56.101/"},
		"URL without host":         {"storage-plugin-apk", "--storage-url", "http:///s/"},
		"endpoint without tcp":     {"processor", "--connect-app-dealer", "192.168.56.102:7160", "--connect-dev-dealer", "tcp://h:1"},
		"connect to wildcard":      {"processor", "--connect-app-dealer", "tcp://*:7160", "--connect-dev-dealer", "tcp://h:1"},
		"endpoint without port":    {"processor", "--connect-app-dealer", "tcp://h", "--connect-dev-dealer", "tcp://h:1"},
		"bind port not a number":   {"triproxy", "--bind-pub", "tcp://*:pub"},
		"heartbeat not an integer": {"reaper", "--connect-push", "tcp://h:1", "--connect-sub", "tcp://h:2", "--heartbeat-timeout", "30s"},
		"min port above max port":  {"provider", "--connect-sub", "tcp://h:1", "--connect-push", "tcp://h:2", "--storage-url", "http://x/", "--min-port", "16000", "--max-port", "15000"},
		"empty required value":     {"storage-plugin-apk", "--storage-url="},
	}
	for name, args := range cases {
		_, err := ParseSTF(args, unitEnv)
		if err == nil {
			t.Errorf("%s: %q is accepted", name, args)
			continue
		}
		message := usageMessage(t, err)
		if !strings.Contains(message, "invalid value") && !strings.Contains(message, "greater than") &&
			!strings.Contains(message, "is empty") {
			t.Errorf("%s: the error does not explain the value: %s", name, message)
		}
	}
}

func TestParseFlagNeedsValue(t *testing.T) {
	for _, args := range [][]string{
		{"storage-temp", "--save-dir"},
		{"storage-temp", "--save-dir", "--port", "3000"},
		{"processor", "--connect-app-dealer", "--connect-dev-dealer", "tcp://h:1"},
	} {
		_, err := ParseSTF(args, unitEnv)
		if err == nil {
			t.Errorf("%q is accepted", args)
			continue
		}
		if message := usageMessage(t, err); !strings.Contains(message, "needs a value") {
			t.Errorf("%q: the error does not say the flag needs a value: %s", args, message)
		}
	}
}

func TestParseArrayFlags(t *testing.T) {
	base := []string{"processor", "--connect-dev-dealer", "tcp://d:1"}
	cases := map[string][]string{
		"repeated": {"--connect-app-dealer", "tcp://a:1", "--connect-app-dealer", "tcp://b:2"},
		"greedy":   {"--connect-app-dealer", "tcp://a:1", "tcp://b:2"},
		"equals":   {"--connect-app-dealer=tcp://a:1", "--connect-app-dealer=tcp://b:2"},
	}
	for name, extra := range cases {
		inv, err := ParseSTF(append(append([]string(nil), base...), extra...), unitEnv)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := inv.Strings("connect-app-dealer"); !reflect.DeepEqual(got, []string{"tcp://a:1", "tcp://b:2"}) {
			t.Errorf("%s: connect-app-dealer = %q", name, got)
		}
	}
}

func TestParseRejectsRepeatedPlainFlag(t *testing.T) {
	_, err := ParseSTF([]string{"storage-temp", "--port", "3000", "--port=3001"}, unitEnv)
	if err == nil {
		t.Fatal("a repeated --port is accepted")
	}
	if message := usageMessage(t, err); !strings.Contains(message, "more than once") {
		t.Errorf("the error does not say the flag is repeated: %s", message)
	}
}

func TestParseEnvironmentAndDefaults(t *testing.T) {
	inv, err := ParseSTF([]string{"storage-temp"}, env())
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.String("port"); got != "7100" {
		t.Errorf("default port = %q, want STF's 7100", got)
	}

	inv, err = ParseSTF([]string{"storage-temp"}, env("PORT", "4000"))
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.String("port"); got != "4000" {
		t.Errorf("port from PORT = %q, want 4000", got)
	}

	inv, err = ParseSTF([]string{"storage-temp"}, env("PORT", "4000", "STF_STORAGE_TEMP_PORT", "5000"))
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.String("port"); got != "5000" {
		t.Errorf("port from STF_STORAGE_TEMP_PORT = %q, want 5000 ahead of PORT", got)
	}

	inv, err = ParseSTF([]string{"storage-temp", "--port", "6000"}, env("STF_STORAGE_TEMP_PORT", "5000"))
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.String("port"); got != "6000" {
		t.Errorf("port = %q, want the command line's 6000 ahead of the environment", got)
	}

	_, err = ParseSTF([]string{"storage-temp"}, env("STF_STORAGE_TEMP_PORT", "web"))
	if err == nil {
		t.Error("an invalid port in STF_STORAGE_TEMP_PORT is accepted")
	}

	if _, err := ParseSTF(unitCommandLines["stf-app@3100"], env("STF_APP_SECRET", "s")); err != nil {
		t.Errorf("STF_APP_SECRET does not satisfy --secret: %v", err)
	}
}

func TestParseRedactsSecret(t *testing.T) {
	inv, err := ParseSTF(append(append([]string(nil), unitCommandLines["stf-app@3100"]...), "--secret", "hunter2"), env())
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.String("secret"); got != "hunter2" {
		t.Errorf("secret = %q, want the value given", got)
	}
	if got := inv.Redacted()["secret"]; !reflect.DeepEqual(got, []string{"(redacted)"}) {
		t.Errorf("Redacted()[secret] = %q", got)
	}
	if strings.Contains(describeArgs(inv), "hunter2") {
		t.Errorf("the start log line shows the secret: %s", describeArgs(inv))
	}
}

func TestParseHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"app", "--help"}, {"provider", "-h", "--bogus"}} {
		if _, err := ParseSTF(args, env()); !errors.Is(err, errHelp) {
			t.Errorf("%q: err = %v, want a help request", args, err)
		}
	}
}

func TestParseRethinkDB(t *testing.T) {
	inv, err := ParseRethinkDB(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"driver-port": "28015", "cluster-port": "29015", "http-port": "8080"} {
		if got := inv.String(flag); got != want {
			t.Errorf("default --%s = %q, want %s", flag, got, want)
		}
	}
	if _, err := ParseRethinkDB([]string{"--bind", "all"}, env()); err != nil {
		t.Errorf("--bind all is rejected: %v", err)
	}
	for _, args := range [][]string{{"--bind", "everywhere"}, {"--directory", "/data"}, {"serve"}} {
		if _, err := ParseRethinkDB(args, env()); err == nil {
			t.Errorf("rethinkdb %q is accepted", args)
		}
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{{"", "", 0}, {"port", "port", 0}, {"prot", "port", 2}, {"--port", "--portx", 1}, {"app", "api", 1}, {"", "abc", 3}}
	for _, c := range cases {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
