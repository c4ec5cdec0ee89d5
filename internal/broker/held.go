package broker

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/schemas"
)

// A held webhook's deliveries travel together: whoever holds them (the
// router, for new deliveries of a webhook its senders hold; a sender, for
// deliveries it sends back) gathers them into one scheduled message per
// webhook (HeldBatchMsg) instead of one each, which is most of what a broken
// receiver's deliveries would cost the stream. A batch stays open while
// the messages it replaces wait to be confirmed, so it grows with the load
// and closes at once when the holder is idle: the one goroutine that
// confirms, reaching the first of those messages, publishes the batch
// (HeldBatches.Settle) and waits for it.

const (
	// maxHeldBatch and maxHeldBytes bound a batch; a full one is published
	// at once.
	maxHeldBatch = 1000
	maxHeldBytes = 256 << 10
	// maxHeldEntry is the largest delivery a batch takes; a larger one is
	// scheduled alone.
	maxHeldEntry = 32 << 10
)

// HeldEntry is a delivery to hold in its webhook's batch.
type HeldEntry struct {
	TenantID, WebhookID string
	// ID is the delivery's message id for this hold: unpacked, the
	// delivery is published with the message id ID+":held", so a batch
	// unpacked twice stores it once. A delivery held again later needs
	// another.
	ID    string
	At    time.Time // when it is due
	Since time.Time // since when it has waited unattempted
	Data  []byte    // AppendHeldEntry's encoding
}

// AppendHeldEntry appends d, encoded for a held batch, to dst; ok is false
// (dst as it was) when d is too large to share one (maxHeldEntry).
func AppendHeldEntry(dst []byte, d *HeldDelivery) (_ []byte, ok bool) {
	if len(d.Data) > maxHeldEntry {
		return dst, false
	}
	b, err := AppendHeld(dst, d)
	return b, err == nil // cannot fail: strings, a header and bytes
}

type heldKey struct{ tenantID, webhookID string }

// HeldBatches are the open held batches of one router or sender, one per
// webhook. Add may be called from any goroutine; Settle from one only.
type HeldBatches struct {
	// Linger is how long, at least, Settle leaves a batch open to grow.
	// A sender's batches linger (what it sends back is due a second or more
	// away, and its acks may wait); a router's do not, for the events they
	// come from wait to be acknowledged.
	Linger time.Duration

	mu   sync.Mutex
	open map[heldKey]*OpenBatch
}

// OpenBatch is a webhook's held deliveries gathered for one scheduled
// message. Add fills it under HeldBatches.mu; whoever takes it out of the
// open batches publishes it and closes published; Settle alone settles it.
type OpenBatch struct {
	key    heldKey
	opened time.Time
	at     time.Time // when it is due: when its last delivery is
	since  time.Time // since when its oldest delivery has waited
	first  string    // its first delivery's id, whence its subject
	n      int
	buf    []byte

	published chan struct{} // closed once f or err is set
	f         jetstream.PubAckFuture
	err       error

	settled bool // Settle's alone
}

// WebhookID is the webhook b holds deliveries of.
func (b *OpenBatch) WebhookID() string { return b.key.webhookID }

// Add adds e to its webhook's open batch, opening one if there is none,
// and returns the batch; full says it is full and taken out, for the
// caller to Publish. A batch is due when its last delivery is, so that
// none it unpacks waits inside a consumer.
func (hb *HeldBatches) Add(e HeldEntry) (b *OpenBatch, full bool) {
	key := heldKey{e.TenantID, e.WebhookID}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	b = hb.open[key]
	if b == nil {
		b = &OpenBatch{key: key, opened: time.Now(), at: e.At, since: e.Since, first: e.ID, published: make(chan struct{})}
		if hb.open == nil {
			hb.open = map[heldKey]*OpenBatch{}
		}
		hb.open[key] = b
	}
	if e.At.After(b.at) {
		b.at = e.At
	}
	if e.Since.Before(b.since) {
		b.since = e.Since
	}
	b.buf = append(b.buf, e.Data...)
	b.n++
	if b.n >= maxHeldBatch || len(b.buf) >= maxHeldBytes {
		delete(hb.open, key)
		return b, true
	}
	return b, false
}

// take takes b out of the open batches, once it is Linger old; false if
// it already was.
func (hb *HeldBatches) take(b *OpenBatch) bool {
	if wait := hb.Linger - time.Since(b.opened); wait > 0 && hb.isOpen(b) {
		time.Sleep(wait) // it grows meanwhile
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.open[b.key] != b {
		return false // full, and taken by Add's caller
	}
	delete(hb.open, b.key)
	return true
}

func (hb *HeldBatches) isOpen(b *OpenBatch) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.open[b.key] == b
}

// Publish publishes b, a batch Add returned full.
func (hb *HeldBatches) Publish(js jetstream.JetStream, b *OpenBatch) {
	defer close(b.published)
	m, opts := HeldBatchMsg(HeldBatch{TenantID: b.key.tenantID, WebhookID: b.key.webhookID,
		N: b.n, WaitingSince: b.since, Key: schemas.SubjectToken(b.first + ":held")}, HeldBatchBody(b.n, b.buf), b.at)
	b.f, b.err = js.PublishMsgAsync(m, opts...)
	b.buf = nil
}

// Settle publishes b if it is still open (once it is Linger old), waits
// until it is stored, or not, and says which. It is called for a batch
// after each message the batch replaces, always from the same goroutine.
func (hb *HeldBatches) Settle(js jetstream.JetStream, b *OpenBatch) error {
	if !b.settled && hb.take(b) {
		hb.Publish(js, b)
	}
	<-b.published
	if !b.settled {
		b.settled = true
		if b.err == nil {
			b.err = Stored(b.f)
		}
	}
	return b.err
}
