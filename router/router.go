package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/schemas"
)

// Matcher finds the webhooks an event goes to. It appends the webhooks of
// tenantID (enabled or not) subscribed to eventType and admitting orgID to
// dst, each once; the returned webhooks are shared and read-only.
// subscription.Index implements it.
type Matcher interface {
	Match(dst []*schemas.Webhook, tenantID, eventType, orgID string) []*schemas.Webhook
}

// Config configures a Router.
type Config struct {
	// JS consumes events and publishes deliveries. Required.
	JS jetstream.JetStream
	// Matcher resolves subscriptions. Required.
	Matcher Matcher
	// MaxInFlight bounds events whose deliveries are published but not yet
	// confirmed. Optional; default 1024.
	MaxInFlight int
	// ReferenceFanOut is the fan-out from which deliveries refer to their
	// event (by EVENTS sequence) rather than carry a copy of its payload.
	// Optional; default 4.
	ReferenceFanOut int
	// Health is the webhook_health bucket, watched for the holds the senders
	// share: a webhook they find busy until some time (its deliveries
	// queued or sent back until then) gets its new deliveries scheduled for
	// then instead. Optional; without it every delivery goes to the senders
	// at once.
	Health jetstream.KeyValue
	// Dialects compiles webhooks' filters. Optional; default a Compiler of
	// the router's own.
	Dialects *dialect.Compiler
	// Budget shares filter time among tenants. Optional; default
	// dialect.NewBudget with its defaults.
	Budget *dialect.Budget
	// StatsInterval is how often the filters' counts per webhook are
	// written to STATS. Optional; default broker.StatsInterval.
	StatsInterval time.Duration
	// Logger. Optional; default slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Optional; default time.Now.
	Now func() time.Time
}

// Stats are the router's counters since start.
type Stats struct {
	Events      uint64 // events consumed and decoded
	Routed      uint64 // events with at least one matching webhook
	Unmatched   uint64 // events acknowledged without a match
	Deliveries  uint64 // deliveries published
	Parked      uint64 // deliveries for disabled webhooks, stored as dead letters
	Held        uint64 // deliveries scheduled for the end of their webhook's hold (counted in Deliveries too)
	Quarantined uint64 // messages sent to QUARANTINE
	// Filtered counts deliveries not made because the webhook's filter
	// did not let the event through; FilterErrors those of them whose
	// filter failed.
	Filtered, FilterErrors uint64
	// Deferred counts events put off because their tenant's filters had
	// used their share of the router's time.
	Deferred uint64
}

// Router consumes EVENTS and fans out deliveries.
type Router struct {
	js        jetstream.JetStream
	matcher   Matcher
	logger    *slog.Logger
	now       func() time.Time
	inFlight  int
	refFanOut int
	health    jetstream.KeyValue
	holds     holds
	batches   broker.HeldBatches // held webhooks' new deliveries, a batch per webhook
	filters   *filters
	statsEach time.Duration

	events, routed, unmatched, deliveries, parked, held, quarantined, deferred atomic.Uint64
}

// New returns a Router. Run starts it.
func New(cfg Config) (*Router, error) {
	if cfg.JS == nil || cfg.Matcher == nil {
		return nil, errors.New("router: Config.JS and Config.Matcher are required")
	}
	r := &Router{js: cfg.JS, matcher: cfg.Matcher, logger: cfg.Logger, now: cfg.Now, inFlight: cfg.MaxInFlight,
		refFanOut: cmp.Or(cfg.ReferenceFanOut, 4), health: cfg.Health, statsEach: cmp.Or(cfg.StatsInterval, broker.StatsInterval)}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	r.logger = r.logger.With("component", "router")
	if r.now == nil {
		r.now = time.Now
	}
	r.filters = &filters{dialects: cfg.Dialects, budget: cfg.Budget, logger: r.logger, now: r.now}
	if r.filters.dialects == nil {
		r.filters.dialects = dialect.NewCompiler()
	}
	if r.filters.budget == nil {
		r.filters.budget = dialect.NewBudget(0, 0, nil)
	}
	if r.inFlight <= 0 {
		r.inFlight = 1024
	}
	return r, nil
}

// Stats returns the counters.
func (r *Router) Stats() Stats {
	return Stats{
		Events: r.events.Load(), Routed: r.routed.Load(), Unmatched: r.unmatched.Load(),
		Deliveries: r.deliveries.Load(), Parked: r.parked.Load(), Held: r.held.Load(), Quarantined: r.quarantined.Load(),
		Filtered: r.filters.skipped.Load(), FilterErrors: r.filters.errored.Load(), Deferred: r.deferred.Load(),
	}
}

