package sender

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/signature"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Timeout bounds one attempt, from dial to the end of the response
	// excerpt. Optional; default 15s.
	Timeout time.Duration
	// ResponseExcerpt is how many bytes of a response body are kept.
	// Optional; default 1024.
	ResponseExcerpt int
	// MaxConnsPerHost sizes the keep-alive pool per receiver host: as many
	// as the attempts that may be in flight to one host, so connections are
	// reused rather than redialed. Optional; default DefaultWorkers.
	MaxConnsPerHost int
	// Egress refuses destinations by address at connect time. Optional; the
	// zero policy refuses loopback, private and link-local addresses.
	Egress egress.Policy
	// HTTP sends the requests. Optional; the default does not follow
	// redirects, keeps connections alive and dials through Egress. A custom
	// client bypasses Egress.
	HTTP *http.Client
}

// Client makes one signed (and, when the webhook says so, encrypted) POST of
// a delivery. The sender's workers use it for every attempt and the API for
// the "Test URL" button, so both send exactly the same request. It is safe
// for concurrent use.
type Client struct {
	http    *http.Client
	timeout time.Duration
	excerpt int

	signers sync.Map // signature.Config -> *signature.Signer
	ciphers sync.Map // base64 key -> *signature.Cipher
	bufs    sync.Pool
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) *Client {
	c := &Client{http: cfg.HTTP, timeout: cfg.Timeout, excerpt: cfg.ResponseExcerpt}
	if c.timeout <= 0 {
		c.timeout = 15 * time.Second
	}
	if c.excerpt <= 0 {
		c.excerpt = 1024
	}
	if c.http == nil {
		c.http = NewHTTPClient(cmp.Or(cfg.MaxConnsPerHost, DefaultWorkers), cfg.Egress)
	}
	c.bufs.New = func() any { return &scratch{} }
	return c
}

// NewHTTPClient returns the client senders use by default: keep-alive
// connections sized for the worker pool, every connection checked against
// policy, and redirects returned, not followed. It never goes through a
// proxy (HTTP_PROXY and the like are ignored): the policy checks the address
// dialed, which must be the receiver's.
func NewHTTPClient(conns int, policy egress.Policy) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns = max(conns*2, 100)
	tr.MaxIdleConnsPerHost = max(conns, 16)
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: policy.Control}).DialContext
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Timeout is the bound of one attempt.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Result is the outcome of one attempt.
type Result struct {
	Outcome    schemas.Outcome
	StatusCode int
	Latency    time.Duration
	// Error says why there was no answer (or why the request could not be
	// made); it never contains the URL, which may carry credentials.
	Error string
	// Response is the start of the response body.
	Response string
	// RetryAfter is the receiver's Retry-After on a 429 or 503, or zero.
	RetryAfter time.Duration
}

// Describe is a short reason: "HTTP 503" or the error.
func (r *Result) Describe() string {
	if r.StatusCode != 0 {
		return "HTTP " + strconv.Itoa(r.StatusCode)
	}
	return r.Error
}

type scratch struct {
	body    []byte
	excerpt []byte
}

// Send POSTs delivery d to webhook wh, signed at time at, and reports the
// outcome. It does not retry.
func (c *Client) Send(ctx context.Context, wh *schemas.Webhook, d *schemas.Delivery, at time.Time) Result {
	signer, err := c.signer(signature.Config(wh.Signature))
	if err != nil {
		return Result{Outcome: schemas.OutcomeError, Error: "signature configuration: " + err.Error()}
	}
	sc := c.bufs.Get().(*scratch)
	defer c.putScratch(sc)

	body, contentType, iv := d.Payload, "application/json", ""
	if wh.EncryptionKey != "" {
		ci, err := c.cipher(wh.EncryptionKey)
		if err != nil {
			return Result{Outcome: schemas.OutcomeError, Error: "encryption key: " + err.Error()}
		}
		sc.body, iv, err = ci.Encrypt(sc.body[:0], d.Payload)
		if err != nil {
			return Result{Outcome: schemas.OutcomeError, Error: err.Error()}
		}
		body, contentType = sc.body, "text/plain; charset=utf-8"
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: schemas.OutcomeError, Error: "bad webhook URL"}
	}
	h := req.Header
	setHeaders(h, wh, d, signer.Preset(), contentType, iv)
	if err := signer.Sign(h, d.ID, at, body, wh.ActiveSecrets(at)); err != nil {
		return Result{Outcome: schemas.OutcomeError, Error: "sign: " + err.Error()}
	}
	// The HTTP CLIENT span; its traceparent goes to the receiver.
	ctx, span := telemetry.Start(reqCtx, http.MethodPost, trace.SpanKindClient, func() []attribute.KeyValue {
		return []attribute.KeyValue{semconv.HTTPRequestMethodPost, semconv.ServerAddress(req.URL.Hostname()), semconv.URLFull(redactURL(req.URL))}
	})
	defer span.End()
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		res := Result{Outcome: schemas.OutcomeError, Latency: time.Since(start), Error: describeErr(err)}
		span.SetStatus(codes.Error, res.Error)
		return res
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, "")
	}
	// The excerpt is read straight into the pooled buffer (no copy buffer).
	sc.excerpt = slices.Grow(sc.excerpt[:0], c.excerpt)[:c.excerpt]
	n, _ := io.ReadFull(resp.Body, sc.excerpt)
	sc.excerpt = sc.excerpt[:n]
	if n == c.excerpt {
		// Read a little more so a small overrun lets the connection be
		// reused; a huge body closes it instead of being read.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	}
	_ = resp.Body.Close()
	r := Result{StatusCode: resp.StatusCode, Latency: time.Since(start), Response: string(sc.excerpt)}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		r.Outcome = schemas.OutcomeSuccess
	default:
		r.Outcome = schemas.OutcomeFailed
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			r.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
	}
	return r
}

