package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumeWatch follows a role's Consume of its durable consumer: it logs the
// errors nats.go reports (all but missed heartbeats, which nats.go recovers
// from by pulling again) and tells a consumption the server ended from a
// shutdown.
type ConsumeWatch struct {
	Consumer string       // the durable's name, for errors
	Logger   *slog.Logger // where the errors go
	last     atomic.Pointer[error]
}

// ErrHandler is the Consume option that reports to w.
func (w *ConsumeWatch) ErrHandler() jetstream.PullConsumeOpt {
	return jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			return
		}
		w.Logger.Warn("consume "+w.Consumer, "err", err)
		w.last.Store(&err)
	})
}

// Wait returns nil when ctx is done, and an error when consuming ends first:
// the consumer was deleted, or the connection closed for good. A role then
// stops, so that its process exits and, restarted, declares the consumer
// again, rather than stay up consuming nothing.
func (w *ConsumeWatch) Wait(ctx context.Context, cc jetstream.ConsumeContext) error {
	select {
	case <-ctx.Done():
		return nil
	case <-cc.Closed():
		if ctx.Err() != nil {
			return nil
		}
		if last := w.last.Load(); last != nil {
			return fmt.Errorf("consuming %s ended: %w", w.Consumer, *last)
		}
		return fmt.Errorf("consuming %s ended", w.Consumer)
	}
}
