package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// health tracks, per webhook, since when every attempt has failed. The
// shared truth is the webhook_health bucket (so replicas agree on when a
// failing period began); this process caches what it knows to write only on
// transitions: the first failure after a success, the first success after a
// failure. The cache holds one entry per webhook seen.
type health struct {
	kv    jetstream.KeyValue
	after time.Duration
	now   func() time.Time // the sender's clock

	mu    sync.Mutex
	known map[string]time.Time // webhook key -> failing since; zero = succeeding
}

func newHealth(kv jetstream.KeyValue, after time.Duration, now func() time.Time) *health {
	return &health{kv: kv, after: after, now: now, known: map[string]time.Time{}}
}

func healthKey(tenantID, webhookID string) string { return tenantID + "." + webhookID }

func (h *health) enabled() bool { return h.kv != nil && h.after > 0 }

func (h *health) cached(key string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	since, ok := h.known[key]
	return since, ok
}

func (h *health) remember(key string, since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.known[key] = since
}

// succeeded ends the webhook's failing period, if any.
func (h *health) succeeded(ctx context.Context, tenantID, webhookID string) {
	if !h.enabled() {
		return
	}
	key := healthKey(tenantID, webhookID)
	since, ok := h.cached(key)
	if ok && since.IsZero() {
		return // known to be succeeding
	}
	h.remember(key, time.Time{})
	h.update(ctx, key, func(st *schemas.WebhookHealth) { st.FailingSince = time.Time{} })
}

// failed records a failed attempt at time at and reports since when the
// webhook has been failing and whether that is long enough to disable it.
func (h *health) failed(ctx context.Context, tenantID, webhookID string, at time.Time) (time.Time, bool) {
	if !h.enabled() {
		return time.Time{}, false
	}
	key := healthKey(tenantID, webhookID)
	since, ok := h.cached(key)
	if !ok || since.IsZero() {
		since = h.start(ctx, key, at)
		h.remember(key, since)
	}
	if at.Sub(since) < h.after {
		return since, false
	}
	// Confirm with the shared state: another replica may have delivered
	// since this one last looked.
	shared := h.load(ctx, key).FailingSince
	if shared.IsZero() {
		h.remember(key, h.start(ctx, key, at))
		return at, false
	}
	h.remember(key, shared)
	return shared, at.Sub(shared) >= h.after
}

// start returns the failing period's start, beginning one at at unless
// another replica already has.
func (h *health) start(ctx context.Context, key string, at time.Time) time.Time {
	since := at.UTC()
	h.update(ctx, key, func(st *schemas.WebhookHealth) {
		if st.FailingSince.IsZero() {
			st.FailingSince = at.UTC()
		}
		since = st.FailingSince
	})
	return since
}

// circuit shares that a sender's circuit for the webhook opened (until the
// end of its cooldown) or closed, for the console.
func (h *health) circuit(ctx context.Context, tenantID, webhookID string, open bool, until time.Time) {
	if h.kv == nil {
		return
	}
	h.update(ctx, healthKey(tenantID, webhookID), func(st *schemas.WebhookHealth) {
		st.CircuitOpenUntil = time.Time{}
		if open {
			st.CircuitOpenUntil = until.UTC()
		} else {
			st.HoldUntil = time.Time{} // its deliveries flow again
		}
	})
}

// hold shares that the webhook's deliveries are queued or sent back until
// until, so the routers schedule its new ones for then
// (schemas.WebhookHealth): a later hold replaces the one shared; an earlier
// one does only when shorten is set (zero lifts it).
func (h *health) hold(ctx context.Context, tenantID, webhookID string, until time.Time, shorten bool) {
	h.update(ctx, healthKey(tenantID, webhookID), func(st *schemas.WebhookHealth) {
		if until.After(st.HoldUntil) || shorten && st.HoldUntil.After(until) {
			st.HoldUntil = until.UTC()
		}
	})
}

// holdWrite is a hold for writeHolds to share (health.hold).
type holdWrite struct {
	tenantID, webhookID string
	until               time.Time
	shorten             bool
}

// holdQueue bounds the holds waiting to be shared; beyond it they are
// dropped (each is only an optimisation: the senders send back what the
// routers did not hold).
const holdQueue = 256

// shareHold tells the routers, through the webhook_health bucket, that the
// webhook's deliveries are queued or sent back until at, so that they
// schedule its new deliveries for then: each one handed to a sender would
// wait behind the queue, or be fetched, sent back as a scheduled message
// and acknowledged for nothing. Holds under a second are not shared, nor
// those within holdStep of the last (holdToShare). The write is made by
// writeHolds, never by the fetcher.
func (s *Sender) shareHold(ep *endpoint, tenantID, webhookID string, at time.Time) {
	if s.holds == nil {
		return
	}
	if now := s.now(); at.Sub(now) < time.Second || !ep.holdToShare(at, now) {
		return
	}
	s.writeHold(holdWrite{tenantID: tenantID, webhookID: webhookID, until: at})
}

// shortenHold shares that the webhook's hold ends at until (zero: now), as
// its endpoint answered and drains sooner than the hold shared said
// (verdictOfDone.shorten).
func (s *Sender) shortenHold(tenantID, webhookID string, until time.Time) {
	s.writeHold(holdWrite{tenantID: tenantID, webhookID: webhookID, until: until, shorten: true})
}