func (c *Client) putScratch(sc *scratch) {
	if cap(sc.body) > 256<<10 {
		sc.body = nil // do not pin a huge buffer
	}
	c.bufs.Put(sc)
}

// redactURL is u with only its scheme and host: user info, the query and
// the path may all carry credentials (many receivers put a token in the
// path), so the path is replaced by REDACTED, as the semantic conventions
// allow.
func redactURL(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host}
	if u.Path != "" && u.Path != "/" {
		c.Path = "/REDACTED"
	}
	return c.String()
}

// setHeaders sets every header of a delivery's request but the signature.
func setHeaders(h http.Header, wh *schemas.Webhook, d *schemas.Delivery, preset, contentType, iv string) {
	for k, v := range wh.Headers {
		h.Set(k, v)
	}
	h["Content-Type"] = []string{contentType}
	if iv != "" {
		h.Set(signature.IVHeader(preset), iv)
	}
	if preset == "trutac" {
		h["Tt-Hook-Event"] = []string{d.EventType}
	}
	h["User-Agent"] = []string{"Hookstream/" + Version}
	h["Webhook-Id"] = []string{d.ID}
	h["Webhook-Event-Type"] = []string{d.EventType}
}

// masked stands in for a secret value.
const masked = "••••••"

// RequestHeaders returns the headers of a request to wh for d sent at at, as
// the delivery log shows them: exactly what Send sets, with the signature
// values, the IV and the custom headers' values masked (they may hold
// credentials).
func RequestHeaders(wh *schemas.Webhook, d *schemas.Delivery, at time.Time, encrypted bool) (map[string]string, error) {
	signer, err := signature.New(signature.Config(wh.Signature))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	contentType, iv := "application/json", ""
	if encrypted {
		contentType, iv = "text/plain; charset=utf-8", masked
	}
	setHeaders(h, wh, d, signer.Preset(), contentType, iv)
	before := make(map[string]bool, len(h))
	for k := range h {
		before[k] = true
	}
	if secrets := wh.ActiveSecrets(at); len(secrets) > 0 {
		if err := signer.Sign(h, d.ID, at, nil, secrets); err != nil {
			return nil, err
		}
	}
	out := make(map[string]string, len(h)+1)
	for k, v := range h {
		switch {
		case !before[k] && k != "Webhook-Id" && k != "Webhook-Timestamp":
			out[k] = masked // a signature
		case wh.Headers[k] != "":
			out[k] = masked
		default:
			out[k] = strings.Join(v, ", ")
		}
	}
	out["Traceparent"] = "(the trace of the event)"
	return out, nil
}

// parseRetryAfter reads delay-seconds or an HTTP date; zero when absent or
// malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, 365*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
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
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection closed before a response"
	default:
		return err.Error()
	}
}

func (c *Client) signer(cfg signature.Config) (*signature.Signer, error) {
	if v, ok := c.signers.Load(cfg); ok {
		return v.(*signature.Signer), nil
	}
	sg, err := signature.New(cfg)
	if err != nil {
		return nil, err
	}
	c.signers.Store(cfg, sg)
	return sg, nil
}

func (c *Client) cipher(key string) (*signature.Cipher, error) {
	if v, ok := c.ciphers.Load(key); ok {
		return v.(*signature.Cipher), nil
	}
	ci, err := signature.NewCipher(key)
	if err != nil {
		return nil, err
	}
	c.ciphers.Store(key, ci)
	return ci, nil
}
