package standin

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// The server side of RFC 6455, as much as an echo needs: the opening handshake, masked
// client frames, fragmented messages, ping, pong and close. Extensions and
// subprotocols are not negotiated.

// websocketGUID is the fixed string of RFC 6455, section 1.3, that the server appends to
// Sec-WebSocket-Key before hashing it into Sec-WebSocket-Accept.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Frame opcodes of RFC 6455, section 5.2.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Close status codes of RFC 6455, section 7.4.1.
const (
	closeNormal        = 1000
	closeProtocolError = 1002
	closeInvalidData   = 1007
	closeTooBig        = 1009
)

// Limits of the echo. nginx closes idle upgraded connections after an hour
// (proxy_read_timeout 1h in nginx.conf), so the stand-in waits as long.
const (
	maxMessageBytes   = 1 << 20
	websocketIdle     = time.Hour
	websocketWriteMax = 10 * time.Second
)

// WebSocketAccept returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key: the
// base64 of the SHA-1 of the key followed by the RFC 6455 GUID.
func WebSocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// isUpgradeRequest reports whether r requests a switch to the WebSocket protocol.
func isUpgradeRequest(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

// headerHasToken reports whether a comma-separated header contains token, ignoring case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, value := range h.Values(name) {
		for _, part := range strings.Split(value, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// checkHandshake validates an upgrade request as RFC 6455, section 4.2.1, requires. It
// returns the HTTP status to reject the request with, or 0.
func checkHandshake(r *http.Request) (int, error) {
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, fmt.Errorf("a WebSocket handshake must use GET, not %s", r.Method)
	}
	if !r.ProtoAtLeast(1, 1) {
		return http.StatusBadRequest, fmt.Errorf("a WebSocket handshake needs HTTP/1.1, not %s", r.Proto)
	}
	if version := r.Header.Get("Sec-WebSocket-Version"); version != "13" {
		return http.StatusUpgradeRequired, fmt.Errorf("unsupported Sec-WebSocket-Version %q: only 13 is supported", version)
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	decoded, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(decoded) != 16 {
		return http.StatusBadRequest, fmt.Errorf("invalid Sec-WebSocket-Key %q: expected the base64 of 16 bytes", key)
	}
	return 0, nil
}

// protocolError is a client frame that breaks RFC 6455; code is the close status the
// server sends before it closes the connection.
type protocolError struct {
	code   int
	reason string
}

func (e *protocolError) Error() string { return e.reason }

type frame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// readFrame reads one client frame and unmasks its payload.
func readFrame(r *bufio.Reader) (frame, error) {
	var header [2]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: header[0]&0x80 != 0, opcode: header[0] & 0x0F}
	if header[0]&0x70 != 0 {
		return f, &protocolError{closeProtocolError, "reserved bits are set but no extension was negotiated"}
	}
	if header[1]&0x80 == 0 {
		return f, &protocolError{closeProtocolError, "client frames must be masked"}
	}

	length := uint64(header[1] & 0x7F)
	switch length {
	case 126:
		var extended [2]byte
		if _, err := io.ReadFull(r, extended[:]); err != nil {
			return f, err
		}
		length = uint64(binary.BigEndian.Uint16(extended[:]))
	case 127:
		var extended [8]byte
		if _, err := io.ReadFull(r, extended[:]); err != nil {
			return f, err
		}
		length = binary.BigEndian.Uint64(extended[:])
	}
	if f.opcode >= opClose && (length > 125 || !f.fin) {
		return f, &protocolError{closeProtocolError, "control frames must be unfragmented and at most 125 bytes"}
	}
	if length > maxMessageBytes {
		return f, &protocolError{closeTooBig, fmt.Sprintf("frame of %d bytes is larger than the %d-byte limit", length, maxMessageBytes)}
	}

	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return f, err
	}
	f.payload = make([]byte, length)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	for i := range f.payload {
		f.payload[i] ^= mask[i%4]
	}
	return f, nil
}