// writeHold hands h to writeHolds, or drops it when too many wait: a hold
// only saves work, what the routers do not hold the senders send back.
func (s *Sender) writeHold(h holdWrite) {
	if s.holds == nil {
		return
	}
	select {
	case s.holds <- h:
	default:
	}
}

// writeHolds shares each hold until holds is closed.
func (s *Sender) writeHolds(holds <-chan holdWrite) {
	for h := range holds {
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		s.health.hold(ctx, h.tenantID, h.webhookID, h.until, h.shorten)
		cancel()
	}
}

func (h *health) load(ctx context.Context, key string) schemas.WebhookHealth {
	var st schemas.WebhookHealth
	if e, err := h.kv.Get(ctx, key); err == nil {
		_ = schemas.Unmarshal(e.Value(), &st)
	}
	return st
}

// update applies fn to the shared record by compare-and-set, deleting it
// when it becomes empty. It is best effort: a lost race is retried a few
// times, an error gives up (the record only informs).
func (h *health) update(ctx context.Context, key string, fn func(*schemas.WebhookHealth)) {
	for range 3 {
		var st schemas.WebhookHealth
		var rev uint64
		e, err := h.kv.Get(ctx, key)
		switch {
		case err == nil:
			rev = e.Revision()
			_ = schemas.Unmarshal(e.Value(), &st)
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return
		}
		before := st
		fn(&st)
		if !st.HoldUntil.IsZero() && st.HoldUntil.Before(h.now()) {
			st.HoldUntil = time.Time{} // past: tidied while writing anyway
		}
		switch {
		case st == before:
			return
		case st == (schemas.WebhookHealth{}):
			err = h.kv.Delete(ctx, key, jetstream.LastRevision(rev))
		default:
			var raw []byte
			if raw, err = schemas.Marshal(nil, &st); err != nil {
				return
			}
			if rev == 0 {
				_, err = h.kv.Create(ctx, key, raw)
			} else {
				_, err = h.kv.Update(ctx, key, raw, rev)
			}
		}
		if err == nil {
			return
		}
	}
}

// forget clears a webhook's failing period (it was disabled: re-enabling it
// starts afresh).
func (h *health) forget(ctx context.Context, tenantID, webhookID string) {
	if h.kv == nil {
		return
	}
	key := healthKey(tenantID, webhookID)
	h.mu.Lock()
	delete(h.known, key)
	h.mu.Unlock()
	_ = h.kv.Delete(ctx, key)
}

var errAlreadyDisabled = errors.New("already disabled")

// disable turns wh off with reason, unless it already is, and then tells the
// tenant: a webhook.disabled event (for the webhooks subscribed to it) and an
// audit record. Only the replica whose update turned it off does so.
// Deliveries for it from then on wait in the dead letters.
func (s *Sender) disable(ctx context.Context, wh *schemas.Webhook, reason string, failingSince time.Time) {
	if s.store == nil {
		s.logger.Warn("webhook should be disabled, but this sender cannot write webhooks", "webhook_id", wh.ID, "reason", reason)
		return
	}
	now := s.now().UTC()
	_, err := s.store.Update(ctx, wh.TenantID, wh.ID, func(c *schemas.Webhook) error {
		if !c.Enabled {
			return errAlreadyDisabled
		}
		c.Enabled, c.DisabledReason, c.UpdatedAt = false, reason, now
		return nil
	})
	switch {
	case errors.Is(err, errAlreadyDisabled):
		return
	case err != nil:
		s.logger.Warn("disable webhook", "webhook_id", wh.ID, "err", err)
		return
	}
	s.disabled.Add(1)
	s.health.forget(ctx, wh.TenantID, wh.ID)
	s.logger.Warn("webhook disabled", "tenant", wh.TenantID, "webhook_id", wh.ID, "reason", reason)

	data := schemas.WebhookDisabledData{WebhookID: wh.ID, URL: wh.URL, Reason: reason, DisabledAt: now}
	if !failingSince.IsZero() {
		data.FailingSince = &failingSince
	}
	if err := s.publishEvent(ctx, wh.TenantID, schemas.TypeWebhookDisabled, data); err != nil {
		s.logger.Warn("webhook.disabled event not published", "webhook_id", wh.ID, "err", err)
	}
	rec := &schemas.AuditRecord{Kind: schemas.AuditWebhookDisabled, TenantID: wh.TenantID, WebhookID: wh.ID, Reason: reason, At: now}
	if m, err := broker.AuditMsg(rec); err == nil {
		_, err = s.js.PublishMsg(ctx, m)
		if err != nil {
			s.logger.Warn("audit record not stored", "webhook_id", wh.ID, "err", err)
		}
	}
}

// publishEvent publishes one of Hookstream's own events for a tenant to
// EVENTS, where the router sends it to the webhooks subscribed to it.
func (s *Sender) publishEvent(ctx context.Context, tenantID, typ string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	ev := schemas.Event{ID: schemas.NewEventID(), Type: typ, TenantID: tenantID, OccurredAt: s.now().UTC(), Data: raw}
	if err := schemas.Validate(&ev); err != nil {
		return fmt.Errorf("sender: %s: %w", typ, err)
	}
	b, err := schemas.Marshal(nil, &ev)
	if err != nil {
		return err
	}
	_, err = s.js.PublishMsg(ctx, &nats.Msg{
		Subject: broker.EventSubject(tenantID, typ), Data: b,
		Header: nats.Header{jetstream.MsgIDHeader: []string{ev.ID}},
	})
	return err
}
