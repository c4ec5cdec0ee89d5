package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/signature"
	"github.com/valyala/fasthttp"
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
}

// Client makes one signed (and, when the webhook says so, encrypted) POST of
// a delivery. The sender's workers use it for every attempt and the API for
// the "Test URL" button, so both send exactly the same request. It is safe
// for concurrent use.
type Client struct {
	http    *fasthttp.Client
	timeout time.Duration
	excerpt int

	signers sync.Map // signature.Config -> *signature.Signer
	ciphers sync.Map // base64 key -> *signature.Cipher
	bufs    sync.Pool
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) *Client {
	c := &Client{timeout: cfg.Timeout, excerpt: cfg.ResponseExcerpt}
	if c.timeout <= 0 {
		c.timeout = 15 * time.Second
	}
	if c.excerpt <= 0 {
		c.excerpt = 1024
	}
	c.http = NewHTTPClient(cmp.Or(cfg.MaxConnsPerHost, DefaultWorkers), cfg.Egress)
	c.http.MaxConnWaitTimeout = c.timeout
	c.bufs.New = func() any { return &scratch{header: http.Header{}} }
	return c
}

// Limits of what is read from a receiver.
const (
	// maxResponseHeader bounds a response's status line and headers: a
	// larger one is an error.
	maxResponseHeader = 16 << 10
	// drainLimit is how much of a body past the excerpt is read so the
	// connection can be reused; a larger body closes the connection.
	drainLimit = 64 << 10
)

// NewHTTPClient returns the HTTP client senders use: keep-alive connections
// sized for the worker pool, every connection dialed through policy, bodies
// streamed (only the excerpt is kept), paths sent as given, and redirects
// returned, not followed. It speaks HTTP/1.1 only and never goes through a
// proxy (HTTP_PROXY and the like are ignored): the policy checks the address
// dialed, which must be the receiver's.
//
// It is fasthttp's client, not net/http's: net/http hands every request to
// two goroutines per connection, which cost more CPU per delivery than
// signing, storing and routing it together (docs/BENCHMARKS.md); fasthttp
// writes the request and reads the response in the caller's goroutine.
func NewHTTPClient(conns int, policy egress.Policy) *fasthttp.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: policy.Control}
	return &fasthttp.Client{
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			if timeout <= 0 || timeout > dialer.Timeout {
				timeout = dialer.Timeout // 0: the request has no deadline
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			return dialer.DialContext(ctx, "tcp", addr)
		},
		MaxConnsPerHost:          max(conns, 16),
		MaxConnWaitTimeout:       15 * time.Second,
		ReadBufferSize:           maxResponseHeader,
		StreamResponseBody:       true,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		RetryIfErr:               retryIfStale,
	}
}

// retryIfStale retries an attempt once when the connection closed before
// any of the response came back: most often a kept-alive connection the
// receiver had just closed as idle (Node.js closes them after 5 s). net/http
// retries the same case. The receiver may, rarely, have read the request
// before closing; it then sees the delivery twice, with the same
// webhook-id, which at-least-once delivery allows.
func retryIfStale(_ *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	return false, attempts == 1 && (errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET))
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
	header  http.Header
}

