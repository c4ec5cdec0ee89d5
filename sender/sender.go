package sender

import (
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

	"github.com/hookstream/hookstream/internal/broker"
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
	// Workers is the number of concurrent deliveries. Optional; default 64.
	Workers int
	// Client makes the HTTP attempts; its Timeout must stay below the
	// consumer's AckWait. Optional; default NewClient(ClientConfig{}) sized
	// for Workers.
	Client *Client
	// RetrySchedule is the wait before each retry (±20% jitter). Optional;
	// default DefaultRetrySchedule.
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
}

// Sender delivers webhooks.
type Sender struct {
	js            jetstream.JetStream
	webhooks      Webhooks
	client        *Client
	logger        *slog.Logger
	now           func() time.Time
	workers       int
	schedule      []time.Duration
	maxRetryAfter time.Duration
	store         WebhookUpdater
	health        *health

	attempts, delivered, retried, deadLettered, dropped, disabled atomic.Uint64
}

// New returns a Sender. Run starts it.
func New(cfg Config) (*Sender, error) {
	if cfg.JS == nil || cfg.Webhooks == nil {
		return nil, errors.New("sender: Config.JS and Config.Webhooks are required")
	}
	s := &Sender{
		js: cfg.JS, webhooks: cfg.Webhooks, client: cfg.Client, logger: cfg.Logger, now: cfg.Now,
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
		s.workers = 64
	}
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
	s.health = newHealth(cfg.Health, cfg.DisableAfter)
	return s, nil
}

// MaxAttempts is how many times a delivery is tried before it is dead-lettered.
func (s *Sender) MaxAttempts() int { return len(s.schedule) + 1 }

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	return Stats{
		Attempts: s.attempts.Load(), Delivered: s.delivered.Load(), Retried: s.retried.Load(),
		DeadLettered: s.deadLettered.Load(), Dropped: s.dropped.Load(), Disabled: s.disabled.Load(),
	}
}

// Run delivers until ctx is done. Then it stops pulling, lets each worker
// finish the delivery it is sending (bounded by Timeout), hands buffered
// deliveries back for redelivery, and returns nil.
func (s *Sender) Run(ctx context.Context) error {
	cons, err := s.js.Consumer(ctx, broker.StreamDeliveries, broker.ConsumerSender)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return fmt.Errorf("bind consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(s.workers))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	var stopping atomic.Bool
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			w := &worker{s: s}
			for {
				msg, err := it.Next()
				if err != nil {
					if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
						return
					}
					if !errors.Is(err, jetstream.ErrNoHeartbeat) {
						s.logger.Warn("next delivery", "err", err)
					}
					continue
				}
				if stopping.Load() {
					_ = msg.Nak() // buffered but not started: give it back now
					continue
				}
				w.deliver(msg)
			}
		})
	}
	<-ctx.Done()
	stopping.Store(true)
	it.Drain()
	wg.Wait()
	return nil
}

// worker holds per-goroutine buffers.
type worker struct {
	s *Sender
	d schemas.Delivery
}

