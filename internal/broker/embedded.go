package broker

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
)

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("broker: listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("broker: listen address %q: bad port", addr)
	}
	return host, port, nil
}

// slogAdapter routes nats-server's log lines to slog: warnings and errors only.
type slogAdapter struct{ l *slog.Logger }

func (a *slogAdapter) Noticef(string, ...any) {}
func (a *slogAdapter) Tracef(string, ...any)  {}
func (a *slogAdapter) Debugf(string, ...any)  {}
func (a *slogAdapter) Warnf(format string, v ...any) {
	a.l.Warn(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (a *slogAdapter) Errorf(format string, v ...any) {
	a.l.Error(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (a *slogAdapter) Fatalf(format string, v ...any) {
	a.l.Error(fmt.Sprintf(format, v...), "component", "nats-server")
}
