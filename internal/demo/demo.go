package demo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/signature"
)

// Names of the demo's webhooks; a restart finds its webhooks by them.
const (
	ReceiverWebhookName = "Demo: sample receiver"
	FailingWebhookName  = "Demo: failing endpoint"
)

// DefaultEventInterval is the pause between two simulated events: a few
// events a second.
const DefaultEventInterval = 350 * time.Millisecond

// RetrySchedule is the senders' retry schedule `hookstream dev --demo` uses
// unless one is given: short, so the failing endpoint's deliveries reach the
// dead letters within seconds.
var RetrySchedule = []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second}

// Config configures a Demo. Zero values mean defaults.
type Config struct {
	// API is the base URL of the running REST API, such as
	// "http://127.0.0.1:8080". Required.
	API string
	// Token is the API token of the tenant the demo plays. Required.
	Token string
	// TenantID is that tenant's id; the simulated events are published for
	// it. Required.
	TenantID string
	// Producer publishes the simulated syncs. Required.
	Producer *producer.Producer
	// EventInterval is the pause between two events. Optional; default
	// DefaultEventInterval.
	EventInterval time.Duration
	// FailureRate is the share of sync sessions that end in sync.failed.
	// Optional; default 0.15.
	FailureRate float64
	// Client calls the API. Optional; default a client with a 30 s timeout.
	Client *http.Client
	// Logger. Optional; default slog.Default().
	Logger *slog.Logger
}

// Info says what Run set up.
type Info struct {
	// ReceiverURL is the sample receiver; ReceiverWebhookID delivers to it
	// every event ("*").
	ReceiverURL, ReceiverWebhookID string
	// FailingURL always answers 503; FailingWebhookID delivers sync.* to it.
	FailingURL, FailingWebhookID string
	// Orgs are the organisations whose syncs are simulated.
	Orgs []string
}

// Counts are what the demo's endpoints have received.
type Counts struct {
	// Verified and Rejected count the sample receiver's deliveries whose
	// signature did and did not verify.
	Verified, Rejected int
	// Failed counts the requests the failing endpoint answered with 503.
	Failed int
	// Types counts verified deliveries by event type.
	Types map[string]int
	// Sessions counts the sync sessions published, Finished those that
	// ended (completed or failed).
	Sessions, Finished int
}

// Demo is a simulated HRMS sync and two endpoints. Run it once.
type Demo struct {
	cfg    Config
	client *http.Client
	logger *slog.Logger

	ready chan struct{}
	info  Info

	mu     sync.Mutex
	counts Counts
}

// New checks cfg and returns a Demo; it does no I/O.
func New(cfg Config) (*Demo, error) {
	switch {
	case cfg.API == "":
		return nil, errors.New("demo: Config.API is required")
	case cfg.Token == "":
		return nil, errors.New("demo: Config.Token is required")
	case cfg.TenantID == "":
		return nil, errors.New("demo: Config.TenantID is required")
	case cfg.Producer == nil:
		return nil, errors.New("demo: Config.Producer is required")
	case cfg.EventInterval < 0 || cfg.FailureRate < 0 || cfg.FailureRate > 1:
		return nil, errors.New("demo: Config.EventInterval must not be negative and FailureRate must be from 0 to 1")
	}
	cfg.API = strings.TrimSuffix(cfg.API, "/")
	cfg.EventInterval = cmp.Or(cfg.EventInterval, DefaultEventInterval)
	if cfg.FailureRate == 0 {
		cfg.FailureRate = 0.15
	}
	d := &Demo{cfg: cfg, client: cfg.Client, logger: cfg.Logger, ready: make(chan struct{}), counts: Counts{Types: map[string]int{}}}
	if d.client == nil {
		d.client = &http.Client{Timeout: 30 * time.Second}
	}
	if d.logger == nil {
		d.logger = slog.Default()
	}
	d.logger = d.logger.With("component", "demo")
	return d, nil
}

// Ready is closed once Run has started the endpoints and set up the
// webhooks; Info then says what they are.
func (d *Demo) Ready() <-chan struct{} { return d.ready }

