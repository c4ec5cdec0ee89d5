package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
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

// Webhooks resolves the webhook a delivery is for: found is false when the
// webhook was deleted; err is for lookups that failed and may succeed later.
// subscription.Index implements it.
type Webhooks interface {
	Webhook(ctx context.Context, tenantID, id string) (w *schemas.Webhook, found bool, err error)
}

// DefaultRetrySchedule is the wait before each retry, in the spirit of
// Svix: seconds, minutes, then hours, about 27 hours in all. A delivery is
// tried len(DefaultRetrySchedule)+1 times before it is dead-lettered.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// DefaultWorkers is how many attempts a sender makes at once by default.
const DefaultWorkers = 256

// Version is sent in the User-Agent header.
var Version = "dev"

// DefaultMaxRetryAfter caps how long a receiver's Retry-After may delay a
// retry.
const DefaultMaxRetryAfter = time.Hour

// Config configures a Sender.
type Config struct {
	// JS consumes deliveries and publishes attempts and dead letters. Required.
	JS jetstream.JetStream
	// Webhooks resolves webhooks. Required.
	Webhooks Webhooks
	// Workers bounds the attempts in flight: the goroutines making HTTP
	// requests. Optional; default 256.
	Workers int
	// MaxPerEndpoint bounds the attempts in flight to one webhook, so a slow
	// receiver cannot take the workers the others need; deliveries beyond
	// it queue briefly, then come back later. Optional; default 32 (at most
	// Workers/2).
	MaxPerEndpoint int
	// Breaker tunes the per-webhook circuit breaker. Optional.
	Breaker BreakerConfig
	// MaxBroken is how long a delivery may keep being sent back unattempted
	// (its receiver busy, or its circuit open) before it is dead-lettered.
	// Optional; default the retry schedule's total.
	MaxBroken time.Duration
	// Client makes the HTTP attempts; its Timeout must stay below the
	// consumer's AckWait. Optional; default NewClient(ClientConfig{}) sized
	// for Workers.
	Client *Client
	// Shaper makes each delivery's body (transforms), event name and
	// signing secrets. Optional; default NewShaper(ShaperConfig{}).
	Shaper *Shaper
	// RetrySchedule is the wait before each retry (±20% jitter), for
	// webhooks without a schedule of their own. Optional; default
	// DefaultRetrySchedule.
	RetrySchedule []time.Duration
	// MaxRetryAfter caps a receiver's Retry-After (on 429 and 503): the
	// retry waits for the longer of the schedule and Retry-After, at most
	// this. Optional; default DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Store disables webhooks: on 410 Gone, and after DisableAfter of
	// failures. Optional; without it webhooks are never disabled here.
	Store WebhookUpdater
	// Health shares since when a webhook has been failing between sender
	// replicas (the webhook_health bucket). Optional; needed for DisableAfter.
	Health jetstream.KeyValue
	// DisableAfter disables a webhook whose every attempt has failed for
	// this long. Optional; zero never disables for failing.
	DisableAfter time.Duration
	// StatsInterval is how often the per-tenant counts of the console's
	// live view are written. Optional; default StatsInterval.
	StatsInterval time.Duration
	// Logger. Optional; default slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Optional; default time.Now.
	Now func() time.Time
}

// WebhookUpdater changes a stored webhook; subscription.Store implements it.
type WebhookUpdater interface {
	Update(ctx context.Context, tenantID, id string, fn func(*schemas.Webhook) error) (*schemas.Webhook, error)
}

// Stats are the sender's counters since start.
type Stats struct {
	Attempts     uint64
	Delivered    uint64
	Retried      uint64
	DeadLettered uint64
	Dropped      uint64 // deliveries for deleted webhooks
	Disabled     uint64 // webhooks this sender disabled
	SentBack     uint64 // deliveries sent back for later: endpoint busy or circuit open
	Released     uint64 // deliveries unpacked from held batches that came due
	Quarantined  uint64 // undecodable deliveries moved to QUARANTINE
	// TransformFailed counts deliveries dead-lettered because their
	// webhook's transform failed on them (or their signing key is missing).
	TransformFailed uint64
	// TransformDeferred counts deliveries sent back because their
	// tenant's transforms had used their share of the sender's time.
	TransformDeferred uint64
	OpenCircuits      int // endpoints whose circuit is open now
	// ByClass counts attempts by outcome, in the order of StatusClasses.
	ByClass [len(StatusClasses)]uint64
}

