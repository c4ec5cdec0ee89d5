package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/netutil"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/sender"
	"github.com/hookstream/hookstream/subscription"
)

// Defaults of Config.
const (
	DefaultAddr         = "127.0.0.1:8080"
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxConnections bounds the API's connections by default.
	DefaultMaxConnections = 1024
)

// shutdownTimeout bounds the graceful stop of Run.
const shutdownTimeout = 10 * time.Second

// Config configures a Server. Zero values mean defaults.
type Config struct {
	// Broker is the JetStream connection: its Tenants bucket holds tenants and
	// token hashes, and webhook pings are published on it. Required.
	Broker *broker.Broker
	// Store keeps the webhooks. Required.
	Store subscription.Store
	// Producer publishes POST /v1/events. Required.
	Producer *producer.Producer
	// AdminToken authorizes POST /v1/tenants. Optional; empty disables the
	// admin routes.
	AdminToken string
	// Addr is the address Run listens on. Optional; default DefaultAddr.
	Addr string
	// MaxBodyBytes bounds request bodies; larger ones get 413. Optional;
	// default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxConnections bounds the connections served at once (and so the
	// server's goroutines); more wait to be accepted. Optional; default
	// DefaultMaxConnections.
	MaxConnections int
	// Logger. Optional; default slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Optional; default time.Now.
	Now func() time.Time
	// CheckURL is the destination policy of webhook URLs, called after the
	// URL has been checked to be absolute http or https with a host; its
	// error message is shown to the client. Optional; default accepts any
	// such URL.
	CheckURL func(ctx context.Context, u *url.URL) error
	// Index, when set, is waited on after each webhook write, so that the
	// router in this process matches what the API just answered.
	// subscription.Index implements it. Optional.
	Index interface {
		Sync(ctx context.Context) error
	}
	// Metrics, when set, is served at GET /metrics (Prometheus format).
	// Optional.
	Metrics http.Handler
	// Client sends the test deliveries of POST /v1/webhooks/{id}/test, the
	// same way senders do. Optional; default sender.NewClient with the
	// default (strict) egress policy.
	Client *sender.Client
	// Shaper makes test deliveries' bodies, event names and secrets, and
	// the delivery log's view of what was sent, the same way senders do.
	// Optional; default a sender.Shaper of the API's own, on SigningKeys.
	Shaper *sender.Shaper
	// SigningKeys keeps the tenants' organisation-wide signing keys.
	// Optional; default one on the broker's signing_keys bucket.
	SigningKeys *subscription.SigningKeys
	// Replayer lists and replays the dead letters of GET /v1/dead-letters
	// and POST /v1/dead-letters/replay. Optional; default a Replayer that
	// resolves webhooks through Store.
	Replayer *scheduler.Replayer
	// NextReplay returns when the end-of-day replay runs next after now
	// (scheduler.NextRun with the scheduler's time and zone); dead-letter
	// listings show it as next_replay_at. Optional; without it they show
	// null.
	NextReplay func(now time.Time) time.Time
}

// Server is the management API. Handler serves it; Run listens on Addr.
type Server struct {
	broker     *broker.Broker
	store      subscription.Store
	producer   *producer.Producer
	adminToken string
	addr       string
	maxBody    int64
	maxConns   int
	logger     *slog.Logger
	now        func() time.Time
	checkURL   func(context.Context, *url.URL) error
	client     *sender.Client
	shaper     *sender.Shaper
	keys       *subscription.SigningKeys
	metrics    http.Handler
	index      interface {
		Sync(ctx context.Context) error
	}
	replayer   *scheduler.Replayer
	nextReplay func(time.Time) time.Time

	tokens  *tokenCache
	handler http.Handler
	// previews shares the time of previews' programs among tenants.
	previews *dialect.Budget

	mu        sync.Mutex
	boundAddr string
	listening chan struct{}
	listened  sync.Once
}

