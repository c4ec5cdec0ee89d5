package subscription

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/schemas"
)

// KVStore is the Store on a JetStream KV bucket: key "<tenant>.<webhook>",
// value the msgpack of schemas.Webhook.
type KVStore struct {
	kv jetstream.KeyValue
}

var _ Store = (*KVStore)(nil)

// NewKVStore returns a store on the given bucket (broker.BucketWebhooks).
func NewKVStore(kv jetstream.KeyValue) *KVStore { return &KVStore{kv: kv} }

func key(tenantID, id string) string { return tenantID + "." + id }

// Create implements Store.
func (s *KVStore) Create(ctx context.Context, w *schemas.Webhook) error {
	if !schemas.ValidKey(w.TenantID) || !schemas.ValidKey(w.ID) {
		return fmt.Errorf("subscription: invalid tenant or webhook id")
	}
	b, err := schemas.Marshal(nil, w)
	if err != nil {
		return err
	}
	if _, err := s.kv.Create(ctx, key(w.TenantID, w.ID), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ErrConflict
		}
		return fmt.Errorf("subscription: create: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *KVStore) Get(ctx context.Context, tenantID, id string) (*schemas.Webhook, error) {
	w, _, err := s.get(ctx, tenantID, id)
	return w, err
}

func (s *KVStore) get(ctx context.Context, tenantID, id string) (*schemas.Webhook, uint64, error) {
	if !schemas.ValidKey(tenantID) || !schemas.ValidKey(id) {
		return nil, 0, ErrNotFound
	}
	e, err := s.kv.Get(ctx, key(tenantID, id))
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("subscription: get: %w", err)
	}
	w := new(schemas.Webhook)
	if err := schemas.Unmarshal(e.Value(), w); err != nil {
		return nil, 0, err
	}
	return w, e.Revision(), nil
}

// List implements Store.
func (s *KVStore) List(ctx context.Context, tenantID string) ([]*schemas.Webhook, error) {
	if !schemas.ValidKey(tenantID) {
		return nil, nil
	}
	lister, err := s.kv.ListKeysFiltered(ctx, tenantID+".*")
	if err != nil {
		return nil, fmt.Errorf("subscription: list: %w", err)
	}
	var out []*schemas.Webhook
	for k := range lister.Keys() {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			_ = lister.Stop()
			return nil, fmt.Errorf("subscription: list: %w", err)
		}
		w := new(schemas.Webhook)
		if err := schemas.Unmarshal(e.Value(), w); err != nil {
			_ = lister.Stop()
			return nil, err
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *schemas.Webhook) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Update implements Store.
func (s *KVStore) Update(ctx context.Context, tenantID, id string, fn func(*schemas.Webhook) error) (*schemas.Webhook, error) {
	for {
		w, rev, err := s.get(ctx, tenantID, id)
		if err != nil {
			return nil, err
		}
		if err := fn(w); err != nil {
			return nil, err
		}
		w.TenantID, w.ID = tenantID, id
		b, err := schemas.Marshal(nil, w)
		if err != nil {
			return nil, err
		}
		_, err = s.kv.Update(ctx, key(tenantID, id), b, rev)
		if err == nil {
			return w, nil
		}
		if !isWrongSequence(err) {
			return nil, fmt.Errorf("subscription: update: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// isWrongSequence reports whether err is an optimistic update that lost to
// a concurrent write.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Delete implements Store.
func (s *KVStore) Delete(ctx context.Context, tenantID, id string) error {
	if _, _, err := s.get(ctx, tenantID, id); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, key(tenantID, id)); err != nil {
		return fmt.Errorf("subscription: delete: %w", err)
	}
	return nil
}
