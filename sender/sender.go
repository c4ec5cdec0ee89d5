package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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

// DefaultRetrySchedule is the wait before each retry: the delivery is tried
// len(DefaultRetrySchedule)+1 times in all.
var DefaultRetrySchedule = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

// Version is sent in the User-Agent header.
var Version = "dev"

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
	// RetrySchedule is the wait before each retry. Optional; default
	// DefaultRetrySchedule.
	RetrySchedule []time.Duration
	// Logger. Optional; default slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Optional; default time.Now.
	Now func() time.Time
}

// Stats are the sender's counters since start.
type Stats struct {
	Attempts     uint64
	Delivered    uint64
	Retried      uint64
	DeadLettered uint64
	Dropped      uint64 // deliveries for deleted webhooks
}

// Sender delivers webhooks.
type Sender struct {
	js       jetstream.JetStream
	webhooks Webhooks
	client   *Client
	logger   *slog.Logger
	now      func() time.Time
	workers  int
	schedule []time.Duration

	attempts, delivered, retried, deadLettered, dropped atomic.Uint64
}

// New returns a Sender. Run starts it.
func New(cfg Config) (*Sender, error) {
	if cfg.JS == nil || cfg.Webhooks == nil {
		return nil, errors.New("sender: Config.JS and Config.Webhooks are required")
	}
	s := &Sender{
		js: cfg.JS, webhooks: cfg.Webhooks, client: cfg.Client, logger: cfg.Logger, now: cfg.Now,
		workers: cfg.Workers, schedule: cfg.RetrySchedule,
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
	return s, nil
}

// MaxAttempts is how many times a delivery is tried before it is dead-lettered.
func (s *Sender) MaxAttempts() int { return len(s.schedule) + 1 }

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	return Stats{
		Attempts: s.attempts.Load(), Delivered: s.delivered.Load(), Retried: s.retried.Load(),
		DeadLettered: s.deadLettered.Load(), Dropped: s.dropped.Load(),
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
	attempt := int(md.NumDelivered)
	d := &w.d
	*d = schemas.Delivery{}
	if err := schemas.Unmarshal(msg.Data(), d); err != nil {
		s.quarantine(msg, md, "undecodable delivery: "+err.Error())
		return
	}
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
		s.deadLetter(ctx, msg, d, attempt-1, 0, "", "webhook disabled")
		return
	}

	at := s.now().UTC()
	res := s.client.Send(ctx, wh, d, at)
	s.attempts.Add(1)
	rec := NewAttempt(d, wh, attempt, at, &res)
	final := res.Outcome != schemas.OutcomeSuccess && attempt >= s.MaxAttempts()
	rec.Final = final
	s.record(ctx, &rec)

	switch {
	case res.Outcome == schemas.OutcomeSuccess:
		s.delivered.Add(1)
		_ = msg.Ack()
	case final:
		reason := fmt.Sprintf("gave up after %d attempts: %s", attempt, res.Describe())
		s.deadLetter(ctx, msg, d, attempt, res.StatusCode, res.Error, reason)
	default:
		s.retried.Add(1)
		_ = msg.NakWithDelay(s.backoff(attempt))
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
// write fails the delivery is redelivered and the write retried.
func (s *Sender) deadLetter(ctx context.Context, msg jetstream.Msg, d *schemas.Delivery, attempts, lastStatus int, lastErr, reason string) {
	dl := schemas.DeadLetter{Delivery: *d, Reason: reason, Attempts: attempts, LastStatus: lastStatus, LastError: lastErr, At: s.now().UTC()}
	data, err := schemas.Marshal(nil, &dl)
	if err != nil {
		s.logger.Error("encode dead letter", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	md, _ := msg.Metadata()
	dm := &nats.Msg{
		Subject: broker.DeadLetterSubject(d.TenantID, d.WebhookID),
		Data:    data,
		Header: nats.Header{
			jetstream.MsgIDHeader:   []string{d.ID + ":dl:" + strconv.FormatUint(md.Sequence.Stream, 10)},
			broker.HeaderReason:     []string{reason},
			broker.HeaderTenant:     []string{d.TenantID},
			broker.HeaderWebhook:    []string{d.WebhookID},
			broker.HeaderAttempts:   []string{strconv.Itoa(attempts)},
			broker.HeaderLastStatus: []string{strconv.Itoa(lastStatus)},
		},
	}
	if _, err := s.js.PublishMsg(ctx, dm); err != nil {
		s.logger.Error("dead letter not stored; will retry", "delivery_id", d.ID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	s.deadLettered.Add(1)
	s.logger.Warn("delivery dead-lettered", "delivery_id", d.ID, "webhook_id", d.WebhookID, "reason", reason)
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