// Send POSTs out, the shaped delivery d (see Shaper), to webhook wh, signed
// at time at, and reports the outcome. It does not retry (but for one stale
// connection, see retryIfStale). The attempt ends at the client's timeout
// or ctx's deadline, whichever is first; cancelling ctx does not end it
// sooner.
func (c *Client) Send(ctx context.Context, wh *schemas.Webhook, d *schemas.Delivery, at time.Time, out Outgoing) Result {
	signer, err := c.signer(signature.Config(wh.Signature))
	if err != nil {
		return Result{Outcome: schemas.OutcomeError, Error: "signature configuration: " + err.Error()}
	}
	sc := c.bufs.Get().(*scratch)
	defer c.putScratch(sc)

	body, contentType, iv := out.Body, "application/json", ""
	if wh.EncryptionKey != "" {
		ci, err := c.cipher(wh.EncryptionKey)
		if err != nil {
			return Result{Outcome: schemas.OutcomeError, Error: "encryption key: " + err.Error()}
		}
		sc.body, iv, err = ci.Encrypt(sc.body[:0], out.Body)
		if err != nil {
			return Result{Outcome: schemas.OutcomeError, Error: err.Error()}
		}
		body, contentType = sc.body, "text/plain; charset=utf-8"
	}
	if !httpURL(wh.URL) {
		return Result{Outcome: schemas.OutcomeError, Error: "bad webhook URL"}
	}
	h := sc.header
	clear(h)
	setHeaders(h, wh, d.ID, out.EventName, signer.Preset(), contentType, iv)
	if err := signer.Sign(h, d.ID, at, body, out.Secrets); err != nil {
		return Result{Outcome: schemas.OutcomeError, Error: "sign: " + err.Error()}
	}
	// The HTTP CLIENT span; its traceparent goes to the receiver.
	ctx, span := telemetry.Start(ctx, http.MethodPost, trace.SpanKindClient, func() []attribute.KeyValue {
		u, err := url.Parse(wh.URL) // only when the span is recorded
		if err != nil {
			return []attribute.KeyValue{semconv.HTTPRequestMethodPost}
		}
		return []attribute.KeyValue{semconv.HTTPRequestMethodPost, semconv.ServerAddress(u.Hostname()), semconv.URLFull(redactURL(u))}
	})
	defer span.End()
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))

	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(wh.URL)
	req.Header.SetMethod(http.MethodPost)
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.SetBodyRaw(body)
	deadline := time.Now().Add(c.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	start := time.Now()
	if err := c.http.DoDeadline(req, resp, deadline); err != nil {
		res := Result{Outcome: schemas.OutcomeError, Latency: time.Since(start), Error: describeErr(err)}
		span.SetStatus(codes.Error, res.Error)
		return res
	}
	status := resp.StatusCode()
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 400 {
		span.SetStatus(codes.Error, "")
	}
	// The body streams in under the same deadline: the excerpt is read
	// into the pooled buffer, a little more is drained so a small overrun
	// lets the connection be reused, and anything longer closes it.
	// (A response with no body, such as a 204, has no stream.)
	sc.excerpt = sc.excerpt[:0]
	if stream := resp.BodyStream(); stream != nil {
		sc.excerpt = slices.Grow(sc.excerpt, c.excerpt)[:c.excerpt]
		n, _ := io.ReadFull(stream, sc.excerpt)
		sc.excerpt = sc.excerpt[:n]
		if n == c.excerpt {
			_, _ = io.CopyN(io.Discard, stream, drainLimit)
		}
		_ = resp.CloseBodyStream()
	}
	r := Result{StatusCode: status, Latency: time.Since(start), Response: string(sc.excerpt)}
	switch {
	case status >= 200 && status < 300:
		r.Outcome = schemas.OutcomeSuccess
	default:
		r.Outcome = schemas.OutcomeFailed
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			r.RetryAfter = parseRetryAfter(string(resp.Header.Peek("Retry-After")), time.Now())
		}
	}
	return r
}

// httpURL reports whether a webhook's URL is absolute http or https (the API
// checked it in full when the webhook was saved; this check costs no
// parsing on every attempt).
func httpURL(s string) bool {
	for _, scheme := range []string{"https://", "http://"} {
		if len(s) > len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return true
		}
	}
	return false
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
func setHeaders(h http.Header, wh *schemas.Webhook, deliveryID, eventName, preset, contentType, iv string) {
	for k, v := range wh.Headers {
		h.Set(k, v)
	}
	h["Content-Type"] = []string{contentType}
	if iv != "" {
		h.Set(signature.IVHeader(preset), iv)
	}
	if preset == "trutac" {
		h["Tt-Hook-Event"] = []string{eventName}
	}
	h["User-Agent"] = []string{"Hookstream/" + Version}
	h["Webhook-Id"] = []string{deliveryID}
	h["Webhook-Event-Type"] = []string{eventName}
}

// masked stands in for a secret value.
const masked = "••••••"

// RequestHeaders returns the headers of a request to wh for delivery
// deliveryID of an event named eventName (for the receiver) sent at at, as
// the delivery log shows them: exactly what Send sets, with the signature
// values, the IV and the custom headers' values masked (they may hold
// credentials).
func RequestHeaders(wh *schemas.Webhook, deliveryID, eventName string, at time.Time, encrypted bool) (map[string]string, error) {
	signer, err := signature.New(signature.Config(wh.Signature))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	contentType, iv := "application/json", ""
	if encrypted {
		contentType, iv = "text/plain; charset=utf-8", masked
	}
	setHeaders(h, wh, deliveryID, eventName, signer.Preset(), contentType, iv)
	before := make(map[string]bool, len(h))
	for k := range h {
		before[k] = true
	}
	// The values are masked: any secret of the scheme names the headers.
	if err := signer.Sign(h, deliveryID, at, nil, []string{signer.NewSecret()}); err != nil {
		return nil, err
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
	var ne net.Error
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, fasthttp.ErrConnectionClosed):
		return "the connection closed before a response"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free connection to the receiver within the timeout"
	case errors.As(err, &small):
		return fmt.Sprintf("the response's headers exceed %d KiB", maxResponseHeader>>10)
	case strings.Contains(err.Error(), "error when reading response headers"):
		// fasthttp's message quotes the receiver's bytes at length.
		return "the response's status line or headers are malformed"
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
