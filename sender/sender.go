package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/signature"
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
	// Timeout bounds one HTTP attempt, from dial to the end of the response
	// excerpt. It must stay below the consumer's AckWait. Optional; default 15s.
	Timeout time.Duration
	// RetrySchedule is the wait before each retry. Optional; default
	// DefaultRetrySchedule.
	RetrySchedule []time.Duration
	// ResponseExcerpt is how many bytes of a response body are logged.
	// Optional; default 1024.
	ResponseExcerpt int
	// Egress refuses destinations by address at connect time. Optional; the
	// zero policy refuses loopback, private and link-local addresses.
	Egress egress.Policy
	// Client sends the requests. Optional; the default does not follow
	// redirects, keeps connections alive and dials through Egress. A custom
	// client bypasses Egress.
	Client *http.Client
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
	client   *http.Client
	logger   *slog.Logger
	now      func() time.Time
	workers  int
	timeout  time.Duration
	schedule []time.Duration
	excerpt  int

	signers sync.Map // signature.Config -> *signature.Signer
	ciphers sync.Map // base64 key -> *signature.Cipher

	attempts, delivered, retried, deadLettered, dropped atomic.Uint64
}

// New returns a Sender. Run starts it.
func New(cfg Config) (*Sender, error) {
	if cfg.JS == nil || cfg.Webhooks == nil {
		return nil, errors.New("sender: Config.JS and Config.Webhooks are required")
	}
	s := &Sender{
		js: cfg.JS, webhooks: cfg.Webhooks, client: cfg.Client, logger: cfg.Logger, now: cfg.Now,
		workers: cfg.Workers, timeout: cfg.Timeout, schedule: cfg.RetrySchedule, excerpt: cfg.ResponseExcerpt,
	}
	if s.workers <= 0 {
		s.workers = 64
	}
	if s.timeout <= 0 {
		s.timeout = 15 * time.Second
	}
	if s.schedule == nil {
		s.schedule = DefaultRetrySchedule
	}
	for _, d := range s.schedule {
		if d < 0 {
			return nil, fmt.Errorf("sender: negative retry delay %s", d)
		}
	}
	if s.excerpt <= 0 {
		s.excerpt = 1024
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.logger = s.logger.With("component", "sender")
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = NewHTTPClient(s.workers, cfg.Egress)
	}
	return s, nil
}

