package tests

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// standInReply is the JSON body that a stand-in sends for every plain request, so the
// test can tell which service on which machine nginx reached and what it received.
type standInReply struct {
	Service   string `json:"service"`
	Address   string `json:"address"`
	Path      string `json:"path"`
	Host      string `json:"host"`
	BodyBytes int64  `json:"bodyBytes"`
}

// standInIdleLimit bounds how long an upgraded connection to a stand-in may stay silent.
const standInIdleLimit = 10 * time.Second

// standIn is an HTTP server on one loopback address that plays one farm service. It
// responds to plain requests with a standInReply and accepts HTTP/1.1 WebSocket upgrades.
type standIn struct {
	service string
	address string
	server  *http.Server

	mu       sync.Mutex
	stopped  bool
	upgraded map[net.Conn]struct{}
}

// startStandIn starts a stand-in for service on address (host:port). A port of 0 picks a
// free port, which Address then returns. The test's cleanup stops the stand-in.
func startStandIn(t testing.TB, service, address string) *standIn {
	t.Helper()
	listener, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatalf("cannot start the stand-in for %s on %s: %v. Another program may be using "+
			"the port; the farm's services listen on fixed ports, so the test cannot move it",
			service, address, err)
	}
	return serveStandIn(t, service, listener)
}

// tryStartStandIn starts a stand-in on address, or returns nil when the address is in use.
func tryStartStandIn(t testing.TB, service, address string) *standIn {
	t.Helper()
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return nil
	}
	return serveStandIn(t, service, listener)
}

func serveStandIn(t testing.TB, service string, listener net.Listener) *standIn {
	t.Helper()
	s := &standIn{
		service:  service,
		address:  listener.Addr().String(),
		upgraded: map[net.Conn]struct{}{},
	}
	s.server = &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = s.server.Serve(listener) }()
	t.Cleanup(s.Stop)
	return s
}

// Address returns the host:port the stand-in listens on.
func (s *standIn) Address() string { return s.address }

// Stop closes the listener and every connection, upgraded ones included. It may be
// called more than once.
func (s *standIn) Stop() {
	s.mu.Lock()
	s.stopped = true
	for conn := range s.upgraded {
		_ = conn.Close()
	}
	s.mu.Unlock()
	_ = s.server.Close()
}

func (s *standIn) handle(w http.ResponseWriter, r *http.Request) {
	if isWebSocketUpgrade(r) {
		s.upgrade(w, r)
		return
	}
	received, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, "reading the request body failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(standInReply{
		Service:   s.service,
		Address:   s.address,
		Path:      r.RequestURI,
		Host:      r.Host,
		BodyBytes: received,
	})
}

func isWebSocketUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, value := range r.Header.Values("Connection") {
		for _, token := range strings.Split(value, ",") {
			if strings.EqualFold(strings.TrimSpace(token), "upgrade") {
				return true
			}
		}
	}
	return false
}

// webSocketAccept returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key, as
// RFC 6455 section 4.2.2 defines it.
func webSocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// upgrade completes the handshake, sends a greeting line and then echoes every line it
// reads. After the handshake it exchanges plain lines instead of WebSocket frames:
// nginx forwards the upgraded bytes unchanged, so lines are enough to show that data
// flows both ways through the tunnel.
func (s *standIn) upgrade(w http.ResponseWriter, r *http.Request) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "hijacking the connection failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	s.upgraded[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.upgraded, conn)
		s.mu.Unlock()
		_ = conn.Close()
	}()

	_ = conn.SetDeadline(time.Now().Add(standInIdleLimit))
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\n\r\n", webSocketAccept(r.Header.Get("Sec-WebSocket-Key")))
	fmt.Fprintf(rw, "hello from %s at %s\n", s.service, s.address)
	if rw.Flush() != nil {
		return
	}
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprintf(rw, "echo from %s: %s", s.service, line)
		if rw.Flush() != nil {
			return
		}
	}
}

// loopbackClient returns an HTTP client that never uses a proxy from the environment and
// opens a new connection for every request, so requests spread over nginx's workers.
func loopbackClient(t testing.TB, timeout time.Duration) *http.Client {
	t.Helper()
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: timeout}
}

// fetch sends one request and returns the status code and, for a 200 response, the
// stand-in's reply.
func fetch(client *http.Client, method, url string, body io.Reader) (int, standInReply, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, standInReply{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, standInReply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, standInReply{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, standInReply{}, nil
	}
	var reply standInReply
	if err := json.Unmarshal(data, &reply); err != nil {
		return resp.StatusCode, standInReply{}, fmt.Errorf("the response body %q is not a stand-in's reply: %w", data, err)
	}
	return resp.StatusCode, reply, nil
}

// upgradedConn is the client side of an upgraded connection through nginx.
type upgradedConn struct {
	conn     net.Conn
	reader   *bufio.Reader
	response *http.Response
	// expectedAccept is the Sec-WebSocket-Accept value that belongs to the request's key.
	expectedAccept string
}

// dialUpgrade sends an HTTP/1.1 WebSocket upgrade request for path to the proxy over a
// new TCP connection and reads the response head. The caller closes the connection.
func dialUpgrade(proxyAddress, path string) (*upgradedConn, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(nonce)

	conn, err := net.DialTimeout("tcp", proxyAddress, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(standInIdleLimit))
	request := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + proxyAddress + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, request); err != nil {
		_ = conn.Close()
		return nil, err
	}
	reader := bufio.NewReader(conn)
	response, err := http.ReadResponse(reader, &http.Request{Method: http.MethodGet})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("reading the response to the upgrade request failed: %w", err)
	}
	return &upgradedConn{conn: conn, reader: reader, response: response, expectedAccept: webSocketAccept(key)}, nil
}

// readLine reads one line that the stand-in sent after the upgrade, without its newline.
func (u *upgradedConn) readLine() (string, error) {
	line, err := u.reader.ReadString('\n')
	if err != nil {
		return line, errors.Join(errors.New("reading from the upgraded connection failed"), err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// writeLine sends one line to the stand-in through the upgraded connection.
func (u *upgradedConn) writeLine(line string) error {
	_, err := io.WriteString(u.conn, line+"\n")
	return err
}

func (u *upgradedConn) Close() error { return u.conn.Close() }