// pending is an event whose deliveries are published and awaiting storage.
type pending struct {
	msg     jetstream.Msg
	futures []jetstream.PubAckFuture
	held    []*broker.OpenBatch // the batches holding some of its deliveries
	trace   trace.SpanContext   // of the event's processing, for log lines
}

// Run consumes events until ctx is done, then stops fetching, routes the
// events already fetched, waits for their deliveries to be confirmed,
// acknowledges the events and returns nil. An event not acknowledged (its
// deliveries not stored) is redelivered to another replica. If consuming
// ends first (the consumer deleted, the connection closed for good) it
// stops the same way and returns why.
func (r *Router) Run(ctx context.Context) error {
	cons, err := broker.Consumer(ctx, r.js, broker.StreamEvents, broker.ConsumerRouter)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return fmt.Errorf("bind consumer: %w", err)
	}
	queue := make(chan pending, r.inFlight)
	var wg sync.WaitGroup
	wg.Go(func() { r.confirm(queue) })
	stopCounts := make(chan struct{})
	wg.Go(func() { r.filters.writeCounts(r.js, r.statsEach, stopCounts) })
	defer func() {
		close(stopCounts)
		wg.Wait()
	}()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if r.health != nil {
		synced := make(chan struct{})
		wg.Go(func() { r.holds.watch(watchCtx, r.health, r.logger, synced) })
		// Route knowing the current holds, but not wait long for them.
		select {
		case <-synced:
		case <-time.After(holdsSyncWait):
		case <-ctx.Done():
		}
	}

	h := &handler{r: r, queue: queue}
	watch := &broker.ConsumeWatch{Consumer: broker.ConsumerRouter, Logger: r.logger}
	cc, err := cons.Consume(h.handle,
		broker.PullLimits(r.js.Conn(), min(r.inFlight, 1000)), jetstream.PullExpiry(broker.PullExpiry), jetstream.PullHeartbeat(broker.PullHeartbeat),
		watch.ErrHandler())
	if err != nil {
		close(queue)
		stopWatch()
		return fmt.Errorf("consume: %w", err)
	}
	stopped := watch.Wait(ctx, cc)
	// Route what was already fetched (a few milliseconds' work) rather than
	// drop it: dropped, it would wait for the ack wait before another
	// replica could take it.
	cc.Drain()
	<-cc.Closed() // the handler has returned for the last time
	close(queue)
	stopWatch() // the hold watcher
	return stopped
}

// confirm waits, in order, for each event's deliveries to be stored, then
// acknowledges the event; if any publish failed the event is redelivered.
// It publishes the held batches it comes to (broker.HeldBatches.Settle).
func (r *Router) confirm(queue <-chan pending) {
	for p := range queue {
		ok := true
		for _, f := range p.futures {
			if err := broker.Stored(f); err != nil {
				ok = false
				r.logger.WarnContext(trace.ContextWithSpanContext(context.Background(), p.trace),
					"delivery not stored; event will be redelivered", "err", err)
			}
		}
		for _, b := range p.held {
			if err := r.batches.Settle(r.js, b); err != nil {
				ok = false
				r.logger.WarnContext(trace.ContextWithSpanContext(context.Background(), p.trace),
					"held deliveries not stored; event will be redelivered", "webhook_id", b.WebhookID(), "err", err)
			}
		}
		if ok {
			_ = p.msg.Ack()
		} else {
			_ = p.msg.NakWithDelay(time.Second)
		}
	}
}

// handler runs on the Consume goroutine only, so it can reuse buffers.
type handler struct {
	r       *Router
	queue   chan<- pending
	matches []*schemas.Webhook
	ev      schemas.Event
	full    []byte
	thin    []byte
	holding []broker.HeldEntry // this event's deliveries for held batches
	heldBuf []byte             // their encodings
}

