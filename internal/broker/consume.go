package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pullBytes bounds what one pull request of a router or sender brings.
const pullBytes = 8 << 20

// PullLimits is the Consume option of a router's or sender's pull requests:
// at most n messages, and at most 8 MiB (or, if the server allows larger
// messages, its largest: a request must fit one). Without the byte bound a
// backlog of large events came in a request's worth at once (1,000 events of
// 200 KB: 200 MB), more than the server buffers for one client (max_pending,
// 64 MiB by default), and the server closed the connection as a slow
// consumer, again after each reconnect. nats.go asks again at half of n, so
// about two requests' bytes are on their way at a time.
func PullLimits(nc *nats.Conn, n int) jetstream.PullConsumeOpt {
	return jetstream.PullMaxMessagesWithBytesLimit(n, max(pullBytes, int(nc.MaxPayload())))
}

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