// NewHTTPClient returns the client senders use by default: keep-alive
// connections sized for the worker pool, every connection checked against
// policy, and redirects returned, not followed.
func NewHTTPClient(workers int, policy egress.Policy) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(workers*2, 100)
	tr.MaxIdleConnsPerHost = max(workers, 16)
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: policy.Control}).DialContext
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
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
		return fmt.Errorf("sender: bind consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(s.workers))
	if err != nil {
		return fmt.Errorf("sender: consume: %w", err)
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
	s       *Sender
	d       schemas.Delivery
	buf     []byte
	excerpt []byte
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
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout+5*time.Second)
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
	res := w.post(ctx, wh, d, at)
	s.attempts.Add(1)
	rec := schemas.Attempt{
		DeliveryID: d.ID, EventID: d.EventID, EventType: d.EventType, TenantID: d.TenantID, WebhookID: d.WebhookID,
		Attempt: attempt, URL: wh.URL, Outcome: res.outcome, StatusCode: res.status, Latency: res.latency,
		Error: res.errMsg, Response: res.excerpt, At: at,
	}
	final := res.outcome != schemas.OutcomeSuccess && attempt >= s.MaxAttempts()
	rec.Final = final
	s.record(ctx, &rec)

	switch {
	case res.outcome == schemas.OutcomeSuccess:
		s.delivered.Add(1)
		_ = msg.Ack()
	case final:
		reason := fmt.Sprintf("gave up after %d attempts: %s", attempt, res.describe())
		s.deadLetter(ctx, msg, d, attempt, res.status, res.errMsg, reason)
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

type result struct {
	outcome schemas.Outcome
	status  int
	latency time.Duration
	errMsg  string
	excerpt string
}

func (r result) describe() string {
	if r.status != 0 {
		return "HTTP " + strconv.Itoa(r.status)
	}
	return r.errMsg
}

func (w *worker) post(ctx context.Context, wh *schemas.Webhook, d *schemas.Delivery, at time.Time) result {
	s := w.s
	signer, err := s.signer(signature.Config(wh.Signature))
	if err != nil {
		return result{outcome: schemas.OutcomeError, errMsg: "signature configuration: " + err.Error()}
	}
	body, contentType, iv := d.Payload, "application/json", ""
	if wh.EncryptionKey != "" {
		c, err := s.cipher(wh.EncryptionKey)
		if err != nil {
			return result{outcome: schemas.OutcomeError, errMsg: "encryption key: " + err.Error()}
		}
		w.buf, iv, err = c.Encrypt(w.buf[:0], d.Payload)
		if err != nil {
			return result{outcome: schemas.OutcomeError, errMsg: err.Error()}
		}
		body, contentType = w.buf, "text/plain; charset=utf-8"
	}
	reqCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return result{outcome: schemas.OutcomeError, errMsg: "bad webhook URL"}
	}
	h := req.Header
	for k, v := range wh.Headers {
		h.Set(k, v)
	}
	h["Content-Type"] = []string{contentType}
	if iv != "" {
		h.Set(signature.IVHeader(signer.Preset()), iv)
	}
	if signer.Preset() == "trutac" {
		h["Tt-Hook-Event"] = []string{d.EventType}
	}
	h["User-Agent"] = []string{"Hookstream/" + Version}
	h["Webhook-Id"] = []string{d.ID}
	h["Webhook-Event-Type"] = []string{d.EventType}
	if err := signer.Sign(h, d.ID, at, body, wh.ActiveSecrets(at)); err != nil {
		return result{outcome: schemas.OutcomeError, errMsg: "sign: " + err.Error()}
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return result{outcome: schemas.OutcomeError, latency: time.Since(start), errMsg: describeErr(err)}
	}
	w.excerpt = w.excerpt[:0]
	n, _ := io.Copy(&capped{buf: &w.excerpt, max: s.excerpt}, io.LimitReader(resp.Body, int64(s.excerpt)))
	if n == int64(s.excerpt) {
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // let the connection be reused
	}
	_ = resp.Body.Close()
	r := result{status: resp.StatusCode, latency: time.Since(start), excerpt: string(w.excerpt)}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		r.outcome = schemas.OutcomeSuccess
	} else {
		r.outcome = schemas.OutcomeFailed
	}
	return r
}

type capped struct {
	buf *[]byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - len(*c.buf)
	*c.buf = append(*c.buf, p[:min(room, len(p))]...)
	return len(p), nil
}

// describeErr turns a transport error into a short message without the URL
// (which may carry credentials in its query).
func describeErr(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return err.Error()
	}
}

func (s *Sender) signer(cfg signature.Config) (*signature.Signer, error) {
	if v, ok := s.signers.Load(cfg); ok {
		return v.(*signature.Signer), nil
	}
	sg, err := signature.New(cfg)
	if err != nil {
		return nil, err
	}
	s.signers.Store(cfg, sg)
	return sg, nil
}

func (s *Sender) cipher(key string) (*signature.Cipher, error) {
	if v, ok := s.ciphers.Load(key); ok {
		return v.(*signature.Cipher), nil
	}
	c, err := signature.NewCipher(key)
	if err != nil {
		return nil, err
	}
	s.ciphers.Store(key, c)
	return c, nil
}

// record logs the attempt to ATTEMPTS and waits for it to be stored.
func (s *Sender) record(ctx context.Context, a *schemas.Attempt) {
	data, err := schemas.Marshal(nil, a)
	if err == nil {
		_, err = s.js.Publish(ctx, broker.AttemptSubject(a.TenantID, a.WebhookID), data)
	}
	if err != nil {
		s.logger.Warn("attempt not logged", "delivery_id", a.DeliveryID, "err", err)
	}
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