// Info says what Run set up; valid once Ready is closed.
func (d *Demo) Info() Info { return d.info }

// Counts returns what the endpoints have received so far.
func (d *Demo) Counts() Counts {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.counts
	c.Types = make(map[string]int, len(d.counts.Types))
	for k, v := range d.counts.Types {
		c.Types[k] = v
	}
	return c
}

// Run starts the endpoints, sets up their webhooks, and publishes sync
// sessions until ctx is done; then it stops the endpoints and returns nil.
// It returns an error when it cannot set up.
func (d *Demo) Run(ctx context.Context) error {
	rcv, err := d.startReceiver(ctx)
	if err != nil {
		return err
	}
	defer rcv.close()
	failing, err := startFailing(ctx, d)
	if err != nil {
		return err
	}
	defer failing.close()

	d.info = Info{ReceiverURL: rcv.url + "/webhooks", FailingURL: failing.url + "/webhooks", Orgs: orgIDs()}
	if d.info.ReceiverWebhookID, err = d.ensureWebhook(ctx, ReceiverWebhookName, d.info.ReceiverURL, []string{"*"}, rcv.setSecret); err != nil {
		return err
	}
	if d.info.FailingWebhookID, err = d.ensureWebhook(ctx, FailingWebhookName, d.info.FailingURL, []string{"sync.*"}, nil); err != nil {
		return err
	}
	close(d.ready)
	d.logger.Info("demo running", "receiver_webhook", d.info.ReceiverWebhookID, "failing_webhook", d.info.FailingWebhookID)
	d.simulate(ctx)
	return nil
}

// webhook is what the demo reads of the API's webhooks.
type webhook struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Signature signature.Config `json:"signature"`
	Secret    string           `json:"secret"`
}

// ensureWebhook creates the webhook called name, or takes over the one a
// previous run created: it points it at url, enables it and gives it a new
// secret (the old run's endpoint is gone, and the secret is shown only once).
// setSecret, when not nil, learns the scheme and the secret before any
// delivery is signed with it.
func (d *Demo) ensureWebhook(ctx context.Context, name, url string, events []string, setSecret func(signature.Config, string) error) (string, error) {
	var list struct {
		Data []webhook `json:"data"`
	}
	if err := d.call(ctx, http.MethodGet, "/v1/webhooks", nil, &list); err != nil {
		return "", err
	}
	for _, w := range list.Data {
		if w.Name != name {
			continue
		}
		secret, err := newSecret(w.Signature)
		if err != nil {
			return "", err
		}
		if setSecret != nil {
			if err := setSecret(w.Signature, secret); err != nil {
				return "", err
			}
		}
		if err := d.call(ctx, http.MethodPost, "/v1/webhooks/"+w.ID+"/rotate-secret", map[string]any{"secret": secret, "grace_period": "0s"}, nil); err != nil {
			return "", err
		}
		if err := d.call(ctx, http.MethodPatch, "/v1/webhooks/"+w.ID, map[string]any{"url": url, "enabled": true}, nil); err != nil {
			return "", err
		}
		return w.ID, nil
	}
	secret, err := newSecret(signature.Config{})
	if err != nil {
		return "", err
	}
	if setSecret != nil {
		if err := setSecret(signature.Config{}, secret); err != nil {
			return "", err
		}
	}
	var created webhook
	err = d.call(ctx, http.MethodPost, "/v1/webhooks", map[string]any{"name": name, "url": url, "events": events, "secret": secret}, &created)
	return created.ID, err
}

// newSecret returns a fresh secret fit for scheme.
func newSecret(scheme signature.Config) (string, error) {
	signer, err := signature.New(scheme)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return signer.NewSecret(), nil
}

// call makes an API request with the tenant's token and decodes the answer
// into out (when not nil).
func (d *Demo) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.cfg.API+path, rd)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+d.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("demo: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("demo: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("demo: %s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("demo: %s %s: %w", method, path, err)
		}
	}
	return nil
}
