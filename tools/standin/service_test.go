package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// getResponse sends GET path with the given Host header and decodes the JSON response.
func getResponse(t *testing.T, address, path, host string) Response {
	t.Helper()
	request, err := http.NewRequest(http.MethodGet, "http://"+address+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	request.Host = host
	client := &http.Client{Timeout: 5 * time.Second}
	response, err := client.Do(request)
	if err != nil {
		t.Fatalf("GET http://%s%s: %v", address, path, err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, response.StatusCode)
	}
	if got := response.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	var body Response
	if err := json.NewDecoder(response.Body).Decode(&body); err != nil {
		t.Fatalf("the response is not JSON: %v", err)
	}
	return body
}

func TestHTTPRolesRespondWithJSON(t *testing.T) {
	cases := map[string][]string{
		"app":                  {"--auth-url", "http://farm.test/auth/mock/", "--websocket-url", "ws://farm.test/"},
		"auth-mock":            {"--app-url", "http://farm.test/"},
		"storage-plugin-apk":   {"--storage-url", "http://farm.test/"},
		"storage-plugin-image": {"--storage-url", "http://farm.test/"},
		"storage-temp":         {"--save-dir", t.TempDir()},
		"websocket": {"--storage-url", "http://farm.test/",
			"--connect-sub", "tcp://127.0.0.1:1", "--connect-push", "tcp://127.0.0.1:1"},
		"api": {"--connect-sub", "tcp://127.0.0.1:1", "--connect-push", "tcp://127.0.0.1:1",
			"--connect-sub-dev", "tcp://127.0.0.1:1", "--connect-push-dev", "tcp://127.0.0.1:1"},
	}
	for role, flags := range cases {
		t.Run(role, func(t *testing.T) {
			logs := &syncBuffer{}
			service := startService(t, testSettings(), logs, append([]string{role, "--port", "0"}, flags...)...)
			address := service.Address("http")
			_, port, _ := net.SplitHostPort(address)

			answer := getResponse(t, address, "/s/apk/file.apk?x=1", "farm.test:8080")
			want := Response{
				Role: role, Instance: role + ":0", Machine: "test-machine", Method: "GET",
				Path: "/s/apk/file.apk", URI: "/s/apk/file.apk?x=1", Host: "farm.test:8080",
			}
			want.Port, _ = strconv.Atoi(port)
			if answer != want {
				t.Errorf("answer = %+v, want %+v", answer, want)
			}
			if !strings.Contains(logs.String(), "msg=listening") {
				t.Errorf("no listening line in the log:\n%s", logs.String())
			}
		})
	}
}

func TestInstanceNames(t *testing.T) {
	settings := testSettings()
	cases := []struct {
		args     []string
		instance string
		want     string
	}{
		{unitCommandLines["stf-provider@1"], "", "core-01"},
		{unitCommandLines["stf-processor@1"], "", "stf-processor-1"},
		{unitCommandLines["stf-triproxy-dev"], "", "dev"},
		{unitCommandLines["stf-app@3100"], "stf-app-3100", "stf-app-3100"},
		{unitCommandLines["stf-app@3100"], "", "app:3000"},
		{unitCommandLines["stf-groups-engine"], "", "groups-engine"},
		{[]string{"provider", "--connect-sub", "tcp://h:1", "--connect-push", "tcp://h:2", "--storage-url", "http://x/"}, "", "test-host"},
	}
	for _, c := range cases {
		inv, err := ParseSTF(c.args, unitEnv)
		if err != nil {
			t.Fatal(err)
		}
		settings.Instance = c.instance
		if got := newIdentity(inv, settings).instance; got != c.want {
			t.Errorf("instance of %q with STF_STANDIN_INSTANCE=%q is %q, want %q", c.args, c.instance, got, c.want)
		}
	}
}

func TestWebSocketAcceptKnownValue(t *testing.T) {
	// The sample handshake of RFC 6455, section 1.3.
	if got := WebSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("WebSocketAccept = %q, want s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", got)
	}
}

func startWebSocketService(t *testing.T) (*Service, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	service := startService(t, testSettings(), logs, "websocket", "--port", "0",
		"--storage-url", "http://farm.test/",
		"--connect-sub", "tcp://127.0.0.1:1", "--connect-push", "tcp://127.0.0.1:1")
	return service, logs
}

