package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/schemas"
)

// ErrExists means the catalog already has a type of that name.
var ErrExists = errors.New("catalog: event type exists")

// Add validates t, stores it in the bucket and registers it in this process.
// ErrExists when the name is taken (built in or added before).
func Add(ctx context.Context, kv jetstream.KeyValue, t schemas.EventType) error {
	if _, ok := schemas.LookupType(t.Name); ok {
		return ErrExists
	}
	if err := schemas.Check(t); err != nil {
		return err
	}
	raw, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("catalog: encode: %w", err)
	}
	if _, err := kv.Create(ctx, t.Name, raw); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ErrExists
		}
		return fmt.Errorf("catalog: store %s: %w", t.Name, err)
	}
	if err := schemas.Register(t); err != nil {
		if _, ok := schemas.LookupType(t.Name); ok {
			return nil // the watcher got there first
		}
		return err
	}
	return nil
}

// Watcher keeps this process's catalog in step with the bucket.
type Watcher struct {
	kv     jetstream.KeyValue
	logger *slog.Logger
	ready  chan struct{}
}

// NewWatcher returns a watcher of kv (broker.BucketEventTypes).
func NewWatcher(kv jetstream.KeyValue, logger *slog.Logger) *Watcher {
	if logger == nil {
		logger = slog.Default()
	}
	return &Watcher{kv: kv, logger: logger.With("component", "catalog"), ready: make(chan struct{})}
}

// Ready is closed once every stored type is registered.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Run registers every stored type, then each new one, until ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	kw, err := w.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("catalog: watch: %w", err)
	}
	defer func() { _ = kw.Stop() }()
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-kw.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("catalog: watch closed")
			}
			if e == nil {
				if initial {
					initial = false
					close(w.ready)
				}
				continue
			}
			w.register(e)
		}
	}
}

func (w *Watcher) register(e jetstream.KeyValueEntry) {
	var t schemas.EventType
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		w.logger.Error("skip undecodable event type", "key", e.Key(), "err", err)
		return
	}
	if _, ok := schemas.LookupType(t.Name); ok {
		return
	}
	if err := schemas.Register(t); err != nil {
		w.logger.Error("skip invalid event type", "type", t.Name, "err", err)
		return
	}
	w.logger.Info("event type added", "type", t.Name)
}
