package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// requestLimit bounds one request, including the connection.
const requestLimit = 5 * time.Second

// websocketGUID is the fixed string of RFC 6455, section 1.3, that a server appends to
// Sec-WebSocket-Key before it hashes the key into Sec-WebSocket-Accept.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// standIn is the JSON body that every STF stand-in sends (tools/standin.Response).
type standIn struct {
	Role    string `json:"role"`
	Machine string `json:"machine"`
	Port    int    `json:"port"`
	Path    string `json:"path"`
}

// reply is one response of the farm.
type reply struct {
	header http.Header
	body   standIn
	raw    string
}

// dial connects to address over TCP, and rejects any address outside the farm's
// network, so that no request of the tests leaves the farm.
func (f *farm) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if !f.inFarm(host) {
		return nil, fmt.Errorf("the tests send no traffic outside %s, and %s is outside it", farmNetwork, address)
	}
	dialer := net.Dialer{Timeout: requestLimit}
	return dialer.DialContext(ctx, network, address)
}

// get sends GET path to the farm's nginx at the address nginx and decodes the JSON body
// of the stand-in that responds.
func (f *farm) get(nginx, path string) (reply, error) {
	client := &http.Client{
		Timeout: requestLimit,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       f.dial,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := "http://" + nginx + path
	resp, err := client.Get(url)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return reply{}, fmt.Errorf("GET %s: reading the body failed: %w", url, err)
	}
	r := reply{header: resp.Header, raw: string(data)}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("GET %s returned %s: %s", url, resp.Status, data)
	}
	if err := json.Unmarshal(data, &r.body); err != nil {
		return r, fmt.Errorf("GET %s returned a body that is not the stand-in's JSON: %v: %s", url, err, data)
	}
	return r, nil
}

// upgrade is the result of a WebSocket handshake and one echo.
type upgrade struct {
	status int
	accept string
	want   string
	sent   string
	echoed string
}

// websocket opens a WebSocket through the nginx at nginx with a raw HTTP/1.1 Upgrade
// request for path, sends one masked text message and reads the echo.
func (f *farm) websocket(nginx, path string) (upgrade, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestLimit)
	defer cancel()
	conn, err := f.dial(ctx, "tcp", net.JoinHostPort(nginx, "80"))
	if err != nil {
		return upgrade{}, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(requestLimit)); err != nil {
		return upgrade{}, err
	}

	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return upgrade{}, err
	}
	key := base64.StdEncoding.EncodeToString(nonce)
	sum := sha1.Sum([]byte(key + websocketGUID))
	u := upgrade{want: base64.StdEncoding.EncodeToString(sum[:]), sent: "echo through " + path}

	request := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + nginx + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, request); err != nil {
		return u, err
	}
	reader := bufio.NewReader(conn)
	resp, err := http.ReadResponse(reader, &http.Request{Method: http.MethodGet})
	if err != nil {
		return u, fmt.Errorf("reading the handshake response failed: %w", err)
	}
	u.status = resp.StatusCode
	u.accept = resp.Header.Get("Sec-WebSocket-Accept")
	if u.status != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return u, fmt.Errorf("the handshake returned %s, want 101 Switching Protocols: %s", resp.Status, body)
	}

	if _, err := conn.Write(maskedFrame(0x1, []byte(u.sent))); err != nil {
		return u, err
	}
	opcode, payload, err := readServerFrame(reader)
	if err != nil {
		return u, fmt.Errorf("reading the echo failed: %w", err)
	}
	if opcode != 0x1 {
		return u, fmt.Errorf("the echo has opcode %#x, want a text frame (0x1)", opcode)
	}
	u.echoed = string(payload)
	// A close frame with status 1000 ends the connection cleanly.
	_, _ = conn.Write(maskedFrame(0x8, binary.BigEndian.AppendUint16(nil, 1000)))
	return u, nil
}

// maskedFrame builds one final client frame of at most 125 bytes, masked as RFC 6455
// requires of clients.
func maskedFrame(opcode byte, payload []byte) []byte {
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	frame := []byte{0x80 | opcode, 0x80 | byte(len(payload))}
	frame = append(frame, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	return frame
}

// readServerFrame reads one unmasked, final server frame of at most 64 KiB.
func readServerFrame(r *bufio.Reader) (byte, []byte, error) {
	var header [2]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return 0, nil, err
	}
	if header[0]&0x80 == 0 {
		return 0, nil, fmt.Errorf("the server sent a fragmented frame")
	}
	if header[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("the server sent a masked frame")
	}
	length := int(header[1] & 0x7F)
	switch length {
	case 126:
		var extended [2]byte
		if _, err := io.ReadFull(r, extended[:]); err != nil {
			return 0, nil, err
		}
		length = int(binary.BigEndian.Uint16(extended[:]))
	case 127:
		return 0, nil, fmt.Errorf("the server sent a frame larger than 64 KiB")
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return header[0] & 0x0F, payload, nil
}