// writeFrame writes one unfragmented, unmasked server frame in a single Write call.
func writeFrame(conn net.Conn, opcode byte, payload []byte) error {
	header := []byte{0x80 | opcode, 0}
	switch n := len(payload); {
	case n <= 125:
		header[1] = byte(n)
	case n <= 0xFFFF:
		header[1] = 126
		header = binary.BigEndian.AppendUint16(header, uint16(n))
	default:
		header[1] = 127
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	if err := conn.SetWriteDeadline(time.Now().Add(websocketWriteMax)); err != nil {
		return err
	}
	_, err := conn.Write(append(header, payload...))
	return err
}

func writeClose(conn net.Conn, code int, reason string) error {
	payload := binary.BigEndian.AppendUint16(nil, uint16(code))
	return writeFrame(conn, opClose, append(payload, reason...))
}

// echoWebSocket sends every text and binary message back to the client until the
// client closes the connection, breaks the protocol, stays idle for websocketIdle, or
// the connection is closed from outside. It returns nil after a clean close.
func echoWebSocket(conn net.Conn, r *bufio.Reader) error {
	var messageOpcode byte
	var message []byte
	for {
		if err := conn.SetReadDeadline(time.Now().Add(websocketIdle)); err != nil {
			return err
		}
		f, err := readFrame(r)
		var perr *protocolError
		if errors.As(err, &perr) {
			_ = writeClose(conn, perr.code, perr.reason)
			return err
		}
		if err != nil {
			return err
		}

		switch f.opcode {
		case opText, opBinary:
			if messageOpcode != 0 {
				return failWebSocket(conn, closeProtocolError, "a new message started before the fragmented one ended")
			}
			messageOpcode, message = f.opcode, f.payload
		case opContinuation:
			if messageOpcode == 0 {
				return failWebSocket(conn, closeProtocolError, "a continuation frame arrived with no message to continue")
			}
			if len(message)+len(f.payload) > maxMessageBytes {
				return failWebSocket(conn, closeTooBig, fmt.Sprintf("message is larger than the %d-byte limit", maxMessageBytes))
			}
			message = append(message, f.payload...)
		case opPing:
			if err := writeFrame(conn, opPong, f.payload); err != nil {
				return err
			}
			continue
		case opPong:
			continue
		case opClose:
			return answerClose(conn, f.payload)
		default:
			return failWebSocket(conn, closeProtocolError, fmt.Sprintf("reserved opcode 0x%X", f.opcode))
		}

		if !f.fin {
			continue
		}
		if messageOpcode == opText && !utf8.Valid(message) {
			return failWebSocket(conn, closeInvalidData, "a text message is not valid UTF-8")
		}
		if err := writeFrame(conn, messageOpcode, message); err != nil {
			return err
		}
		messageOpcode, message = 0, nil
	}
}

// answerClose replies to the client's close frame with the same status code, as RFC
// 6455, section 5.5.1, requires. It reports a malformed close frame as a protocol
// error.
func answerClose(conn net.Conn, payload []byte) error {
	switch {
	case len(payload) == 0:
		return writeFrame(conn, opClose, nil)
	case len(payload) == 1:
		return failWebSocket(conn, closeProtocolError, "a close frame has a 1-byte payload")
	case !utf8.Valid(payload[2:]):
		return failWebSocket(conn, closeInvalidData, "the close reason is not valid UTF-8")
	}
	code := int(binary.BigEndian.Uint16(payload))
	if !validCloseCode(code) {
		return failWebSocket(conn, closeProtocolError, fmt.Sprintf("invalid close status code %d", code))
	}
	return writeClose(conn, code, "")
}

// validCloseCode reports whether a peer may send code in a close frame (RFC 6455,
// section 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// failWebSocket sends a close frame with code and returns the reason as an error.
func failWebSocket(conn net.Conn, code int, reason string) error {
	_ = writeClose(conn, code, reason)
	return &protocolError{code: code, reason: reason}
}