func TestWebSocketHandshakeAndEcho(t *testing.T) {
	service, _ := startWebSocketService(t)
	key := newWebSocketKey(t)
	client, response := dialWebSocket(t, service.Address("http"), "/socket.io/?EIO=3&transport=websocket", key)

	if response.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status = %d, want 101", response.StatusCode)
	}
	if got := response.Header.Get("Sec-WebSocket-Accept"); got != WebSocketAccept(key) {
		t.Errorf("Sec-WebSocket-Accept = %q, want %q", got, WebSocketAccept(key))
	}
	if got := response.Header.Get("Upgrade"); !strings.EqualFold(got, "websocket") {
		t.Errorf("Upgrade = %q, want websocket", got)
	}
	if got := response.Header.Get("Connection"); !strings.EqualFold(got, "upgrade") {
		t.Errorf("Connection = %q, want Upgrade", got)
	}

	client.writeFrame(t, true, opText, []byte("hello"), false)
	if opcode, payload := client.readFrame(t); opcode != opText || string(payload) != "hello" {
		t.Errorf("echo of a text frame: %s %q", describeFrame(opcode, payload), payload)
	}

	long := bytes.Repeat([]byte("0123456789"), 7000)
	client.writeFrame(t, true, opBinary, long, false)
	if opcode, payload := client.readFrame(t); opcode != opBinary || !bytes.Equal(payload, long) {
		t.Errorf("echo of a 70000-byte binary frame: %s", describeFrame(opcode, payload))
	}

	client.writeFrame(t, false, opText, []byte("frag"), false)
	client.writeFrame(t, true, opPing, []byte("ping in between"), false)
	if opcode, payload := client.readFrame(t); opcode != opPong || string(payload) != "ping in between" {
		t.Errorf("answer to a ping: %s %q", describeFrame(opcode, payload), payload)
	}
	client.writeFrame(t, false, opContinuation, []byte("men"), false)
	client.writeFrame(t, true, opContinuation, []byte("ted"), false)
	if opcode, payload := client.readFrame(t); opcode != opText || string(payload) != "fragmented" {
		t.Errorf("echo of a fragmented message: %s %q", describeFrame(opcode, payload), payload)
	}

	client.writeFrame(t, true, opClose, []byte{0x03, 0xE8}, false)
	if code := client.expectClose(t); code != closeNormal {
		t.Errorf("close status = %d, want %d", code, closeNormal)
	}
	if _, err := client.reader.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after the close handshake the server should close the connection; read returned %v", err)
	}
}

func TestWebSocketProtocolErrors(t *testing.T) {
	service, logs := startWebSocketService(t)
	cases := []struct {
		name string
		send func(c *wsClient)
		want int
	}{
		{"unmasked frame", func(c *wsClient) { c.writeFrame(t, true, opText, []byte("x"), true) }, closeProtocolError},
		{"invalid UTF-8", func(c *wsClient) { c.writeFrame(t, true, opText, []byte{0xff, 0xfe}, false) }, closeInvalidData},
		{"continuation first", func(c *wsClient) { c.writeFrame(t, true, opContinuation, []byte("x"), false) }, closeProtocolError},
		{"reserved opcode", func(c *wsClient) { c.writeFrame(t, true, 0x3, nil, false) }, closeProtocolError},
		{"fragmented ping", func(c *wsClient) { c.writeFrame(t, false, opPing, nil, false) }, closeProtocolError},
		{"invalid close code", func(c *wsClient) { c.writeFrame(t, true, opClose, []byte{0x03, 0xED}, false) }, closeProtocolError},
	}
	for _, c := range cases {
		client, response := dialWebSocket(t, service.Address("http"), "/", newWebSocketKey(t))
		if response.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%s: handshake status %d", c.name, response.StatusCode)
		}
		c.send(client)
		if code := client.expectClose(t); code != c.want {
			t.Errorf("%s: close status = %d, want %d", c.name, code, c.want)
		}
	}
	waitForLog(t, logs, "protocol error", time.Second)
}