// New returns a Server; it does no I/O.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Broker == nil || cfg.Broker.JS == nil || cfg.Broker.Tenants == nil:
		return nil, errors.New("api: Config.Broker is required (connected, with the tenants bucket bound)")
	case cfg.Store == nil:
		return nil, errors.New("api: Config.Store is required")
	case cfg.Producer == nil:
		return nil, errors.New("api: Config.Producer is required")
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("api: Config.MaxBodyBytes is negative (%d)", cfg.MaxBodyBytes)
	}
	s := &Server{
		broker:     cfg.Broker,
		store:      cfg.Store,
		producer:   cfg.Producer,
		adminToken: cfg.AdminToken,
		addr:       cmp.Or(cfg.Addr, DefaultAddr),
		maxBody:    cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		maxConns:   cmp.Or(max(cfg.MaxConnections, 0), DefaultMaxConnections),
		logger:     cfg.Logger,
		now:        cfg.Now,
		checkURL:   cfg.CheckURL,
		client:     cfg.Client,
		shaper:     cfg.Shaper,
		keys:       cfg.SigningKeys,
		index:      cfg.Index,
		metrics:    cfg.Metrics,
		replayer:   cfg.Replayer,
		nextReplay: cfg.NextReplay,
		tokens:     newTokenCache(tokenCacheSize, tokenCacheTTL),
		previews:   dialect.NewBudget(0, 0, nil),
		listening:  make(chan struct{}),
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.logger = s.logger.With("component", "api")
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = sender.NewClient(sender.ClientConfig{})
	}
	if s.keys == nil && cfg.Broker.SigningKeys != nil {
		s.keys = subscription.NewSigningKeys(cfg.Broker.SigningKeys, s.logger)
	}
	if s.shaper == nil {
		sc := sender.ShaperConfig{}
		if s.keys != nil {
			sc.Keys = s.keys
		}
		s.shaper = sender.NewShaper(sc)
	}
	if s.replayer == nil {
		var err error
		s.replayer, err = scheduler.NewReplayer(scheduler.ReplayerConfig{JS: cfg.Broker.JS, Webhooks: storeWebhooks{s.store}, Logger: s.logger})
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the API's HTTP handler, for Run or an httptest.Server.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns the address Run listens on (with the actual port when the
// configured one was 0), or "" when Run is not listening.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.boundAddr
}

// Listening is closed once Run listens; Addr then returns the address.
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Run listens on Config.Addr and serves until ctx is done, then shuts down
// gracefully, waiting at most 10 s for requests in flight. It returns nil on
// a graceful stop and an error when it cannot listen or serve.
func (s *Server) Run(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.addr, err)
	}
	ln = netutil.LimitListener(ln, s.maxConns)
	s.mu.Lock()
	s.boundAddr = ln.Addr().String()
	s.mu.Unlock()
	s.listened.Do(func() { close(s.listening) })
	defer func() {
		s.mu.Lock()
		s.boundAddr = ""
		s.mu.Unlock()
	}()

	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.logger.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	<-served // http.ErrServerClosed once Shutdown has begun
	if err != nil {
		_ = hs.Close()
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// indexSyncTimeout bounds the wait for the subscription index after a write.
const indexSyncTimeout = 2 * time.Second

// syncIndex waits (briefly) until the subscription index has applied the
// webhook writes made so far. The write is stored either way; a slow index
// only means an event published at once might not match it yet.
func (s *Server) syncIndex(ctx context.Context) {
	if s.index == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), indexSyncTimeout)
	defer cancel()
	if err := s.index.Sync(ctx); err != nil {
		s.logger.Warn("subscription index lags the write", "err", err)
	}
}

// handlerFunc is an HTTP handler that returns its error: an *Error is
// answered as is, anything else is logged and answered as a 500 (or a 503
// when NATS is unreachable).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// tenantHandlerFunc is a handlerFunc for an authenticated tenant.
type tenantHandlerFunc func(w http.ResponseWriter, r *http.Request, tenantID string) error

// access says who may call a route.
type access int

const (
	public access = iota // no token
	tenant               // a tenant's token
	admin                // the admin token
)

// route is one entry of the API. The table in routeTable is the single list
// of routes: it builds the mux, and tests hold the OpenAPI document and the
// tenant-isolation checks against it.
type route struct {
	method, path string
	access       access
	h            handlerFunc       // public and admin routes
	t            tenantHandlerFunc // tenant routes
}

