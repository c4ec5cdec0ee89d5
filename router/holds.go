package router

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// holds is what the router knows of the senders' holds: per tenant and
// webhook, until when its senders are busy with it (its deliveries queued or
// sent back until then). The watcher writes it;
// handlers read it (without building the "<tenant>.<webhook>" key).
type holds struct {
	mu sync.RWMutex
	m  map[string]map[string]time.Time
}

// minHold is the shortest hold the router acts on: a scheduled message
// fires to the second, and a delivery due sooner waits inside the senders'
// consumer anyway.
const minHold = time.Second

// until returns when a new delivery to the webhook should be due, and
// whether it is held at all: the end of its hold, spread over up to half
// the hold again (broker.SpreadHold).
func (h *holds) until(tenantID, webhookID string, now time.Time) (time.Time, bool) {
	h.mu.RLock()
	end, ok := h.m[tenantID][webhookID]
	h.mu.RUnlock()
	if !ok || end.Sub(now) < minHold {
		return time.Time{}, false
	}
	return broker.SpreadHold(end, now).UTC(), true
}

// set records the hold of the webhook_health key ("<tenant>.<webhook>";
// tenant ids have no dots); a zero end lifts it.
func (h *holds) set(key string, end time.Time) {
	tenantID, webhookID, ok := strings.Cut(key, ".")
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if end.IsZero() {
		delete(h.m[tenantID], webhookID)
		if len(h.m[tenantID]) == 0 {
			delete(h.m, tenantID)
		}
		return
	}
	if h.m == nil {
		h.m = map[string]map[string]time.Time{}
	}
	if h.m[tenantID] == nil {
		h.m[tenantID] = map[string]time.Time{}
	}
	h.m[tenantID][webhookID] = end
}

// holdsSyncWait bounds how long a starting router waits for the current
// holds before it routes.
const holdsSyncWait = 5 * time.Second

// watch follows the webhook_health bucket until ctx is done, closing synced
// once it has the current values (or has given up). If the bucket cannot be
// watched the router routes without holds, as without Health.
func (h *holds) watch(ctx context.Context, kv jetstream.KeyValue, logger *slog.Logger, synced chan<- struct{}) {
	var once sync.Once
	done := func() { once.Do(func() { close(synced) }) }
	defer done()
	w, err := kv.WatchAll(ctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("watch webhook health; routing without holds", "err", err)
		}
		return
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				done() // the current values are in
				continue
			}
			var st schemas.WebhookHealth
			if e.Operation() == jetstream.KeyValuePut && schemas.Unmarshal(e.Value(), &st) != nil {
				continue
			}
			h.set(e.Key(), st.HoldUntil) // deleted or purged: zero
		}
	}
}