func TestWebSocketRejectsBadHandshake(t *testing.T) {
	service, _ := startWebSocketService(t)
	cases := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"missing key", map[string]string{"Sec-WebSocket-Version": "13"}, http.StatusBadRequest},
		{"short key", map[string]string{"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "c2hvcnQ="}, http.StatusBadRequest},
		{"old version", map[string]string{"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": newWebSocketKey(t)}, http.StatusUpgradeRequired},
	}
	for _, c := range cases {
		request, _ := http.NewRequest(http.MethodGet, "http://"+service.Address("http")+"/", nil)
		request.Header.Set("Connection", "Upgrade")
		request.Header.Set("Upgrade", "websocket")
		for name, value := range c.headers {
			request.Header.Set(name, value)
		}
		response, err := http.DefaultClient.Do(request)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		response.Body.Close()
		if response.StatusCode != c.want {
			t.Errorf("%s: status = %d, want %d", c.name, response.StatusCode, c.want)
		}
	}
}

func TestAppIgnoresUpgrade(t *testing.T) {
	service := startService(t, testSettings(), &syncBuffer{}, "app", "--port", "0",
		"--auth-url", "http://farm.test/auth/mock/", "--websocket-url", "ws://farm.test/")
	client, response := dialWebSocket(t, service.Address("http"), "/", newWebSocketKey(t))
	defer client.conn.Close()
	if response.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200: only websocket and provider accept upgrades", response.StatusCode)
	}
	var answer Response
	if err := json.NewDecoder(response.Body).Decode(&answer); err != nil || answer.Role != "app" {
		t.Errorf("answer = %+v, err = %v, want the JSON answer of app", answer, err)
	}
}

func TestProviderListensOnPortRange(t *testing.T) {
	low := freePortRange(t, 5)
	settings := testSettings()
	settings.ProviderPorts = 3
	logs := &syncBuffer{}
	service := startService(t, settings, logs, "provider", "--name", "core-01",
		"--connect-sub", "tcp://127.0.0.1:1", "--connect-push", "tcp://127.0.0.1:1",
		"--storage-url", "http://farm.test/",
		"--min-port", strconv.Itoa(low), "--max-port", strconv.Itoa(low+4))

	if got := len(service.Listeners()); got != 3 {
		t.Errorf("the provider has %d listeners, want 3: %v", got, service.Listeners())
	}
	for port := low; port < low+3; port++ {
		address := net.JoinHostPort(loopback, strconv.Itoa(port))
		answer := getResponse(t, address, "/", "farm.test")
		if answer.Role != "provider" || answer.Instance != "core-01" || answer.Port != port {
			t.Errorf("port %d answers %+v", port, answer)
		}
	}
	for port := low + 3; port <= low+4; port++ {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)), time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("port %d is beyond STF_STANDIN_PROVIDER_PORTS but accepts connections", port)
		}
	}

	client, response := dialWebSocket(t, net.JoinHostPort(loopback, strconv.Itoa(low+1)), "/", newWebSocketKey(t))
	if response.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("provider port handshake status = %d, want 101", response.StatusCode)
	}
	client.writeFrame(t, true, opText, []byte("screen"), false)
	if opcode, payload := client.readFrame(t); opcode != opText || string(payload) != "screen" {
		t.Errorf("provider echo: %s %q", describeFrame(opcode, payload), payload)
	}

	log := logs.String()
	if !strings.Contains(log, "listener=provider") || !strings.Contains(log, "count=3") {
		t.Errorf("the log has no single line for the provider ports:\n%s", log)
	}
	if !strings.Contains(log, "not listening on the rest") {
		t.Errorf("the log does not say which ports are left out:\n%s", log)
	}
}

func TestTriproxyBindsEndpoints(t *testing.T) {
	pub, dealer, pull := freePort(t), freePort(t), freePort(t)
	logs := &syncBuffer{}
	service := startService(t, testSettings(), logs, "triproxy", "app",
		"--bind-pub", "tcp://*:"+strconv.Itoa(pub),
		"--bind-dealer", "tcp://127.0.0.1:"+strconv.Itoa(dealer),
		"--bind-pull="+"tcp://*:"+strconv.Itoa(pull))

	for flag, port := range map[string]int{"bind-pub": pub, "bind-dealer": dealer, "bind-pull": pull} {
		want := net.JoinHostPort(loopback, strconv.Itoa(port))
		if got := service.Address(flag); got != want {
			t.Errorf("--%s listens on %q, want %q", flag, got, want)
		}
		conn, err := net.DialTimeout("tcp", want, time.Second)
		if err != nil {
			t.Errorf("--%s does not accept connections: %v", flag, err)
			continue
		}
		if _, err := conn.Write([]byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f}); err != nil {
			t.Errorf("--%s: cannot send: %v", flag, err)
		}
		// The stand-in holds the connection open and sends nothing, since ZeroMQ is not
		// emulated.
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var buf [1]byte
		_, err = conn.Read(buf[:])
		var netErr net.Error
		if !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Errorf("--%s: read returned %v, want a timeout on an open connection", flag, err)
		}
		conn.Close()
	}
	if got := strings.Count(logs.String(), "msg=listening"); got != 3 {
		t.Errorf("%d listening lines, want one per endpoint:\n%s", got, logs.String())
	}
}

