package standin

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every test listens and connects on loopback only.
const loopback = "127.0.0.1"

// testSettings returns settings that bind loopback and give up on endpoints quickly.
func testSettings() Settings {
	return Settings{
		Machine:        "test-machine",
		BindHost:       loopback,
		ConnectTimeout: 2 * time.Second,
		Hostname:       "test-host",
	}
}

// env returns a LookupEnv over a fixed map, so the test's own environment never leaks
// into the parser.
func env(pairs ...string) LookupEnv {
	values := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		values[pairs[i]] = pairs[i+1]
	}
	return func(name string) (string, bool) {
		value, ok := values[name]
		return value, ok
	}
}

// syncBuffer is a bytes.Buffer that a logger and the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitForLog waits until the buffer contains text, and fails the test after timeout.
func waitForLog(t *testing.T, b *syncBuffer, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(b.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the log has no %q after %s; it is:\n%s", text, timeout, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger(b *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, nil))
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatalf("cannot find a free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freePortRange returns the first of n consecutive loopback ports that were all free a
// moment ago.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		base := freePort(t)
		if base+n-1 > 65535 {
			continue
		}
		var listeners []net.Listener
		ok := true
		for port := base; port < base+n; port++ {
			l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			listeners = append(listeners, l)
		}
		for _, l := range listeners {
			_ = l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("cannot find %d consecutive free loopback ports", n)
	return 0
}

// startService parses an STF command line and starts it on loopback.
func startService(t *testing.T, settings Settings, logs *syncBuffer, args ...string) *Service {
	t.Helper()
	inv, err := ParseSTF(args, env("SECRET", "test-secret"))
	if err != nil {
		t.Fatalf("ParseSTF(%q): %v", args, err)
	}
	service, err := Start(inv, settings, testLogger(logs))
	if err != nil {
		t.Fatalf("Start(%q): %v", args, err)
	}
	t.Cleanup(service.Close)
	return service
}

// wsClient is a raw WebSocket client over TCP, written from RFC 6455 for the tests.
type wsClient struct {
	conn   net.Conn
	reader *bufio.Reader
}

// dialWebSocket performs the opening handshake with the given key and returns the
// client and the server's response.
func dialWebSocket(t *testing.T, address, path, key string) (*wsClient, *http.Response) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, 2*time.Second)
	if err != nil {
		t.Fatalf("cannot connect to %s: %v", address, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	request := "GET " + path + " HTTP/1.1\r\n" +
		"Host: farm.test\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: keep-alive, Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatalf("cannot send the handshake: %v", err)
	}
	reader := bufio.NewReader(conn)
	response, err := http.ReadResponse(reader, nil)
	if err != nil {
		t.Fatalf("cannot read the handshake response: %v", err)
	}
	return &wsClient{conn: conn, reader: reader}, response
}

func newWebSocketKey(t *testing.T) string {
	t.Helper()
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw[:])
}

// writeFrame sends one client frame; masked as RFC 6455 requires unless unmasked is
// set.
func (c *wsClient) writeFrame(t *testing.T, fin bool, opcode byte, payload []byte, unmasked bool) {
	t.Helper()
	first := opcode
	if fin {
		first |= 0x80
	}
	maskBit := byte(0x80)
	if unmasked {
		maskBit = 0
	}
	frame := []byte{first}
	switch n := len(payload); {
	case n <= 125:
		frame = append(frame, maskBit|byte(n))
	case n <= 0xFFFF:
		frame = append(frame, maskBit|126)
		frame = binary.BigEndian.AppendUint16(frame, uint16(n))
	default:
		frame = append(frame, maskBit|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	body := append([]byte(nil), payload...)
	if !unmasked {
		mask := [4]byte{0x12, 0x34, 0x56, 0x78}
		frame = append(frame, mask[:]...)
		for i := range body {
			body[i] ^= mask[i%4]
		}
	}
	if _, err := c.conn.Write(append(frame, body...)); err != nil {
		t.Fatalf("cannot send a frame: %v", err)
	}
}

// readFrame reads one server frame, which must be final and unmasked.
func (c *wsClient) readFrame(t *testing.T) (byte, []byte) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var header [2]byte
	if _, err := io.ReadFull(c.reader, header[:]); err != nil {
		t.Fatalf("cannot read a frame header: %v", err)
	}
	if header[0]&0x80 == 0 {
		t.Fatalf("server frame is not final: % x", header)
	}
	if header[1]&0x80 != 0 {
		t.Fatalf("server frame is masked, which RFC 6455 forbids: % x", header)
	}
	length := uint64(header[1] & 0x7F)
	switch length {
	case 126:
		var ext [2]byte
		_, _ = io.ReadFull(c.reader, ext[:])
		length = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, _ = io.ReadFull(c.reader, ext[:])
		length = binary.BigEndian.Uint64(ext[:])
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(c.reader, payload); err != nil {
		t.Fatalf("cannot read a frame payload of %d bytes: %v", length, err)
	}
	return header[0] & 0x0F, payload
}

// expectClose reads a close frame and returns its status code.
func (c *wsClient) expectClose(t *testing.T) int {
	t.Helper()
	opcode, payload := c.readFrame(t)
	if opcode != opClose {
		t.Fatalf("expected a close frame, got opcode 0x%X with %q", opcode, payload)
	}
	if len(payload) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(payload))
}

func describeFrame(opcode byte, payload []byte) string {
	return fmt.Sprintf("opcode 0x%X, %d bytes", opcode, len(payload))
}
