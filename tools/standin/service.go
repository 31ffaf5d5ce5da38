package standin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Response is the JSON body that the stand-in sends for every plain HTTP request, so a
// test can tell which service on which machine a proxy reached and what it received.
type Response struct {
	// Role is the STF subcommand, or "rethinkdb".
	Role string `json:"role"`
	// Instance names this copy of the service: --name, the positional name,
	// STF_STANDIN_INSTANCE, or the role and port.
	Instance string `json:"instance"`
	// Machine is STF_STANDIN_MACHINE or the host name.
	Machine string `json:"machine"`
	// Port is the local port the request arrived on.
	Port   int    `json:"port"`
	Method string `json:"method"`
	// Path is the request path without the query.
	Path string `json:"path"`
	// URI is the request target as the client sent it, with the query.
	URI  string `json:"uri"`
	Host string `json:"host"`
}

// identity is the role, instance and machine that responses and logs report.
type identity struct {
	role, instance, machine string
}

// ListenerInfo describes one socket a service listens on.
type ListenerInfo struct {
	// Name is the socket's purpose: "http", "bind-pub", "provider", "driver" and so on.
	Name    string
	Address string
}

// Stop timeouts. The whole shutdown must fit in the second that SIGTERM allows.
const (
	shutdownGrace = 300 * time.Millisecond
	shutdownWait  = 500 * time.Millisecond
)

// Service is a running stand-in: its listeners, its open connections and its
// background checks. Close stops all of them.
type Service struct {
	log    *slog.Logger
	id     identity
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	listeners []net.Listener
	infos     []ListenerInfo
	servers   []*http.Server
	conns     map[net.Conn]struct{}
}

func newService(log *slog.Logger, id identity) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{log: log, id: id, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
}

// Listeners returns the sockets the service listens on, in the order it opened them.
func (s *Service) Listeners() []ListenerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ListenerInfo(nil), s.infos...)
}

// Address returns the address of the first listener called name, or "".
func (s *Service) Address(name string) string {
	for _, l := range s.Listeners() {
		if l.Name == name {
			return l.Address
		}
	}
	return ""
}

// Close stops listening, closes every open connection and stops the background checks.
// It returns within about a second even if a connection does not let go.
func (s *Service) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	listeners, servers := s.listeners, s.servers
	s.mu.Unlock()

	s.cancel()
	for _, l := range listeners {
		_ = l.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, server := range servers {
		if err := server.Shutdown(ctx); err != nil {
			_ = server.Close()
		}
	}
	s.mu.Lock()
	for conn := range s.conns {
		_ = conn.Close()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownWait):
		s.log.Error("some connections did not close in time, so the stand-in exits without them", "wait", shutdownWait)
	}
}

// listen opens a TCP listener and records it, or returns an error that names the
// address.
func (s *Service) listen(name, address string) (net.Listener, error) {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = l.Close()
		return nil, errors.New("the service is stopping")
	}
	s.listeners = append(s.listeners, l)
	s.infos = append(s.infos, ListenerInfo{Name: name, Address: l.Addr().String()})
	return l, nil
}

// track records an open connection so Close can close it, and reports false when the
// service is already stopping.
func (s *Service) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

func (s *Service) untrack(conn net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, conn)
}

// goBackground runs f in a goroutine that Close waits for.
func (s *Service) goBackground(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// newHTTPServer returns a server whose handler sends the JSON response and, with
// websocket set, echoes WebSocket messages. Its listeners are added with serveHTTP.
func (s *Service) newHTTPServer(websocket bool) *http.Server {
	server := &http.Server{
		Handler:           s.handler(websocket),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelError),
	}
	s.mu.Lock()
	s.servers = append(s.servers, server)
	s.mu.Unlock()
	return server
}

func (s *Service) serveHTTP(server *http.Server, l net.Listener) {
	s.goBackground(func() {
		if err := server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !s.stopping() {
			s.log.Error("HTTP server failed", "address", l.Addr().String(), "error", err)
		}
	})
}

func (s *Service) stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Service) handler(websocket bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket && isUpgradeRequest(r) {
			s.upgrade(w, r)
			return
		}
		writeJSON(w, http.StatusOK, s.response(r))
	})
}

func (s *Service) response(r *http.Request) Response {
	port := 0
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(addr.String()); err == nil {
			port, _ = strconv.Atoi(p)
		}
	}
	return Response{
		Role:     s.id.role,
		Instance: s.id.instance,
		Machine:  s.id.machine,
		Port:     port,
		Method:   r.Method,
		Path:     r.URL.Path,
		URI:      r.RequestURI,
		Host:     r.Host,
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	encoder := json.NewEncoder(w)
	encoder.SetEscapeHTML(false)
	_ = encoder.Encode(body)
}

// upgrade completes the WebSocket opening handshake and echoes messages until the
// connection ends.
func (s *Service) upgrade(w http.ResponseWriter, r *http.Request) {
	if status, err := checkHandshake(r); err != nil {
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		s.log.Error("rejected a WebSocket handshake", "remote", r.RemoteAddr, "path", r.URL.Path, "error", err)
		writeJSON(w, status, map[string]string{"role": s.id.role, "error": err.Error()})
		return
	}

	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.log.Error("cannot take over the connection for WebSocket", "remote", r.RemoteAddr, "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"role": s.id.role, "error": err.Error()})
		return
	}
	defer conn.Close()
	if !s.track(conn) {
		return
	}
	defer s.untrack(conn)

	_ = conn.SetDeadline(time.Time{})
	response := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + WebSocketAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
	if _, err := rw.WriteString(response); err != nil {
		return
	}
	if err := rw.Flush(); err != nil {
		return
	}

	err = echoWebSocket(conn, rw.Reader)
	var perr *protocolError
	if errors.As(err, &perr) {
		s.log.Error("closed a WebSocket connection after a protocol error", "remote", r.RemoteAddr,
			"status", perr.code, "error", perr.reason)
	}
}

// serveTCP accepts connections on l and reads and discards what they send until the
// peer or Close ends them. It is the whole of what the ZeroMQ and RethinkDB wire
// endpoints do.
func (s *Service) serveTCP(l net.Listener) {
	s.goBackground(func() {
		var failures int
		for {
			conn, err := l.Accept()
			if err != nil {
				if s.stopping() || errors.Is(err, net.ErrClosed) {
					return
				}
				// Errors such as too many open files pass; log the first and then every
				// hundredth, and back off so a persistent error does not spin.
				failures++
				if failures == 1 || failures%100 == 0 {
					s.log.Error("accept failed", "address", l.Addr().String(), "failures", failures, "error", err)
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if !s.track(conn) {
				_ = conn.Close()
				return
			}
			s.goBackground(func() {
				defer s.untrack(conn)
				defer conn.Close()
				_, _ = io.Copy(io.Discard, conn)
			})
		}
	})
}
