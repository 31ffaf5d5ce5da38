package standin

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Timing of the reachability checks: one dial attempt every retryInterval until the
// bound passes, then one every slowRetryInterval, each attempt giving up after
// dialTimeout.
const (
	retryInterval = 250 * time.Millisecond
	dialTimeout   = time.Second
)

// slowRetryInterval is a variable only so that tests can shorten it.
var slowRetryInterval = 10 * time.Second

// dialOnce opens a TCP connection to address and closes it again.
func dialOnce(ctx context.Context, address string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return err
	}
	return conn.Close()
}

// waitReachable dials address over TCP until a connection succeeds, ctx ends or bound
// passes. It returns nil on success, ctx's error when ctx ends first, and otherwise an
// error that wraps the last dial error.
func waitReachable(ctx context.Context, address string, bound, interval time.Duration) error {
	bounded, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := dialOnce(bounded, address)
		if err == nil {
			return nil
		}
		select {
		case <-bounded.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s did not accept a TCP connection within %s (%d attempts): %w", address, bound, attempt, err)
		case <-time.After(interval):
		}
	}
}

// watchEndpoint checks in the background that address accepts TCP connections, and
// logs when it does. When it does not within bound, watchEndpoint logs one error and
// keeps trying every slowRetryInterval until it succeeds or the service stops.
func (s *Service) watchEndpoint(flag, endpoint, address string, bound time.Duration) {
	s.goBackground(func() {
		err := waitReachable(s.ctx, address, bound, retryInterval)
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			s.log.Info("endpoint is reachable", "flag", flag, "endpoint", endpoint)
			return
		}
		s.log.Error("endpoint is not reachable, so the stand-in keeps running and keeps trying",
			"flag", flag, "endpoint", endpoint, "retry_every", slowRetryInterval, "error", err)
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(slowRetryInterval):
			}
			if dialOnce(s.ctx, address) == nil {
				s.log.Info("endpoint is reachable now", "flag", flag, "endpoint", endpoint)
				return
			}
		}
	})
}