// Sender delivers webhooks.
type Sender struct {
	js            jetstream.JetStream
	webhooks      Webhooks
	client        *Client
	shaper        *Shaper
	logger        *slog.Logger
	now           func() time.Time
	workers       int
	schedule      []time.Duration
	maxRetryAfter time.Duration
	store         WebhookUpdater
	health        *health
	payloads      *payloads
	perEndpoint   int
	breaker       BreakerConfig
	maxBroken     time.Duration
	maxBrokenSet  bool // Config.MaxBroken was given: it holds for every webhook
	eps           endpoints
	handoffs      chan handoff       // replaced messages awaiting their replacement's ack
	batches       broker.HeldBatches // deliveries sent back, a batch per webhook
	log           *attemptLog        // attempts waiting to be logged, by webhook
	holds         chan holdWrite     // holds for writeHolds to share; nil without Health
	tstats        tenantStats
	statsInterval time.Duration
	stopping      atomic.Bool
	jobs          sync.Pool

	attempts, delivered, retried, deadLettered, dropped, disabled, sentBack, released, quarantined atomic.Uint64
	transformFailed, transformDeferred                                                             atomic.Uint64
	byClass                                                                                        [len(StatusClasses)]atomic.Uint64
	latency                                                                                        histogram
}

// New returns a Sender. Run starts it.
func New(cfg Config) (*Sender, error) {
	if cfg.JS == nil || cfg.Webhooks == nil {
		return nil, errors.New("sender: Config.JS and Config.Webhooks are required")
	}
	s := &Sender{
		js: cfg.JS, webhooks: cfg.Webhooks, client: cfg.Client, shaper: cfg.Shaper, logger: cfg.Logger, now: cfg.Now,
		workers: cfg.Workers, schedule: cfg.RetrySchedule, maxRetryAfter: cfg.MaxRetryAfter, store: cfg.Store,
	}
	if s.maxRetryAfter <= 0 {
		s.maxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.DisableAfter < 0 {
		return nil, fmt.Errorf("sender: negative DisableAfter %s", cfg.DisableAfter)
	}
	if cfg.DisableAfter > 0 && (cfg.Health == nil || cfg.Store == nil) {
		return nil, errors.New("sender: DisableAfter needs Config.Health and Config.Store")
	}
	if s.workers <= 0 {
		s.workers = DefaultWorkers
	}
	s.perEndpoint = cfg.MaxPerEndpoint
	if s.perEndpoint <= 0 {
		s.perEndpoint = 32
	}
	s.perEndpoint = max(1, min(s.perEndpoint, s.workers/2))
	s.breaker = cfg.Breaker.withDefaults()
	if s.schedule == nil {
		s.schedule = DefaultRetrySchedule
	}
	for _, d := range s.schedule {
		if d < 0 {
			return nil, fmt.Errorf("sender: negative retry delay %s", d)
		}
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.logger = s.logger.With("component", "sender")
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = NewClient(ClientConfig{MaxConnsPerHost: s.workers})
	}
	if s.shaper == nil {
		s.shaper = NewShaper(ShaperConfig{})
	}
	s.health = newHealth(cfg.Health, cfg.DisableAfter, s.now)
	s.statsInterval = cmp.Or(cfg.StatsInterval, StatsInterval)
	s.payloads = newPayloads(s.js)
	s.log = newAttemptLog(s.js, s.logger)
	s.maxBroken, s.maxBrokenSet = cfg.MaxBroken, cfg.MaxBroken > 0
	if !s.maxBrokenSet {
		s.maxBroken = brokenFor(s.schedule)
	}
	s.jobs.New = func() any { return new(job) }
	s.batches.Linger = sendBackLinger
	return s, nil
}

// fetchAhead is how many deliveries per worker the sender asks JetStream
// for at a time (it asks again when half are used). With one per worker
// the senders' consumer stalled for up to a second (see
// broker.PullHeartbeat) in 3 of 22 bench fanout and blackhole runs: the
// stall needs every delivery asked for to be taken while the next request
// is still being sent, and twice as many take twice as long to use. With
// two it stalled in none of 22, with four in none of 22. Fetched deliveries
// wait in the client with their ack timers running: when every worker is
// held by receivers slow to the full timeout, two per worker drain within
// two timeouts (30 s by default), well inside the consumer's AckWait (60
// s); four would reach it.
const fetchAhead = 2

// sendBackLinger is how long a batch of deliveries sent back stays open to
// gather more: a backlog fetched meanwhile goes back in a few messages, not
// in one per fetch. The handoffs queue (4 per worker) waits on it, so a
// sender sends back at most 4×Workers deliveries per linger: 51,000/s at
// the default 256 workers.
const sendBackLinger = 20 * time.Millisecond

// MaxAttempts is how many times a delivery is tried before it is
// dead-lettered, for webhooks without a retry schedule of their own.
func (s *Sender) MaxAttempts() int { return len(s.schedule) + 1 }

// scheduleOf is the retry schedule of wh's deliveries: its own (or its
// profile's), else the sender's.
func (s *Sender) scheduleOf(wh *schemas.Webhook) []time.Duration {
	if sc := s.shaper.Dialect(wh).RetrySchedule; sc != nil {
		return sc
	}
	return s.schedule
}

// brokenFor is how long a delivery may wait unattempted by default: as
// long as its retries would have taken, at least a minute.
func brokenFor(schedule []time.Duration) time.Duration {
	var total time.Duration
	for _, d := range schedule {
		total += d
	}
	return max(total, time.Minute)
}

// maxBrokenOf is MaxBroken for wh: a webhook with a retry schedule of its
// own waits as long as that schedule, unless MaxBroken was configured.
func (s *Sender) maxBrokenOf(wh *schemas.Webhook) time.Duration {
	if s.maxBrokenSet || wh == nil {
		return s.maxBroken
	}
	if own := s.shaper.Dialect(wh).RetrySchedule; own != nil {
		return brokenFor(own)
	}
	return s.maxBroken
}

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	st := Stats{
		Attempts: s.attempts.Load(), Delivered: s.delivered.Load(), Retried: s.retried.Load(),
		DeadLettered: s.deadLettered.Load(), Dropped: s.dropped.Load(), Disabled: s.disabled.Load(),
		SentBack: s.sentBack.Load(), Released: s.released.Load(), Quarantined: s.quarantined.Load(), OpenCircuits: s.openCircuits(),
		TransformFailed: s.transformFailed.Load(), TransformDeferred: s.transformDeferred.Load(),
	}
	for i := range st.ByClass {
		st.ByClass[i] = s.byClass[i].Load()
	}
	return st
}

