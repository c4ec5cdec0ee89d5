package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/catalog"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/service"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/router"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
	"github.com/hookstream/hookstream/subscription"
)

// Roles selects which components run.
type Roles struct {
	API, Router, Sender, Scheduler bool
}

// AllRoles runs everything (hookstream dev).
var AllRoles = Roles{API: true, Router: true, Sender: true, Scheduler: true}

// Config configures a Pipeline.
type Config struct {
	// Broker is the JetStream connection. Required.
	Broker *broker.Broker
	// Roles to run. Optional; zero means AllRoles.
	Roles Roles
	// API configures the management API; Broker, Store and Producer are filled
	// in. Optional.
	API api.Config
	// Sender configures the sender pool; JS and Webhooks are filled in. Optional.
	Sender sender.Config
	// Router configures the router; JS and Matcher are filled in. Optional.
	Router router.Config
	// Scheduler configures the end-of-day replay; JS, Runs and Replayer are
	// filled in. Its At and Location also give the API's next_replay_at.
	// Optional.
	Scheduler scheduler.Config
	// Client configures the HTTP client of the senders and of the API's test
	// sends; Egress and MaxConnsPerHost are filled in. Optional.
	Client sender.ClientConfig
	// Egress is the destination policy: the API checks webhook URLs against
	// it when they are saved, and the client when it dials. Optional; the
	// zero policy refuses loopback, private and link-local addresses.
	Egress egress.Policy
	// Logger. Optional; default slog.Default().
	Logger *slog.Logger
}

// Pipeline is a wired set of components.
type Pipeline struct {
	Index *subscription.Index
	// Keys are the tenants' signing keys, watched for the senders.
	Keys     *subscription.SigningKeys
	Catalog  *catalog.Watcher
	Store    *subscription.KVStore
	Producer *producer.Producer
	Router   *router.Router
	Sender   *sender.Sender
	API      *api.Server
	// Scheduler runs the end-of-day replay (with the Scheduler role).
	Scheduler *scheduler.Scheduler
	// Replayer lists and replays dead letters (with the API or the
	// Scheduler role); the API and the scheduler share it.
	Replayer *scheduler.Replayer

	runners []service.Named
}

