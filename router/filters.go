package router

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// filters decides, for each event, which matched webhooks' filters let it
// through, and counts per webhook what they keep out. An expression that
// errors (or times out, or finds its tenant over its share of the router's
// time) counts as not matched, with the reason logged once per webhook and
// minute. It is used by the router's handler goroutine only, but for the
// counts, which flush reads.
type filters struct {
	dialects *dialect.Compiler
	budget   *dialect.Budget
	logger   *slog.Logger
	now      func() time.Time

	// Per event, reset by next:
	event   any  // the event decoded, once a filter needs it
	decoded bool // event holds this event (or it failed to decode)
	results map[resultKey]bool

	errLog  rateLimited
	counts  filterCounts
	skipped atomic.Uint64 // events kept from a webhook: not matched
	errored atomic.Uint64 // of which because the filter failed
}

type resultKey struct {
	program *dialect.Program
	name    string
}

// next starts a new event.
func (f *filters) next() {
	f.event, f.decoded = nil, false
	clear(f.results)
}

// maxDeferrals is how many times an event is put off because its tenant's
// filters used their share of the router's time (or found no free slot);
// after that its remaining filters count as failed, so an event whose
// filters cost more than a tenant's whole budget is not redelivered forever.
const maxDeferrals = 5

// maxDeferral bounds how long one deferral puts an event off.
const maxDeferral = 10 * time.Second

// pass reports whether w's filter lets ev through; body is ev's JSON with
// its data (rendered once per event by the caller). A filter that cannot
// run now through no fault of its own (its tenant over its share, no free
// slot) asks for the event to come back after wait, if it may be deferred.
func (f *filters) pass(ctx context.Context, w *schemas.Webhook, ev *schemas.Event, body func() []byte, mayDefer bool) (ok bool, wait time.Duration) {
	d := f.dialects.For(w)
	if d.Filter == nil {
		// No filter, or programs that do not compile: the sender
		// dead-letters such deliveries with the reason, so nothing is
		// dropped unseen.
		return true, 0
	}
	name := d.Names.Of(ev.Type)
	key := resultKey{d.Filter, name}
	if d.Filter.PerEvent() {
		if ok, done := f.results[key]; done {
			return f.count(w, ok), 0
		}
	}
	if !f.decoded {
		f.decoded = true
		v, err := dialect.DecodeEvent(body())
		if err != nil {
			f.logger.WarnContext(ctx, "event not decodable for filters", "event_id", ev.ID, "err", err)
		}
		f.event = v
	}
	var err error
	switch allowed, later := f.budget.Allow(w.TenantID); {
	case f.event == nil:
		err = &dialect.RunError{Kind: dialect.KindFilter, Reason: "the event does not decode"}
	case !allowed && mayDefer:
		return false, min(later, maxDeferral)
	case !allowed:
		err = &dialect.RunError{Kind: dialect.KindFilter, Reason: "the tenant's filters used their share of the router's time"}
	default:
		start := time.Now()
		ok, err = d.Filter.Match(ctx, &dialect.Input{Event: f.event, EventName: name,
			Webhook:  dialect.WebhookInput{ID: w.ID, Name: w.Name, URL: w.URL, OrgIDs: w.OrgIDs, IncludePayload: w.IncludePayload},
			Delivery: dialect.DeliveryInput{ID: schemas.DeliveryID(ev.ID, w.ID), Attempt: 1}})
		f.budget.Charge(w.TenantID, time.Since(start))
		var re *dialect.RunError
		if errors.As(err, &re) && re.Transient && mayDefer {
			return false, time.Second
		}
	}
	if err != nil {
		f.errored.Add(1)
		f.skipped.Add(1)
		f.counts.add(w.TenantID, w.ID, true)
		if f.errLog.allow(w.TenantID+"."+w.ID, f.now()) {
			f.logger.WarnContext(ctx, "filter failed; the event counts as not matched (logged once a minute per webhook)",
				"tenant", w.TenantID, "webhook_id", w.ID, "event_id", ev.ID, "err", err)
		}
		return false, 0
	}
	if d.Filter.PerEvent() {
		if f.results == nil {
			f.results = map[resultKey]bool{}
		}
		f.results[key] = ok
	}
	return f.count(w, ok), 0
}

// count counts a filter's verdict and returns it.
func (f *filters) count(w *schemas.Webhook, ok bool) bool {
	if !ok {
		f.skipped.Add(1)
		f.counts.add(w.TenantID, w.ID, false)
	}
	return ok
}

// rateLimited lets a key through once a minute.
type rateLimited struct {
	last map[string]time.Time
}

// maxRateLimited bounds the keys remembered; past it all are forgotten.
const maxRateLimited = 10000

func (r *rateLimited) allow(key string, now time.Time) bool {
	if r.last == nil || len(r.last) >= maxRateLimited {
		r.last = map[string]time.Time{}
	}
	if t, ok := r.last[key]; ok && now.Sub(t) < time.Minute {
		return false
	}
	r.last[key] = now
	return true
}

// filterCounts are, per tenant and webhook, the events filters kept out
// since the last flush.
type filterCounts struct {
	mu sync.Mutex
	m  map[string]map[string]*schemas.FilterCount
}

func (c *filterCounts) add(tenantID, webhookID string, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]map[string]*schemas.FilterCount{}
	}
	t := c.m[tenantID]
	if t == nil {
		t = map[string]*schemas.FilterCount{}
		c.m[tenantID] = t
	}
	n := t[webhookID]
	if n == nil {
		n = &schemas.FilterCount{}
		t[webhookID] = n
	}
	n.Filtered++
	if failed {
		n.Errors++
	}
}

// take returns the counts and starts afresh.
func (c *filterCounts) take() map[string]map[string]*schemas.FilterCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.m
	c.m = nil
	return m
}

// writeCounts writes the filter counts to STATS every interval until stop
// is closed, and once more then; the API adds them up per webhook.
func (f *filters) writeCounts(js jetstream.JetStream, interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	start := f.now()
	for {
		final := false
		select {
		case <-t.C:
		case <-stop:
			final = true
		}
		now := f.now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for tenant, hooks := range f.counts.take() {
			st := schemas.DeliveryStats{TenantID: tenant, Start: start.UTC(), Seconds: int(now.Sub(start).Round(time.Second).Seconds()),
				Filtered: make(map[string]schemas.FilterCount, len(hooks))}
			for id, n := range hooks {
				st.Filtered[id] = *n
			}
			data, err := schemas.Marshal(nil, &st)
			if err == nil {
				_, err = js.PublishMsg(ctx, &nats.Msg{Subject: broker.StatsSubject(tenant), Data: data})
			}
			if err != nil {
				f.logger.Warn("filter counts not written", "tenant", tenant, "err", err)
			}
		}
		cancel()
		start = now
		if final {
			return
		}
	}
}