func (s *Server) routeTable() []route {
	return []route{
		{method: "GET", path: "/healthz", access: public, h: s.healthz},
		{method: "GET", path: "/readyz", access: public, h: s.readyz},
		{method: "GET", path: "/v1/openapi.json", access: public, h: s.openAPI},
		{method: "GET", path: "/metrics", access: public, h: s.serveMetrics},
		{method: "GET", path: "/console", access: public, h: s.consoleRedirect},
		{method: "GET", path: "/console/", access: public, h: s.console},
		{method: "POST", path: "/v1/tenants", access: admin, h: s.createTenant},
		{method: "GET", path: "/v1/event-types", access: tenant, t: s.listEventTypes},
		{method: "POST", path: "/v1/event-types", access: admin, h: s.createEventType},
		{method: "POST", path: "/v1/webhooks", access: tenant, t: s.createWebhook},
		{method: "GET", path: "/v1/webhooks", access: tenant, t: s.listWebhooks},
		{method: "POST", path: "/v1/webhooks/test", access: tenant, t: s.testURL},
		{method: "GET", path: "/v1/webhooks/{id}", access: tenant, t: s.getWebhook},
		{method: "PATCH", path: "/v1/webhooks/{id}", access: tenant, t: s.patchWebhook},
		{method: "DELETE", path: "/v1/webhooks/{id}", access: tenant, t: s.deleteWebhook},
		{method: "POST", path: "/v1/webhooks/{id}/test", access: tenant, t: s.testWebhook},
		{method: "POST", path: "/v1/webhooks/{id}/rotate-secret", access: tenant, t: s.rotateSecret},
		{method: "GET", path: "/v1/webhooks/{id}/secret", access: tenant, t: s.getWebhookSecret},
		{method: "GET", path: "/v1/webhooks/{id}/attempts", access: tenant, t: s.listAttempts},
		{method: "GET", path: "/v1/webhooks/{id}/attempts/{attempt}", access: tenant, t: s.getAttempt},
		{method: "POST", path: "/v1/webhooks/{id}/attempts/{attempt}/resend", access: tenant, t: s.resendAttempt},
		{method: "GET", path: "/v1/webhooks/{id}/stats", access: tenant, t: s.getWebhookStats},
		{method: "GET", path: "/v1/stats/deliveries", access: tenant, t: s.getDeliveryStats},
		{method: "GET", path: "/v1/dead-letters", access: tenant, t: s.listDeadLetters},
		{method: "POST", path: "/v1/dead-letters/replay", access: tenant, t: s.replayDeadLetters},
		{method: "POST", path: "/v1/events", access: tenant, t: s.publishEvent},
		{method: "GET", path: "/v1/profiles", access: tenant, t: s.listProfiles},
		{method: "GET", path: "/v1/profiles/{name}", access: tenant, t: s.getProfile},
		{method: "POST", path: "/v1/transform/preview", access: tenant, t: s.previewTransform},
		{method: "GET", path: "/v1/signing-key", access: tenant, t: s.getSigningKey},
		{method: "POST", path: "/v1/signing-key/rotate", access: tenant, t: s.rotateSigningKey},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		var h handlerFunc
		switch rt.access {
		case public:
			h = rt.h
		case admin:
			h = s.authAdmin(rt.h)
		case tenant:
			h = s.authTenant(rt.t)
		}
		mux.Handle(rt.method+" "+rt.path, s.serve(h))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			noRoute(mux, w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// noRoute answers a request no pattern matches with the JSON form of what
// the mux would say: 405 (keeping its Allow header) or 404.
func noRoute(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	h, _ := mux.Handler(r)
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed,
			Message: fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path)})
		return
	}
	writeError(w, &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "no such route: " + r.Method + " " + r.URL.Path})
}

// statusRecorder captures what the mux's own 404 and 405 handlers write.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}

// serve adapts h: it bounds the body, answers h's error and turns a panic
// into a logged 500.
func (s *Server) serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel value, compared as net/http does
					panic(v)
				}
				s.logger.Error("panic in handler", "method", r.Method, "route", r.Pattern, "panic", fmt.Sprint(v))
				writeError(w, errInternal)
			}
		}()
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		// A SERVER span continuing the caller's traceparent, if any: an event
		// published with one joins the caller's trace.
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := telemetry.Start(ctx, r.Pattern, trace.SpanKindServer, func() []attribute.KeyValue {
			return []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPRoute(r.Pattern)}
		})
		defer span.End()
		if ctx != r.Context() {
			r = r.WithContext(ctx)
		}
		if err := h(w, r); err != nil {
			span.SetStatus(codes.Error, err.Error())
			s.answer(w, r, err)
		}
	})
}

// answer writes err: an *Error as is; NATS being unreachable as a 503;
// anything else as a logged 500 without details.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
		writeError(w, e)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, errUnavailable)
	case unavailable(err):
		s.logger.Warn("request failed: JetStream unavailable", "method", r.Method, "route", r.Pattern, "err", err)
		writeError(w, errUnavailable)
	default:
		s.logger.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		writeError(w, errInternal)
	}
}

type statusResponse struct {
	Status string `json:"status"`
}

// healthz says the process is alive; it does no I/O.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, statusResponse{Status: "ok"})
	return nil
}

// serveMetrics serves the Prometheus metrics, when the server has them.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.metrics == nil {
		return &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "metrics are served on the ops address (--ops-addr)"}
	}
	s.metrics.ServeHTTP(w, r)
	return nil
}

// readyz says whether JetStream answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.broker.Ready(ctx); err != nil {
		s.logger.Debug("not ready", "err", err)
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "not ready: JetStream does not answer"})
		return nil
	}
	writeJSON(w, http.StatusOK, statusResponse{Status: "ok"})
	return nil
}
