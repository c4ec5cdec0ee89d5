package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/schemas"
)

// SigningKeys keeps tenants' organisation-wide signing keys in the
// signing_keys bucket (key: the tenant id, value: the msgpack of
// schemas.SigningKey). Run keeps a live view of the bucket for the senders,
// which look a key up for every delivery of a webhook that signs with it;
// without Run every lookup reads the bucket. It is safe for concurrent use.
type SigningKeys struct {
	kv     jetstream.KeyValue
	logger *slog.Logger
	view   atomic.Pointer[map[string]*schemas.SigningKey] // nil until Run has loaded the bucket
}

// NewSigningKeys returns the keys of the bucket kv (broker.BucketSigningKeys).
func NewSigningKeys(kv jetstream.KeyValue, logger *slog.Logger) *SigningKeys {
	if logger == nil {
		logger = slog.Default()
	}
	return &SigningKeys{kv: kv, logger: logger}
}

// Run watches the bucket until ctx is done; it returns nil then.
func (k *SigningKeys) Run(ctx context.Context) error {
	w, err := k.kv.WatchAll(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("subscription: watch signing keys: %w", err)
	}
	defer func() { _ = w.Stop() }()
	loading := map[string]*schemas.SigningKey{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("subscription: signing keys watch closed")
			}
			cur := loading
			if v := k.view.Load(); v != nil {
				cur = maps.Clone(*v) // a snapshot readers may hold is never changed
			}
			if e == nil { // the bucket is loaded
				k.view.Store(&cur)
				continue
			}
			switch e.Operation() {
			case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
				delete(cur, e.Key())
			default:
				key := new(schemas.SigningKey)
				if err := schemas.Unmarshal(e.Value(), key); err != nil {
					k.logger.Error("subscription: skip undecodable signing key", "tenant", e.Key(), "err", err)
					continue
				}
				cur[e.Key()] = key
			}
			if k.view.Load() != nil {
				k.view.Store(&cur)
			}
		}
	}
}

// SigningKey returns the tenant's signing key; found is false when it has
// none. The view may lag a write by a moment, so a miss is confirmed
// against the bucket.
func (k *SigningKeys) SigningKey(ctx context.Context, tenantID string) (*schemas.SigningKey, bool, error) {
	if v := k.view.Load(); v != nil {
		if key, ok := (*v)[tenantID]; ok {
			return key, true, nil
		}
	}
	key, _, err := k.get(ctx, tenantID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return key, true, nil
}

func (k *SigningKeys) get(ctx context.Context, tenantID string) (*schemas.SigningKey, uint64, error) {
	if !schemas.ValidKey(tenantID) {
		return nil, 0, ErrNotFound
	}
	e, err := k.kv.Get(ctx, tenantID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("subscription: get signing key: %w", err)
	}
	key := new(schemas.SigningKey)
	if err := schemas.Unmarshal(e.Value(), key); err != nil {
		return nil, 0, err
	}
	return key, e.Revision(), nil
}

// Ensure returns the tenant's signing key, creating it with secret() when
// it has none; created says which.
func (k *SigningKeys) Ensure(ctx context.Context, tenantID string, secret func() string, now time.Time) (key *schemas.SigningKey, created bool, err error) {
	for range 5 {
		key, _, err = k.get(ctx, tenantID)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return key, false, err
		}
		key = &schemas.SigningKey{TenantID: tenantID, Secrets: schemas.Secrets{{Value: secret()}}, CreatedAt: now.UTC()}
		b, err := schemas.Marshal(nil, key)
		if err != nil {
			return nil, false, err
		}
		if _, err = k.kv.Create(ctx, tenantID, b); err == nil {
			return key, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, false, fmt.Errorf("subscription: create signing key: %w", err)
		}
		// Created meanwhile: read it.
	}
	return nil, false, ErrConflict
}

// Rotate makes secret the tenant's current signing key; the one it
// replaces keeps signing beside it for grace (see schemas.Secrets.Rotate).
// A tenant without a key gets one.
func (k *SigningKeys) Rotate(ctx context.Context, tenantID, secret string, now time.Time, grace time.Duration) (*schemas.SigningKey, error) {
	for range 5 {
		key, rev, err := k.get(ctx, tenantID)
		if errors.Is(err, ErrNotFound) {
			key, created, err := k.Ensure(ctx, tenantID, func() string { return secret }, now)
			if err != nil || created {
				return key, err
			}
			continue // created meanwhile: rotate it
		}
		if err != nil {
			return nil, err
		}
		key.Secrets = key.Secrets.Rotate(secret, now.UTC(), grace)
		key.RotatedAt = now.UTC()
		b, err := schemas.Marshal(nil, key)
		if err != nil {
			return nil, err
		}
		if _, err := k.kv.Update(ctx, tenantID, b, rev); err == nil {
			return key, nil
		} else if !isWrongSequence(err) {
			return nil, fmt.Errorf("subscription: rotate signing key: %w", err)
		}
	}
	return nil, ErrConflict
}