func (w *worker) deliver(msg jetstream.Msg) {
	s := w.s
	md, err := msg.Metadata()
	if err != nil {
		s.logger.Error("delivery without metadata", "err", err)
		_ = msg.Term()
		return
	}
	d := &w.d
	*d = schemas.Delivery{}
	if err := schemas.Unmarshal(msg.Data(), d); err != nil {
		s.quarantine(msg, md, "undecodable delivery: "+err.Error())
		return
	}
	now := s.now()
	if wait := d.NotBefore.Sub(now); wait > 0 {
		// A retry due a moment from now (schedules fire to the second):
		// wait the rest inside the consumer.
		_ = msg.NakWithDelay(wait)
		return
	}
	// Each retry is a new message carrying the attempts made before it. A
	// redelivery of this message (a sender stopped or crashed mid-attempt,
	// a lookup failed, a retry arrived early) repeats the same attempt
	// number: only attempts with an outcome move the count on.
	attempt := d.Attempts + 1

	// The attempt's own context: not the Run context, so shutdown lets an
	// attempt in progress finish within Timeout.
	ctx, cancel := context.WithTimeout(context.Background(), s.client.Timeout()+5*time.Second)
	defer cancel()
	wh, found, err := s.webhooks.Webhook(ctx, d.TenantID, d.WebhookID)
	switch {
	case err != nil:
		s.logger.Warn("resolve webhook; will retry", "webhook_id", d.WebhookID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	case !found:
		s.dropped.Add(1)
		s.logger.Info("delivery dropped: webhook deleted", "delivery_id", d.ID, "webhook_id", d.WebhookID)
		_ = msg.Term()
		return
	case !wh.Enabled:
		// Kept for a replay once the webhook is enabled again.
		s.deadLetter(ctx, msg, md, &schemas.DeadLetter{Delivery: *d, Reason: disabledReason(wh), Attempts: attempt - 1})
		return
	}

	at := now.UTC()
	res := s.client.Send(ctx, wh, d, at)
	s.attempts.Add(1)
	rec := NewAttempt(d, wh, attempt, at, &res)
	verdict := s.judge(wh, &res, attempt)
	rec.Final = verdict != retry && verdict != delivered
	s.record(ctx, &rec)
	d.History = append(d.History, schemas.AttemptSummary{Attempt: attempt, At: at, Outcome: res.Outcome, StatusCode: res.StatusCode, Error: res.Error})

	if verdict == delivered {
		s.delivered.Add(1)
		_ = msg.Ack()
		s.health.succeeded(ctx, d.TenantID, d.WebhookID)
		return
	}
	dl := &schemas.DeadLetter{Delivery: *d, Attempts: attempt, LastStatus: res.StatusCode, LastError: res.Error}
	switch verdict {
	case gone:
		dl.Reason = "the receiver answered 410 Gone: webhook disabled"
		s.disable(ctx, wh, "the receiver answered 410 Gone", time.Time{})
		s.deadLetter(ctx, msg, md, dl)
		return
	case clientError:
		dl.Reason = fmt.Sprintf("%s: the webhook dead-letters client errors without retrying", res.Describe())
		s.deadLetter(ctx, msg, md, dl)
	case exhausted:
		dl.Reason = fmt.Sprintf("gave up after %d attempts: %s", attempt, res.Describe())
		s.deadLetter(ctx, msg, md, dl)
	case retry:
		s.retry(ctx, msg, md, d, attempt, &res)
	}
	if since, disable := s.health.failed(ctx, d.TenantID, d.WebhookID, at); disable {
		s.disable(ctx, wh, fmt.Sprintf("every attempt failed for %s", s.health.after), since)
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
func (s *Sender) judge(wh *schemas.Webhook, res *Result, attempt int) verdict {
	switch code := res.StatusCode; {
	case res.Outcome == schemas.OutcomeSuccess:
		return delivered
	case code == http.StatusGone:
		return gone
	case wh.DeadLetterClientErrors && code >= 400 && code < 500 &&
		code != http.StatusRequestTimeout && code != http.StatusTooEarly && code != http.StatusTooManyRequests:
		return clientError
	case attempt >= s.MaxAttempts():
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

// retry enqueues the next attempt as a new message carrying the attempt count
// and history, due after the schedule's delay (or the receiver's
// Retry-After, within bounds), then acknowledges this one. A delay of a
// second or more is a scheduled message outside the senders' filter, so a
// waiting retry holds no consumer slot; shorter ones wait inside the
// consumer. If the retry cannot be stored the message is redelivered and
// the attempt repeated, never lost.
func (s *Sender) retry(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, d *schemas.Delivery, attempt int, res *Result) {
	delay := s.backoff(attempt)
	if res.RetryAfter > 0 {
		delay = max(delay, min(res.RetryAfter, s.maxRetryAfter))
	}
	next := *d
	next.Attempts = attempt
	next.NotBefore = s.now().Add(delay).UTC()
	data, err := schemas.Marshal(nil, &next)
	if err != nil {
		s.logger.Error("encode retry", "err", err)
		_ = msg.NakWithDelay(delay)
		return
	}
	target := broker.DeliverySubject(d.TenantID, d.WebhookID)
	m := &nats.Msg{Subject: target, Data: data, Header: nats.Header{
		jetstream.MsgIDHeader: []string{d.ID + ":a" + strconv.Itoa(attempt) + ":" + strconv.FormatUint(md.Sequence.Stream, 10)},
	}}
	var opts []jetstream.PublishOpt
	if delay >= time.Second {
		m.Subject = broker.RetrySubject(d.TenantID, d.WebhookID, schemas.SubjectToken(d.ID))
		opts = append(opts, jetstream.WithScheduleAt(next.NotBefore), jetstream.WithScheduleTarget(target))
	}
	if _, err := s.js.PublishMsg(ctx, m, opts...); err != nil {
		s.logger.Warn("retry not stored; redelivering", "delivery_id", d.ID, "err", err)
		_ = msg.NakWithDelay(min(delay, 30*time.Second))
		return
	}
	s.retried.Add(1)
	if err := msg.DoubleAck(ctx); err != nil {
		// The retry is stored; at worst this message is redelivered and the
		// receiver sees the same webhook-id once more.
		s.logger.Warn("ack after scheduling a retry", "delivery_id", d.ID, "err", err)
	}
}

// backoff returns the wait before the retry that follows attempt (1-based),
// with ±20% jitter.
func (s *Sender) backoff(attempt int) time.Duration {
	if len(s.schedule) == 0 {
		return 0
	}
	d := s.schedule[min(attempt, len(s.schedule))-1]
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
		Error: res.Error, Response: res.Response, At: at,
	}
}

// record logs the attempt to ATTEMPTS and waits for it to be stored.
func (s *Sender) record(ctx context.Context, a *schemas.Attempt) {
	if _, err := LogAttempt(ctx, s.js, a); err != nil {
		s.logger.Warn("attempt not logged", "delivery_id", a.DeliveryID, "err", err)
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
		_, err = s.js.PublishMsg(ctx, dm)
	}
	if err != nil {
		s.logger.Error("dead letter not stored; will retry", "delivery_id", d.ID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	s.deadLettered.Add(1)
	s.logger.Warn("delivery dead-lettered", "delivery_id", d.ID, "webhook_id", d.WebhookID, "reason", dl.Reason)
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
		s.logger.Error("quarantine failed; will retry", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	s.logger.Warn("delivery quarantined", "subject", msg.Subject(), "reason", reason)
	_ = msg.Term()
}