func TestTriproxyPortInUseFails(t *testing.T) {
	occupant, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer occupant.Close()
	inv, err := ParseSTF([]string{"triproxy", "--bind-pub", "tcp://" + occupant.Addr().String()}, env())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(inv, testSettings(), testLogger(&syncBuffer{}))
	if err == nil || !strings.Contains(err.Error(), "--bind-pub") {
		t.Errorf("Start on a taken port: err = %v, want an error naming --bind-pub", err)
	}
}

func TestRethinkDBModeListens(t *testing.T) {
	driver, cluster, httpPort := freePort(t), freePort(t), freePort(t)
	inv, err := ParseRethinkDB([]string{"--bind", loopback,
		"--driver-port", strconv.Itoa(driver), "--cluster-port", strconv.Itoa(cluster),
		"--http-port=" + strconv.Itoa(httpPort)}, env())
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	settings := testSettings()
	settings.BindHost = ""
	service, err := Start(inv, settings, testLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()

	for name, port := range map[string]int{"driver": driver, "cluster": cluster} {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)), time.Second)
		if err != nil {
			t.Errorf("the %s port %d does not accept connections: %v", name, port, err)
			continue
		}
		conn.Close()
	}
	answer := getResponse(t, net.JoinHostPort(loopback, strconv.Itoa(httpPort)), "/", "db.test:8080")
	if answer.Role != "rethinkdb" || answer.Host != "db.test:8080" {
		t.Errorf("admin UI answer = %+v", answer)
	}
	if got := strings.Count(logs.String(), "msg=listening"); got != 3 {
		t.Errorf("%d listening lines, want 3:\n%s", got, logs.String())
	}
}

func TestMigrateSucceedsWhenRethinkDBListens(t *testing.T) {
	fake, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	logs := &syncBuffer{}
	lookup := env("RETHINKDB_PORT_28015_TCP", "tcp://"+fake.Addr().String(), "STF_ADMIN_NAME", "administrator")
	if err := Migrate(context.Background(), testSettings(), lookup, testLogger(logs)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if !strings.Contains(logs.String(), "RethinkDB is reachable") {
		t.Errorf("the log does not say RethinkDB is reachable:\n%s", logs.String())
	}
}

func TestMigrateWaitsForLateRethinkDB(t *testing.T) {
	port := freePort(t)
	address := net.JoinHostPort(loopback, strconv.Itoa(port))
	go func() {
		time.Sleep(600 * time.Millisecond)
		l, err := net.Listen("tcp", address)
		if err != nil {
			return
		}
		time.Sleep(3 * time.Second)
		l.Close()
	}()
	settings := testSettings()
	settings.ConnectTimeout = 3 * time.Second
	if err := Migrate(context.Background(), settings, env("RETHINKDB_PORT_28015_TCP", "tcp://"+address), testLogger(&syncBuffer{})); err != nil {
		t.Fatalf("Migrate did not wait for RethinkDB to start listening: %v", err)
	}
}

func TestMigrateFailsWithinBound(t *testing.T) {
	port := freePort(t)
	settings := testSettings()
	settings.ConnectTimeout = 700 * time.Millisecond
	start := time.Now()
	err := Migrate(context.Background(), settings,
		env("RETHINKDB_PORT_28015_TCP", "tcp://127.0.0.1:"+strconv.Itoa(port)), testLogger(&syncBuffer{}))
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Migrate succeeded with nothing listening")
	}
	if !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("the error does not say RethinkDB is not reachable: %v", err)
	}
	if elapsed < settings.ConnectTimeout || elapsed > settings.ConnectTimeout+time.Second {
		t.Errorf("Migrate gave up after %s, want about %s", elapsed, settings.ConnectTimeout)
	}
}

