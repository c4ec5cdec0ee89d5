package router

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// A held webhook's new deliveries travel together: the router gathers them
// into one scheduled message per webhook (broker.HeldBatchMsg) instead of
// one each, which is most of what a broken receiver's deliveries would cost
// the stream. A batch stays open while the events it holds deliveries of
// wait to be confirmed, so it grows with the load and closes at once when
// the router is idle: confirm, reaching the first of those events, publishes
// it (take), and waits for it like for any delivery of the event.

const (
	// maxHeldBatch and maxHeldBytes bound a batch; a full one is published
	// at once.
	maxHeldBatch = 1000
	maxHeldBytes = 256 << 10
	// maxHeldEntry is the largest delivery a batch takes; a larger one is
	// scheduled alone.
	maxHeldEntry = 32 << 10
)

type heldKey struct{ tenantID, webhookID string }

// heldBatch is a webhook's held deliveries gathered for one scheduled
// message. The handler fills it under heldBatches.mu; whoever takes it out
// of heldBatches publishes it and closes published; confirm alone settles
// it.
type heldBatch struct {
	key   heldKey
	at    time.Time // when it is due
	since time.Time // since when its deliveries wait
	first string    // its first delivery's id, whence its subject
	n     int
	buf   []byte

	published chan struct{} // closed once f or err is set
	f         jetstream.PubAckFuture
	err       error

	settled, stored bool // confirm's alone
}

// heldBatches are the open batches, by webhook.
type heldBatches struct {
	mu   sync.Mutex
	open map[heldKey]*heldBatch
}

// heldEntry is a delivery the handler holds, added to its webhook's batch
// once every delivery of its event is published.
type heldEntry struct {
	key  heldKey
	at   time.Time
	id   string
	data []byte // broker.AppendHeld's encoding
}

// add adds e to its webhook's open batch, opening one due at e.at if there
// is none, and returns the batch; full says it is full and taken out, for
// the caller to publish.
func (hb *heldBatches) add(e heldEntry, now time.Time) (b *heldBatch, full bool) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	b = hb.open[e.key]
	if b == nil {
		b = &heldBatch{key: e.key, at: e.at, since: now, first: e.id, published: make(chan struct{})}
		if hb.open == nil {
			hb.open = map[heldKey]*heldBatch{}
		}
		hb.open[e.key] = b
	}
	b.buf = append(b.buf, e.data...)
	b.n++
	if b.n >= maxHeldBatch || len(b.buf) >= maxHeldBytes {
		delete(hb.open, e.key)
		return b, true
	}
	return b, false
}

// take takes b out of the open batches; false if it already was.
func (hb *heldBatches) take(b *heldBatch) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.open[b.key] != b {
		return false
	}
	delete(hb.open, b.key)
	return true
}

// publish publishes b, taken out of the open batches.
func (r *Router) publishHeld(b *heldBatch) {
	defer close(b.published)
	m, opts := broker.HeldBatchMsg(broker.HeldBatch{TenantID: b.key.tenantID, WebhookID: b.key.webhookID,
		N: b.n, WaitingSince: b.since, Key: schemas.SubjectToken(b.first + ":held")}, broker.HeldBatchBody(b.n, b.buf), b.at)
	b.f, b.err = r.js.PublishMsgAsync(m, opts...)
	b.buf = nil
}

// settle waits until b is stored, or not, and reports which; only confirm
// calls it.
func (r *Router) settle(b *heldBatch) bool {
	if r.batches.take(b) {
		r.publishHeld(b)
	}
	<-b.published
	if b.settled {
		return b.stored
	}
	b.settled = true
	if b.err == nil {
		b.err = broker.Stored(b.f)
	}
	b.stored = b.err == nil
	if b.err != nil {
		r.logger.Warn("held deliveries not stored; their events will be redelivered", "webhook_id", b.key.webhookID, "err", b.err)
	}
	return b.stored
}

// heldEntryOf appends out, the DELIVERIES message of delivery id, encoded
// for a batch, to dst; ok is false (dst as it was) when it is too large to
// share one.
func heldEntryOf(dst []byte, id string, out *nats.Msg) (_ []byte, ok bool) {
	if len(out.Data) > maxHeldEntry {
		return dst, false
	}
	b, err := broker.AppendHeld(dst, &broker.HeldDelivery{ID: id, Header: out.Header, Data: out.Data})
	return b, err == nil // an encoding error cannot happen: it encodes as the delivery did
}