func (h *handler) handle(msg jetstream.Msg) {
	r := h.r
	// One CONSUMER span per event, continuing the producer's trace; one
	// PRODUCER span per delivery, whose traceparent travels with it.
	ctx, span := telemetry.Start(telemetry.Extract(context.Background(), msg.Headers()), "process "+broker.StreamEvents,
		trace.SpanKindConsumer, func() []attribute.KeyValue {
			return telemetry.Messaging(telemetry.Process, broker.StreamEvents, msg.Subject())
		})
	defer span.End()
	ev := &h.ev
	*ev = schemas.Event{}
	if err := broker.DecodeEvent(msg.Subject(), msg.Headers(), msg.Data(), ev); err != nil {
		r.quarantine(ctx, msg, err.Error())
		return
	}
	validate := schemas.Validate
	if msg.Headers().Get(broker.HeaderValidated) != "" {
		validate = schemas.ValidateEnvelope // the Go producer checked the data whole
	}
	if err := validate(ev); err != nil {
		r.quarantine(ctx, msg, "invalid: "+err.Error())
		return
	}
	h.matches = r.matcher.Match(h.matches[:0], ev.TenantID, ev.Type, ev.OrgID)
	h.full, h.thin = h.full[:0], h.thin[:0]
	var later time.Duration
	if h.matches, later = h.filter(ctx, msg, ev, h.matches); later > 0 {
		// Its tenant's filters have used their share of the router's time:
		// the event comes back when they have saved up again (and is
		// counted then).
		r.deferred.Add(1)
		_ = msg.NakWithDelay(later)
		return
	}
	r.events.Add(1)
	span.SetAttributes(telemetry.EventIDKey.String(ev.ID), telemetry.EventTypeKey.String(ev.Type),
		telemetry.TenantKey.String(ev.TenantID), telemetry.FanOutKey.Int(len(h.matches)))
	if len(h.matches) == 0 {
		r.unmatched.Add(1)
		_ = msg.Ack()
		return
	}
	now := r.now().UTC()
	var eventSeq uint64 // every delivery says where its event is (the delivery log shows it)
	if md, err := msg.Metadata(); err == nil {
		eventSeq = md.Sequence.Stream
	}
	byReference := eventSeq != 0 && len(h.matches) >= r.refFanOut
	futures := make([]jetstream.PubAckFuture, 0, len(h.matches))
	h.holding, h.heldBuf = h.holding[:0], h.heldBuf[:0]
	var active uint64 // deliveries to enabled webhooks; the rest are dead letters
	var nHeld uint64  // of which scheduled for the end of a hold
	for _, w := range h.matches {
		var payload []byte
		switch {
		case byReference && w.Enabled:
			// A reference: the sender renders the event for the webhook.
		case w.IncludePayload:
			if len(h.full) == 0 {
				h.full = schemas.AppendJSON(h.full, ev, true)
			}
			payload = h.full
		default:
			if len(h.thin) == 0 {
				h.thin = schemas.AppendJSON(h.thin, ev, false)
			}
			payload = h.thin
		}
		d := schemas.Delivery{
			ID: schemas.DeliveryID(ev.ID, w.ID), EventID: ev.ID, EventType: ev.Type,
			TenantID: ev.TenantID, OrgID: ev.OrgID, WebhookID: w.ID, CreatedAt: now, Payload: payload, EventSeq: eventSeq,
		}
		var opts []jetstream.PublishOpt
		held := false
		if w.Enabled {
			if at, ok := r.holds.until(ev.TenantID, w.ID, now); ok {
				// Its senders are busy with it until then: schedule it for
				// then rather than have it fetched and queued or sent back.
				d.NotBefore, d.WaitingSince, held = at, now, true
			}
		}
		out, stream, err := deliveryMsg(&d, w, now)
		if err != nil { // cannot happen for these field types
			r.logger.ErrorContext(ctx, "encode delivery", "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		pctx, ps := telemetry.Start(ctx, "send "+stream, trace.SpanKindProducer, func() []attribute.KeyValue {
			return append(telemetry.Messaging(telemetry.Send, stream, out.Subject),
				telemetry.WebhookKey.String(w.ID), telemetry.DeliveryKey.String(d.ID))
		})
		telemetry.Inject(pctx, out.Header)
		if held {
			start := len(h.heldBuf)
			var batched bool
			if h.heldBuf, batched = broker.AppendHeldEntry(h.heldBuf, &broker.HeldDelivery{ID: d.ID, Header: out.Header, Data: out.Data}); batched {
				ps.End()
				h.holding = append(h.holding, broker.HeldEntry{TenantID: ev.TenantID, WebhookID: w.ID, ID: d.ID,
					At: d.NotBefore, Since: now, Data: h.heldBuf[start:]})
				active++
				nHeld++
				continue
			}
			opts = broker.ScheduleDelivery(out, &d)
		}
		f, err := r.js.PublishMsgAsync(out, opts...)
		ps.End()
		if err != nil {
			// Back-pressure or a lost connection: retry the whole event later;
			// deliveries already stored are deduplicated by their id.
			r.logger.WarnContext(ctx, "publish delivery", "event_id", ev.ID, "err", err)
			_ = msg.NakWithDelay(250 * time.Millisecond)
			return
		}
		futures = append(futures, f)
		if w.Enabled {
			active++
		}
		if held {
			nHeld++
		}
	}
	var batches []*broker.OpenBatch
	for _, e := range h.holding {
		b, full := r.batches.Add(e)
		if full {
			r.batches.Publish(r.js, b)
		}
		batches = append(batches, b)
	}
	r.routed.Add(1)
	r.deliveries.Add(active)
	r.parked.Add(uint64(len(futures)+len(h.holding)) - active)
	r.held.Add(nHeld)
	h.queue <- pending{msg: msg, futures: futures, held: batches, trace: span.SpanContext()}
}