func (s *Sender) openCircuits() int {
	n := 0
	s.eps.each(func(_ string, e *endpoint) {
		if e.isOpen() {
			n++
		}
	})
	return n
}

// job is one delivery on its way through the sender.
type job struct {
	msg jetstream.Msg
	md  *jetstream.MsgMetadata
	d   schemas.Delivery
	wh  *schemas.Webhook
	ep  *endpoint
	// queued is when it joined its endpoint's queue (zero: it did not).
	queued time.Time
}

func (s *Sender) newJob(msg jetstream.Msg, md *jetstream.MsgMetadata) *job {
	j := s.jobs.Get().(*job)
	j.msg, j.md = msg, md
	return j
}

func (s *Sender) freeJob(j *job) {
	*j = job{}
	s.jobs.Put(j)
}

// Run delivers until ctx is done. One goroutine pulls deliveries and admits
// each to its endpoint; a fixed pool of Workers goroutines makes the
// attempts, so the number of goroutines is set by configuration, not by
// load. On shutdown it stops pulling, lets the attempts in flight finish
// (bounded by the client's timeout), gives every delivery not yet attempted
// back for redelivery, and returns nil. If consuming ends first (the
// consumer deleted, the connection closed for good) it stops the same way
// and returns why.
func (s *Sender) Run(ctx context.Context) error {
	cons, err := broker.Consumer(ctx, s.js, broker.StreamDeliveries, broker.ConsumerSender)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return fmt.Errorf("bind consumer: %w", err)
	}
	// A delivery queued for its endpoint must be attempted within the
	// consumer's AckWait, or another sender gets it too.
	ackWait := 30 * time.Second // JetStream's default
	if info := cons.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		ackWait = info.Config.AckWait
	}
	s.eps.queueWait = queueWaitFor(ackWait, s.client.Timeout())
	s.handoffs = make(chan handoff, 4*s.workers)
	if s.health.kv != nil {
		s.holds = make(chan holdWrite, holdQueue)
	}
	work := make(chan *job)
	// Consume, not Messages: a client that misses two heartbeats (a
	// starved process, a stalled connection) asks again while its earlier
	// request may still stand, and the server then sends up to twice what
	// it asked for. Messages' channel holds one request's worth and drops
	// the rest, each to wait out the AckWait; Consume's subscription
	// buffers them (a request brings at most 8 MiB: broker.PullLimits).
	// The handler waits on the goroutines started below.
	watch := &broker.ConsumeWatch{Consumer: broker.ConsumerSender, Logger: s.logger}
	cc, err := cons.Consume(func(msg jetstream.Msg) { s.fetched(msg, work) },
		broker.PullLimits(s.js.Conn(), fetchAhead*s.workers),
		jetstream.PullExpiry(broker.PullExpiry), jetstream.PullHeartbeat(broker.PullHeartbeat),
		watch.ErrHandler())
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	holdsDone := make(chan struct{})
	if s.holds != nil {
		go func() {
			defer close(holdsDone)
			s.writeHolds(s.holds)
		}()
	} else {
		close(holdsDone)
	}
	confirmed := make(chan struct{})
	go func() {
		defer close(confirmed)
		s.confirm(s.handoffs)
	}()
	var workers sync.WaitGroup
	for range s.workers {
		workers.Go(func() {
			for j := range work {
				s.work(j)
			}
		})
	}
	stopStats, statsDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(statsDone)
		s.writeStats(stopStats)
	}()
	stopLog, logDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(logDone)
		s.log.run(stopLog)
	}()

	stopped := watch.Wait(ctx, cc)
	s.stopping.Store(true)
	cc.Drain() // no more pulls; what is buffered comes to fetched and is given back
	<-cc.Closed()
	close(work)
	workers.Wait()
	close(s.handoffs) // the consumer's handler and the workers are done writing
	<-confirmed
	if s.holds != nil {
		close(s.holds)
	}
	<-holdsDone
	close(stopStats)
	<-statsDone
	close(stopLog) // the workers are done logging
	<-logDone
	select {
	case <-s.js.PublishAsyncComplete(): // the log's last writes are stored
	case <-time.After(logFlushWait):
		s.logger.Warn("delivery log: writes still unconfirmed at shutdown")
	}
	s.eps.each(func(_ string, e *endpoint) {
		for _, j := range e.drain() {
			_ = j.msg.Nak()
			s.freeJob(j)
		}
	})
	return stopped
}