// New builds the components; Run starts them.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Broker == nil {
		return nil, errors.New("pipeline: Config.Broker is required")
	}
	if cfg.Roles == (Roles{}) {
		cfg.Roles = AllRoles
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	b := cfg.Broker
	// One compiler for the process: the index compiles each webhook's
	// programs as it loads it, and the router, the senders and the API
	// use those copies.
	dialects := dialect.NewCompiler()
	p := &Pipeline{
		Index:   subscription.NewIndex(b.Webhooks, logger),
		Catalog: catalog.NewWatcher(b.EventTypes, logger),
		Store:   subscription.NewKVStore(b.Webhooks),
	}
	p.Index.OnLoad(func(w *schemas.Webhook) {
		if d := dialects.For(w); d.Err != nil {
			logger.Warn("webhook's programs do not compile; its deliveries will be dead-lettered", "tenant", w.TenantID,
				"webhook_id", w.ID, "err", d.Err)
		}
	})
	p.Keys = subscription.NewSigningKeys(b.SigningKeys, logger)
	shaper := sender.NewShaper(sender.ShaperConfig{Dialects: dialects, Keys: p.Keys})
	cc := cfg.Client
	cc.Egress = cfg.Egress
	cc.MaxConnsPerHost = cmp.Or(cc.MaxConnsPerHost, cfg.Sender.Workers, sender.DefaultWorkers)
	client := sender.NewClient(cc)
	var err error
	if p.Producer, err = producer.New(producer.Config{JS: b.JS}); err != nil {
		return nil, err
	}
	p.runners = append(p.runners,
		service.Named{Name: "subscription index", Runner: p.Index},
		service.Named{Name: "event catalog", Runner: p.Catalog})
	if cfg.Roles.Sender {
		p.runners = append(p.runners, service.Named{Name: "signing keys", Runner: p.Keys})
	}
	if cfg.Roles.Router {
		rc := cfg.Router
		rc.JS, rc.Matcher, rc.Health, rc.Dialects = b.JS, p.Index, b.Health, dialects
		rc.Logger = cmpLogger(rc.Logger, logger)
		if p.Router, err = router.New(rc); err != nil {
			return nil, err
		}
		p.runners = append(p.runners, service.Named{Name: "router", Runner: p.afterReady(p.Router)})
	}
	if cfg.Roles.Sender {
		sc := cfg.Sender
		sc.JS, sc.Webhooks, sc.Client, sc.Store, sc.Health, sc.Shaper = b.JS, p.Index, client, p.Store, b.Health, shaper
		sc.Logger = cmpLogger(sc.Logger, logger)
		if p.Sender, err = sender.New(sc); err != nil {
			return nil, err
		}
		p.runners = append(p.runners, service.Named{Name: "sender", Runner: p.afterReady(p.Sender)})
	}
	if cfg.Roles.API || cfg.Roles.Scheduler {
		if p.Replayer, err = scheduler.NewReplayer(scheduler.ReplayerConfig{
			JS: b.JS, Webhooks: p.Index, Clock: cfg.Scheduler.Clock, Logger: cmpLogger(cfg.Scheduler.Logger, logger),
		}); err != nil {
			return nil, err
		}
	}
	if cfg.Roles.Scheduler {
		sc := cfg.Scheduler
		sc.JS, sc.Runs, sc.Replayer = b.JS, b.Scheduler, p.Replayer
		sc.Logger = cmpLogger(sc.Logger, logger)
		if p.Scheduler, err = scheduler.New(sc); err != nil {
			return nil, err
		}
		p.runners = append(p.runners, service.Named{Name: "scheduler", Runner: p.afterReady(p.Scheduler)})
	}
	if cfg.Roles.API {
		ac := cfg.API
		ac.Broker, ac.Store, ac.Producer, ac.Client, ac.Index, ac.Shaper = b, p.Store, p.Producer, client, p.Index, shaper
		ac.SigningKeys = p.Keys
		ac.Replayer = p.Replayer
		if ac.NextReplay == nil {
			if ac.NextReplay, err = nextReplay(cfg.Scheduler); err != nil {
				return nil, err
			}
		}
		if ac.CheckURL == nil {
			ac.CheckURL = cfg.Egress.CheckURL
		}
		ac.Logger = cmpLogger(ac.Logger, logger)
		if p.API, err = api.New(ac); err != nil {
			return nil, err
		}
		p.runners = append(p.runners, service.Named{Name: "api", Runner: p.API})
	}
	return p, nil
}

// Run runs the components until ctx is done or one fails, then drains them.
func (p *Pipeline) Run(ctx context.Context) error {
	return service.Group(ctx, p.runners...)
}

// Ready is closed once the subscription index and the event catalog have
// loaded.
func (p *Pipeline) Ready() <-chan struct{} {
	ready := make(chan struct{})
	go func() {
		<-p.Index.Ready()
		<-p.Catalog.Ready()
		close(ready)
	}()
	return ready
}

// afterReady starts r once the subscription index and the catalog have
// loaded, so the router never routes (or quarantines as unknown) against a
// half-loaded view.
func (p *Pipeline) afterReady(r service.Runner) service.Runner {
	return service.RunnerFunc(func(ctx context.Context) error {
		for _, ready := range []<-chan struct{}{p.Index.Ready(), p.Catalog.Ready()} {
			select {
			case <-ctx.Done():
				return nil
			case <-ready:
			case <-time.After(time.Minute):
				return fmt.Errorf("subscriptions or event types not loaded after a minute")
			}
		}
		return r.Run(ctx)
	})
}

// nextReplay is the end-of-day schedule of sc, for the API.
func nextReplay(sc scheduler.Config) (func(time.Time) time.Time, error) {
	at, err := scheduler.ParseTimeOfDay(cmp.Or(sc.At, scheduler.DefaultAt))
	if err != nil {
		return nil, err
	}
	loc := sc.Location
	if loc == nil {
		loc = time.UTC
	}
	return func(now time.Time) time.Time { return scheduler.NextRun(now, at, loc) }, nil
}

func cmpLogger(a, b *slog.Logger) *slog.Logger {
	if a != nil {
		return a
	}
	return b
}

// Handler returns the API's HTTP handler, or nil without the API role.
func (p *Pipeline) Handler() http.Handler {
	if p.API == nil {
		return nil
	}
	return p.API.Handler()
}