func TestMigrateRejectsMissingAddress(t *testing.T) {
	for _, lookup := range []LookupEnv{env(), env("RETHINKDB_PORT_28015_TCP", "rethinkdb:28015")} {
		err := Migrate(context.Background(), testSettings(), lookup, testLogger(&syncBuffer{}))
		if err == nil || !strings.Contains(err.Error(), "RETHINKDB_PORT_28015_TCP") {
			t.Errorf("err = %v, want an error naming RETHINKDB_PORT_28015_TCP", err)
		}
	}
}

func TestWorkerChecksEndpoints(t *testing.T) {
	appDealer, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer appDealer.Close()
	closed := freePort(t)
	defer func(interval time.Duration) { slowRetryInterval = interval }(slowRetryInterval)
	slowRetryInterval = 100 * time.Millisecond

	settings := testSettings()
	settings.ConnectTimeout = 500 * time.Millisecond
	logs := &syncBuffer{}
	service := startService(t, settings, logs, "processor", "stf-processor-1",
		"--connect-app-dealer", "tcp://"+appDealer.Addr().String(),
		"--connect-dev-dealer", "tcp://127.0.0.1:"+strconv.Itoa(closed))

	waitForLog(t, logs, "level=INFO msg=\"endpoint is reachable\" flag=--connect-app-dealer", 2*time.Second)
	waitForLog(t, logs, "level=ERROR msg=\"endpoint is not reachable, so the stand-in keeps running and keeps trying\" flag=--connect-dev-dealer", 3*time.Second)
	if len(service.Listeners()) != 0 {
		t.Errorf("a processor listens on %v, want nothing", service.Listeners())
	}

	devDealer, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(closed)))
	if err != nil {
		t.Fatalf("cannot start listening on the device-side dealer port: %v", err)
	}
	defer devDealer.Close()
	waitForLog(t, logs, "level=INFO msg=\"endpoint is reachable now\" flag=--connect-dev-dealer", 3*time.Second)
}

func TestCloseEndsConnectionsQuickly(t *testing.T) {
	service, _ := startWebSocketService(t)
	client, response := dialWebSocket(t, service.Address("http"), "/", newWebSocketKey(t))
	if response.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status = %d", response.StatusCode)
	}
	idle, err := net.Dial("tcp", service.Address("http"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	start := time.Now()
	service.Close()
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Close took %s, want under a second", elapsed)
	}
	_ = client.conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := client.reader.ReadByte(); err == nil {
		t.Error("the upgraded connection is still open after Close")
	}
	if _, err := net.DialTimeout("tcp", service.Address("http"), time.Second); err == nil {
		t.Error("the listener still accepts connections after Close")
	}
}

func TestSettingsFromEnv(t *testing.T) {
	s, err := SettingsFromEnv(env("STF_STANDIN_CHECK", "1", "STF_STANDIN_MACHINE", "core-02",
		"STF_STANDIN_BIND_HOST", "127.0.0.1", "STF_STANDIN_CONNECT_TIMEOUT", "5s", "STF_STANDIN_PROVIDER_PORTS", "6"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Check || s.Machine != "core-02" || s.BindHost != "127.0.0.1" || s.ConnectTimeout != 5*time.Second || s.ProviderPorts != 6 {
		t.Errorf("settings = %+v", s)
	}

	s, err = SettingsFromEnv(env())
	if err != nil {
		t.Fatal(err)
	}
	hostname, _ := os.Hostname()
	if s.Check || s.Machine != hostname || s.ConnectTimeout != defaultConnectTimeout || s.ProviderPorts != 0 {
		t.Errorf("default settings = %+v", s)
	}

	for name, value := range map[string]string{
		"STF_STANDIN_CHECK": "maybe", "STF_STANDIN_BIND_HOST": "localhost",
		"STF_STANDIN_CONNECT_TIMEOUT": "30", "STF_STANDIN_PROVIDER_PORTS": "0",
	} {
		if _, err := SettingsFromEnv(env(name, value)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: err = %v, want an error naming the variable", name, value, err)
		}
	}
}