// fetched takes one delivery from the consumer (on its goroutine, one at a
// time): admitted, or given back at once when the sender is stopping.
func (s *Sender) fetched(msg jetstream.Msg, work chan<- *job) {
	if s.stopping.Load() {
		_ = msg.Nak() // buffered but not started: give it back now
		return
	}
	s.admit(msg, work)
}

// lookupTimeout bounds resolving a delivery's webhook and the writes made
// outside an attempt.
const lookupTimeout = 10 * time.Second

// admit decodes a delivery, resolves its webhook and hands it to a worker,
// queues it behind its endpoint's attempts in flight, or sends it back for
// later when the endpoint is busy or its circuit is open, so a broken
// receiver holds neither workers nor consumer slots.
func (s *Sender) admit(msg jetstream.Msg, work chan<- *job) {
	md, err := msg.Metadata()
	if err != nil {
		s.logger.Error("delivery without metadata", "err", err)
		_ = msg.Term()
		return
	}
	if b, ok, err := broker.HeldBatchOf(msg.Headers()); ok {
		if err != nil {
			s.quarantine(msg, md, err.Error())
			return
		}
		s.releaseHeld(msg, md, b)
		return
	}
	j := s.newJob(msg, md)
	if err := schemas.Unmarshal(msg.Data(), &j.d); err != nil {
		s.quarantine(msg, md, "undecodable delivery: "+err.Error())
		s.freeJob(j)
		return
	}
	now := s.now()
	if wait := j.d.NotBefore.Sub(now); wait > 0 {
		// Due a moment from now (schedules fire to the second): wait the
		// rest inside the consumer.
		_ = msg.NakWithDelay(wait)
		s.freeJob(j)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	d := &j.d
	wh, found, err := s.webhooks.Webhook(ctx, d.TenantID, d.WebhookID)
	switch {
	case err != nil:
		s.logger.WarnContext(telemetry.Extract(ctx, msg.Headers()), "resolve webhook; will retry", "webhook_id", d.WebhookID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		s.freeJob(j)
		return
	case !found:
		s.dropped.Add(1)
		s.logger.InfoContext(telemetry.Extract(ctx, msg.Headers()), "delivery dropped: webhook deleted", "delivery_id", d.ID, "webhook_id", d.WebhookID)
		_ = msg.Term()
		s.freeJob(j)
		return
	case !wh.Enabled:
		// Kept for a replay once the webhook is enabled again, with its
		// body: the event may be gone from EVENTS by then.
		j.wh = wh
		if s.inline(ctx, j) {
			s.deadLetter(ctx, msg, md, &schemas.DeadLetter{Delivery: *d, Reason: disabledReason(wh), Attempts: d.Attempts})
		}
		s.freeJob(j)
		return
	}
	j.wh = wh
	ep := s.eps.get(d.TenantID + "." + d.WebhookID)
	j.ep = ep
	tenantID, webhookID := d.TenantID, d.WebhookID // j is a worker's once queued
	adm, at := ep.admit(j, now, s.perEndpoint, 0)
	for adm == admitWait {
		// A fast endpoint with a full queue: wait for room rather than
		// send the delivery round the stream (see fastEndpoint).
		j.ep.waitRoom(at)
		adm, at = j.ep.admit(j, s.now(), s.perEndpoint, 0)
	}
	switch adm {
	case admitNow:
		work <- j // waits for a free worker: back-pressure on the pull
	case admitQueue:
		// A worker finishing an attempt for this endpoint takes it. A
		// queue that keeps the endpoint busy for a while is a hold the
		// routers act on before deliveries are sent back: they are ahead
		// of the senders by as many as the stream holds, and a receiver that
		// never answers fills its queue only after its first burst.
		s.shareHold(ep, tenantID, webhookID, at)
	case admitLater:
		s.sendBack(ctx, j, at)
		s.freeJob(j)
	}
}

// work makes the attempt of j, then of the deliveries queued behind it for
// the same endpoint, as long as the endpoint's circuit lets them.
func (s *Sender) work(j *job) {
	for j != nil {
		if s.stopping.Load() {
			_ = j.msg.Nak()
			j.ep.release()
			s.freeJob(j)
			return
		}
		if !j.queued.IsZero() && s.now().Sub(j.queued) > s.eps.queueWait {
			// Queued longer than its endpoint's latency promised: restart
			// the ack timer so no other sender takes it meanwhile.
			_ = j.msg.InProgress()
		}
		failed, latency := s.attempt(j)
		v := j.ep.done(failed, latency, s.now(), s.perEndpoint, s.breaker)
		if len(v.later) > 0 || v.opened || v.closed {
			ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
			for _, l := range v.later {
				s.sendBack(ctx, l, v.at)
				s.freeJob(l)
			}
			if v.opened || v.closed {
				s.health.circuit(ctx, j.d.TenantID, j.d.WebhookID, v.opened, v.until)
			}
			cancel()
		}
		if v.shorten {
			s.shortenHold(j.d.TenantID, j.d.WebhookID, v.hold)
		}
		s.freeJob(j)
		j = v.next
	}
}

// attempt makes one attempt of j and acts on its outcome. It reports
// whether the outcome counts against the endpoint's circuit, and the
// attempt's latency.
func (s *Sender) attempt(j *job) (failed bool, latency time.Duration) {
	msg, md, d, wh := j.msg, j.md, &j.d, j.wh
	// Each retry is a new message carrying the attempts made before it. A
	// redelivery of this message (a sender stopped or crashed mid-attempt,
	// a lookup failed, a retry arrived early) repeats the same attempt
	// number: only attempts with an outcome move the count on.
	attempt := d.Attempts + 1

	// The attempt's own context: not the Run context, so shutdown lets an
	// attempt in progress finish within the client's timeout. Its CONSUMER
	// span continues the trace the delivery carries.
	ctx, cancel := context.WithTimeout(telemetry.Extract(context.Background(), msg.Headers()), s.client.Timeout()+lookupTimeout)
	defer cancel()
	ctx, span := telemetry.Start(ctx, "process "+broker.StreamDeliveries, trace.SpanKindConsumer, func() []attribute.KeyValue {
		return append(telemetry.Messaging(telemetry.Process, broker.StreamDeliveries, msg.Subject()),
			telemetry.EventIDKey.String(d.EventID), telemetry.EventTypeKey.String(d.EventType),
			telemetry.TenantKey.String(d.TenantID), telemetry.WebhookKey.String(d.WebhookID),
			telemetry.DeliveryKey.String(d.ID), telemetry.AttemptKey.Int(attempt))
	})
	defer span.End()
	if len(d.Payload) == 0 && d.EventSeq != 0 {
		if ok := s.resolvePayload(ctx, j); !ok {
			return false, 0
		}
	}
	at := s.now().UTC()
	out, err := s.shaper.Shape(ctx, wh, d, attempt, at)
	if err != nil {
		s.unshaped(ctx, j, attempt, at, err)
		return false, 0
	}
	res := s.client.Send(ctx, wh, d, at, out)
	s.attempts.Add(1)
	if res.RetryAfter > 0 {
		// The receiver asked to be left alone for a while: not this
		// delivery only, but every one to it (see endpoint.pause).
		j.ep.pause(s.now().Add(s.retryAfter(&res)))
	}
	class := classOf(&res)
	s.byClass[class].Add(1)
	tc := s.tstats.of(d.TenantID)
	tc.byClass[class].Add(1)
	s.latency.observe(res.Latency)
	span.SetAttributes(telemetry.OutcomeKey.String(string(res.Outcome)))
	if res.Outcome != schemas.OutcomeSuccess {
		span.SetStatus(codes.Error, res.Describe())
	}
	rec := NewAttempt(d, wh, attempt, at, &res)
	schedule := s.scheduleOf(wh)
	verdict := s.judge(wh, &res, attempt, len(schedule)+1)
	rec.Final = verdict != retry && verdict != delivered
	s.log.add(&rec)
	d.History = append(d.History, schemas.AttemptSummary{Attempt: attempt, At: at, Outcome: res.Outcome, StatusCode: res.StatusCode, Error: res.Error})

	if verdict == delivered {
		s.delivered.Add(1)
		_ = msg.Ack()
		s.health.succeeded(ctx, d.TenantID, d.WebhookID)
		return false, res.Latency
	}
	dl := &schemas.DeadLetter{Delivery: *d, Attempts: attempt, LastStatus: res.StatusCode, LastError: res.Error}
	switch verdict {
	case gone:
		dl.Reason = "the receiver answered 410 Gone: webhook disabled"
		s.disable(ctx, wh, "the receiver answered 410 Gone", time.Time{})
		s.deadLetter(ctx, msg, md, dl)
		return false, res.Latency
	case clientError:
		dl.Reason = fmt.Sprintf("%s: the webhook dead-letters client errors without retrying", res.Describe())
		s.deadLetter(ctx, msg, md, dl)
		tc.deadLetter.Add(1)
	case exhausted:
		dl.Reason = fmt.Sprintf("gave up after %d attempts: %s", attempt, res.Describe())
		s.deadLetter(ctx, msg, md, dl)
		tc.deadLetter.Add(1)
	case retry:
		s.retry(ctx, msg, md, d, attempt, &res, schedule)
		tc.retried.Add(1)
	}
	if since, disable := s.health.failed(ctx, d.TenantID, d.WebhookID, at); disable {
		s.disable(ctx, wh, fmt.Sprintf("every attempt failed for %s", s.health.after), since)
	}
	return breakerFailure(&res), res.Latency
}

// unshaped deals with a delivery Shape could not make an attempt of. A
// transform that fails on it (or a missing signing key) dead-letters it at
// once, with an attempt in the delivery log that says why: another attempt
// would fail the same way, and a replay after the program is fixed sends
// it. A tenant over its share of transform time sends it back for later;
// anything else is tried again in a moment. None counts as an attempt.
func (s *Sender) unshaped(ctx context.Context, j *job, attempt int, at time.Time, err error) {
	d, wh := &j.d, j.wh
	var (
		over *OverBudgetError
		run  *dialect.RunError
	)
	failed := errors.As(err, &run) && !run.Transient || errors.Is(err, ErrNoSigningKey)
	switch {
	case errors.As(err, &over):
		s.transformDeferred.Add(1)
		s.sendBack(ctx, j, s.now().Add(over.Wait))
		return
	case !failed:
		s.logger.WarnContext(ctx, "delivery not shaped; will retry", "delivery_id", d.ID, "err", err)
		_ = j.msg.NakWithDelay(time.Second)
		return
	}
	reason := err.Error()
	if errors.Is(err, ErrNoSigningKey) {
		reason = "signing key: " + reason
	}
	s.transformFailed.Add(1)
	res := Result{Outcome: schemas.OutcomeError, Error: reason}
	rec := NewAttempt(d, wh, attempt, at, &res)
	rec.Final = true
	s.log.add(&rec)
	d.History = append(d.History, schemas.AttemptSummary{Attempt: attempt, At: at, Outcome: res.Outcome, Error: reason})
	s.tstats.of(d.TenantID).deadLetter.Add(1)
	trace.SpanFromContext(ctx).SetStatus(codes.Error, reason)
	s.deadLetter(ctx, j.msg, j.md, &schemas.DeadLetter{Delivery: *d, Attempts: attempt, Reason: reason, LastError: reason})
}

// resolvePayload renders the event a delivery refers to, for its webhook.
// If the event cannot be read now the delivery is redelivered a little
// later; if EVENTS no longer holds it, it is dead-lettered.
func (s *Sender) resolvePayload(ctx context.Context, j *job) bool {
	d := &j.d
	body, err := s.payloads.get(ctx, d.EventSeq, j.wh.IncludePayload)
	switch {
	case errors.Is(err, errEventGone):
		s.deadLetter(ctx, j.msg, j.md, &schemas.DeadLetter{Delivery: *d, Attempts: d.Attempts, Reason: err.Error()})
		return false
	case err != nil:
		s.logger.WarnContext(ctx, "event not readable; redelivering", "delivery_id", d.ID, "err", err)
		_ = j.msg.NakWithDelay(time.Second)
		return false
	}
	d.Payload = body // retries and dead letters carry it from now on
	return true
}

// inline gives a delivery that refers to its event (a large fan-out) the
// body before it is dead-lettered, so a replay after EVENTS has dropped the
// event still has it. It reports false when it could not, having dealt
// with the message (see resolvePayload).
func (s *Sender) inline(ctx context.Context, j *job) bool {
	if len(j.d.Payload) > 0 || j.d.EventSeq == 0 {
		return true
	}
	return s.resolvePayload(ctx, j)
}

// sendBack returns a delivery that was not attempted (its endpoint was busy
// or broken) to the stream, due at at, without counting an attempt, and
// acknowledges this message. A delivery that has waited so, unattempted,
// for longer than MaxBroken is dead-lettered instead.
func (s *Sender) sendBack(ctx context.Context, j *job, at time.Time) {
	d := &j.d
	now := s.now()
	if !d.WaitingSince.IsZero() && now.Sub(d.WaitingSince) > s.maxBrokenOf(j.wh) {
		if !s.inline(ctx, j) {
			return
		}
		s.deadLetter(ctx, j.msg, j.md, &schemas.DeadLetter{
			Delivery: *d, Attempts: d.Attempts,
			Reason: fmt.Sprintf("not attempted since %s: the receiver stayed busy or unavailable (circuit open)",
				d.WaitingSince.UTC().Format(time.RFC3339)),
		})
		return
	}
	next := *d
	next.NotBefore = at.UTC()
	if next.WaitingSince.IsZero() {
		next.WaitingSince = now.UTC()
	}
	msgID := d.ID + ":b:" + strconv.FormatUint(j.md.Sequence.Stream, 10)
	if at.Sub(now) < time.Second || !s.hold(ctx, j.msg, &next, msgID) {
		s.enqueueThenAck(ctx, j.msg, &next, msgID, time.Second)
	}
	s.sentBack.Add(1)
	s.shareHold(j.ep, d.TenantID, d.WebhookID, at)
}

// hold adds next, which replaces msg, to its webhook's held batch
// (broker.HeldBatches), and has msg acknowledged once the batch is stored
// or redelivered if it is not; false if next is too large to share a batch
// (it must go alone). msgID deduplicates it when the batch is unpacked.
func (s *Sender) hold(ctx context.Context, msg jetstream.Msg, next *schemas.Delivery, msgID string) bool {
	data, err := schemas.Marshal(nil, next)
	if err != nil {
		return false // enqueueThenAck reports it
	}
	h := nats.Header{}
	telemetry.Inject(ctx, h) // the next attempt continues this trace
	entry, ok := broker.AppendHeldEntry(nil, &broker.HeldDelivery{ID: msgID, Header: h, Data: data})
	if !ok {
		return false
	}
	b, full := s.batches.Add(broker.HeldEntry{TenantID: next.TenantID, WebhookID: next.WebhookID, ID: msgID,
		At: next.NotBefore, Since: next.WaitingSince, Data: entry})
	if full {
		s.batches.Publish(s.js, b)
	}
	s.handoffs <- handoff{held: b, msg: msg, deliveryID: next.ID, nakDelay: time.Second}
	return true
}

// enqueueThenAck stores next in DELIVERIES, due at next.NotBefore, and
// acknowledges msg (the message it replaces) once the stream has it; if the
// write fails msg is redelivered after nakDelay instead, so the delivery is
// never lost. A delivery due a second or more away is a scheduled message
// outside the senders' filter (it holds no consumer slot while it waits);
// sooner, it is published at once and waits inside the consumer. msgID
// deduplicates the write should msg be redelivered and handled again.
//
// The write is asynchronous: one goroutine (confirm) awaits the stream's
// answers and acknowledges, so the caller — the fetcher, for deliveries
// sent back — never waits a round trip.
func (s *Sender) enqueueThenAck(ctx context.Context, msg jetstream.Msg, next *schemas.Delivery, msgID string, nakDelay time.Duration) {
	data, err := schemas.Marshal(nil, next)
	if err != nil {
		s.logger.ErrorContext(ctx, "encode delivery", "delivery_id", next.ID, "err", err)
		_ = msg.NakWithDelay(nakDelay)
		return
	}
	m := &nats.Msg{Subject: broker.DeliverySubject(next.TenantID, next.WebhookID), Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{msgID}}}
	telemetry.Inject(ctx, m.Header) // the next attempt continues this trace
	var opts []jetstream.PublishOpt
	if next.NotBefore.Sub(s.now()) >= time.Second {
		opts = broker.ScheduleDelivery(m, next)
	}
	f, err := s.js.PublishMsgAsync(m, opts...)
	if err != nil {
		s.logger.WarnContext(ctx, "delivery not stored; redelivering", "delivery_id", next.ID, "err", err)
		_ = msg.NakWithDelay(nakDelay)
		return
	}
	s.handoffs <- handoff{f: f, msg: msg, deliveryID: next.ID, nakDelay: nakDelay}
}

// handoff is a message replaced by a write, or several, still awaiting
// their acks.
type handoff struct {
	f          jetstream.PubAckFuture
	more       []jetstream.PubAckFuture
	held       *broker.OpenBatch // or the held batch it went into
	msg        jetstream.Msg
	deliveryID string
	nakDelay   time.Duration
}

// confirm acknowledges each replaced message once its replacement is
// stored, in order, until handoffs is closed.
func (s *Sender) confirm(handoffs <-chan handoff) {
	for h := range handoffs {
		var err error
		if h.held != nil {
			err = s.batches.Settle(s.js, h.held)
		} else {
			err = broker.Stored(h.f)
		}
		for _, f := range h.more {
			err = cmp.Or(err, broker.Stored(f))
		}
		if err != nil {
			s.logger.Warn("delivery not stored; redelivering", "delivery_id", h.deliveryID, "err", err)
			_ = h.msg.NakWithDelay(h.nakDelay)
			continue
		}
		_ = h.msg.Ack()
	}
}

// verdict is what to do with a delivery after an attempt.
type verdict int

const (
	delivered   verdict = iota // 2xx
	retry                      // retryable failure, attempts left
	exhausted                  // retryable failure, no attempts left
	gone                       // 410: disable the webhook
	clientError                // 4xx the webhook's policy does not retry
)

// judge classifies an attempt. Timeouts, connection errors, 5xx, 429 and
// 3xx are retried; other 4xx too, unless the webhook dead-letters client
// errors; 410 Gone disables the webhook.
func (s *Sender) judge(wh *schemas.Webhook, res *Result, attempt, maxAttempts int) verdict {
	switch code := res.StatusCode; {
	case res.Outcome == schemas.OutcomeSuccess:
		return delivered
	case code == http.StatusGone:
		return gone
	case wh.DeadLetterClientErrors && code >= 400 && code < 500 &&
		code != http.StatusRequestTimeout && code != http.StatusTooEarly && code != http.StatusTooManyRequests:
		return clientError
	case attempt >= maxAttempts:
		return exhausted
	}
	return retry
}

func disabledReason(wh *schemas.Webhook) string {
	if wh.DisabledReason != "" {
		return "webhook disabled: " + wh.DisabledReason
	}
	return "webhook disabled"
}

// retryAfter is the wait the receiver asked for (Retry-After), within
// MaxRetryAfter.
func (s *Sender) retryAfter(res *Result) time.Duration { return min(res.RetryAfter, s.maxRetryAfter) }

// retry enqueues the next attempt as a new message carrying the attempt count
// and history, due after the schedule's delay (or the receiver's
// Retry-After, within bounds), then acknowledges this one. If the retry
// cannot be stored the message is redelivered and the attempt repeated,
// never lost.
func (s *Sender) retry(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, d *schemas.Delivery, attempt int, res *Result,
	schedule []time.Duration) {
	delay := backoff(schedule, attempt)
	if res.RetryAfter > 0 {
		delay = max(delay, s.retryAfter(res))
	}
	next := *d
	next.Attempts = attempt
	next.NotBefore = s.now().Add(delay).UTC()
	next.WaitingSince = time.Time{} // it was attempted
	msgID := d.ID + ":a" + strconv.Itoa(attempt) + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	s.enqueueThenAck(ctx, msg, &next, msgID, min(delay, 30*time.Second))
	s.retried.Add(1)
}

// backoff returns the wait before the retry that follows attempt (1-based),
// with ±20% jitter.
func backoff(schedule []time.Duration, attempt int) time.Duration {
	if len(schedule) == 0 {
		return 0
	}
	d := schedule[min(attempt, len(schedule))-1]
	if d <= 0 {
		return 0
	}
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return d + jitter
}

// NewAttempt is the delivery-log record of an attempt.
func NewAttempt(d *schemas.Delivery, wh *schemas.Webhook, attempt int, at time.Time, res *Result) schemas.Attempt {
	return schemas.Attempt{
		DeliveryID: d.ID, EventID: d.EventID, EventType: d.EventType, TenantID: d.TenantID, WebhookID: d.WebhookID,
		Attempt: attempt, URL: wh.URL, Outcome: res.Outcome, StatusCode: res.StatusCode, Latency: res.Latency,
		Error: res.Error, Response: res.Response, At: at, EventSeq: d.EventSeq, Encrypted: wh.Encrypted(),
	}
}

// LogAttempt stores a in the delivery log (the ATTEMPTS stream) and returns
// its sequence there.
func LogAttempt(ctx context.Context, js jetstream.JetStream, a *schemas.Attempt) (uint64, error) {
	data, err := schemas.Marshal(nil, a)
	if err != nil {
		return 0, err
	}
	ack, err := js.Publish(ctx, broker.AttemptSubject(a.TenantID, a.WebhookID), data)
	if err != nil {
		return 0, fmt.Errorf("sender: log attempt: %w", err)
	}
	return ack.Sequence, nil
}

// deadLetter stores the delivery in DEADLETTERS, then terminates it. If the
// write fails the delivery is redelivered and the write retried; the write
// is deduplicated by the message's stream sequence.
func (s *Sender) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, dl *schemas.DeadLetter) {
	dl.At = s.now().UTC()
	d := &dl.Delivery
	dm, err := broker.DeadLetterMsg(dl, d.ID+":dl:"+strconv.FormatUint(md.Sequence.Stream, 10))
	if err == nil {
		// The dead-lettering is a PRODUCER span; a replay continues from it.
		pctx, ps := telemetry.Start(ctx, "send "+broker.StreamDeadLetters, trace.SpanKindProducer, func() []attribute.KeyValue {
			return append(telemetry.Messaging(telemetry.Send, broker.StreamDeadLetters, dm.Subject),
				telemetry.WebhookKey.String(d.WebhookID), telemetry.DeliveryKey.String(d.ID),
				attribute.String("hookstream.dead_letter.reason", dl.Reason))
		})
		telemetry.Inject(pctx, dm.Header)
		_, err = s.js.PublishMsg(pctx, dm)
		if err != nil {
			ps.SetStatus(codes.Error, err.Error())
		}
		ps.End()
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "dead letter not stored; will retry", "delivery_id", d.ID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	s.deadLettered.Add(1)
	trace.SpanFromContext(ctx).AddEvent("dead-lettered", trace.WithAttributes(attribute.String("reason", dl.Reason)))
	s.logger.WarnContext(ctx, "delivery dead-lettered", "delivery_id", d.ID, "webhook_id", d.WebhookID, "reason", dl.Reason)
	_ = msg.TermWithReason("dead-lettered")
}

// quarantine moves an undecodable delivery to QUARANTINE with the reason.
func (s *Sender) quarantine(msg jetstream.Msg, md *jetstream.MsgMetadata, reason string) {
	seq := strconv.FormatUint(md.Sequence.Stream, 10)
	q := &nats.Msg{
		Subject: broker.QuarantineSubject(broker.StreamDeliveries),
		Data:    msg.Data(),
		Header: nats.Header{
			broker.HeaderReason:      []string{reason},
			broker.HeaderOrigSubject: []string{msg.Subject()},
			broker.HeaderOrigSeq:     []string{seq},
			jetstream.MsgIDHeader:    []string{broker.StreamDeliveries + ":" + seq},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.js.PublishMsg(ctx, q); err != nil {
		s.logger.ErrorContext(telemetry.Extract(ctx, msg.Headers()), "quarantine failed; will retry", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	s.quarantined.Add(1)
	s.logger.WarnContext(telemetry.Extract(ctx, msg.Headers()), "delivery quarantined", "subject", msg.Subject(), "reason", reason)
	_ = msg.Term()
}