// filter keeps the matches whose filter lets ev through (disabled
// webhooks too: what they park for a later replay is only what they want),
// or says after how long the event should come back, when a filter could
// not run now through no fault of its own.
func (h *handler) filter(ctx context.Context, msg jetstream.Msg, ev *schemas.Event, matches []*schemas.Webhook) ([]*schemas.Webhook, time.Duration) {
	f := h.r.filters
	f.next()
	body := func() []byte {
		if len(h.full) == 0 {
			h.full = schemas.AppendJSON(h.full, ev, true)
		}
		return h.full
	}
	mayDefer := true
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > maxDeferrals {
		mayDefer = false
	}
	kept := matches[:0]
	for _, w := range matches {
		ok, later := f.pass(ctx, w, ev, body, mayDefer)
		if later > 0 {
			return nil, later
		}
		if ok {
			kept = append(kept, w)
		}
	}
	return kept, 0
}

// deliveryMsg is the message for d: a delivery for an enabled webhook, or,
// for a disabled one, a dead letter that waits until the webhook is enabled
// and its dead letters replayed, so a disabled webhook misses nothing. Both
// are deduplicated by the delivery id. stream is the one it goes to.
func deliveryMsg(d *schemas.Delivery, w *schemas.Webhook, now time.Time) (msg *nats.Msg, stream string, err error) {
	if !w.Enabled {
		reason := "webhook disabled"
		if w.DisabledReason != "" {
			reason += ": " + w.DisabledReason
		}
		msg, err = broker.DeadLetterMsg(&schemas.DeadLetter{Delivery: *d, Reason: reason, At: now}, d.ID+":disabled")
		return msg, broker.StreamDeadLetters, err
	}
	data, err := schemas.Marshal(nil, d)
	if err != nil {
		return nil, "", err
	}
	return &nats.Msg{
		Subject: broker.DeliverySubject(d.TenantID, d.WebhookID),
		Data:    data,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{d.ID}},
	}, broker.StreamDeliveries, nil
}

// quarantine stores the raw message with the reason in QUARANTINE, then
// acknowledges it so the consumer moves on. If the quarantine write fails the
// message is redelivered later: nothing is dropped silently.
func (r *Router) quarantine(ctx context.Context, msg jetstream.Msg, reason string) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(telemetry.QuarantineKey.Bool(true))
	span.SetStatus(codes.Error, "quarantined")
	const maxReason = 512
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	var seq string
	if md, err := msg.Metadata(); err == nil {
		seq = strconv.FormatUint(md.Sequence.Stream, 10)
	}
	q := &nats.Msg{
		Subject: broker.QuarantineSubject(broker.StreamEvents),
		Data:    msg.Data(),
		Header: nats.Header{
			broker.HeaderReason:      []string{reason},
			broker.HeaderOrigSubject: []string{msg.Subject()},
			broker.HeaderOrigSeq:     []string{seq},
			jetstream.MsgIDHeader:    []string{broker.StreamEvents + ":" + seq},
		},
	}
	if ct := msg.Headers().Get(broker.HeaderContentType); ct != "" {
		q.Header.Set(broker.HeaderContentType, ct)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := r.js.PublishMsg(pctx, q); err != nil {
		r.logger.ErrorContext(ctx, "quarantine failed; will retry", "subject", msg.Subject(), "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	r.quarantined.Add(1)
	r.logger.WarnContext(ctx, "event quarantined", "subject", msg.Subject(), "seq", seq, "reason", reason)
	_ = msg.Ack()
}
