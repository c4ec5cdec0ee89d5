package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/schemas"
)

// Index is a live, read-optimised view of every webhook in the KV bucket. Run
// keeps it current; Match and Get are lock-free reads of an immutable
// snapshot, safe from any number of goroutines.
type Index struct {
	kv     jetstream.KeyValue
	logger *slog.Logger
	snap   atomic.Pointer[snapshot]
	ready  chan struct{}

	mu       sync.Mutex
	applied  uint64        // the bucket revision the snapshot reflects
	advanced chan struct{} // closed (and replaced) when applied grows

	onLoad func(*schemas.Webhook) // see OnLoad
}

// OnLoad has fn called with each webhook as the index loads it, before
// any reader sees it (the pipeline compiles its programs then). Call it
// before Run.
func (ix *Index) OnLoad(fn func(*schemas.Webhook)) { ix.onLoad = fn }

// NewIndex returns an index over the webhooks bucket. It is empty until Run
// has loaded the bucket (see Ready).
func NewIndex(kv jetstream.KeyValue, logger *slog.Logger) *Index {
	if logger == nil {
		logger = slog.Default()
	}
	ix := &Index{kv: kv, logger: logger, ready: make(chan struct{}), advanced: make(chan struct{})}
	ix.snap.Store(buildSnapshot(map[string]*schemas.Webhook{}))
	return ix
}

// Ready is closed once the index holds the whole bucket.
func (ix *Index) Ready() <-chan struct{} { return ix.ready }

// Run watches the bucket until ctx is done. Updates that arrive together are
// applied as one new snapshot. It returns nil when ctx is cancelled.
func (ix *Index) Run(ctx context.Context) error {
	w, err := ix.kv.WatchAll(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("subscription: watch: %w", err)
	}
	defer func() { _ = w.Stop() }()
	all := map[string]*schemas.Webhook{}
	initial := true
	var rev uint64
	for {
		var entry jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("subscription: watch closed")
			}
			entry = e
		}
		changed := ix.apply(all, entry)
		if entry != nil {
			rev = max(rev, entry.Revision())
		}
		if entry == nil && initial {
			initial = false
			ix.snap.Store(buildSnapshot(all))
			ix.advance(rev)
			close(ix.ready)
			continue
		}
		// Drain whatever else is queued so a burst of writes costs one rebuild.
	drain:
		for !initial {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					break drain // closed: the outer loop returns
				}
				changed = ix.apply(all, e) || changed
				if e != nil {
					rev = max(rev, e.Revision())
				}
			default:
				break drain
			}
		}
		if changed && !initial {
			ix.snap.Store(buildSnapshot(all))
		}
		if !initial {
			ix.advance(rev)
		}
	}
}

// advance records that the snapshot reflects the bucket up to rev.
func (ix *Index) advance(rev uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if rev > ix.applied {
		ix.applied = rev
		close(ix.advanced)
		ix.advanced = make(chan struct{})
	}
}

// Sync waits until the index reflects every write made to the bucket before
// the call, so a webhook the API just saved is what the router matches next.
// Routers in other processes catch up just as fast, but Sync cannot wait for
// them.
func (ix *Index) Sync(ctx context.Context) error {
	st, err := ix.kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("subscription: bucket status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return errors.New("subscription: bucket status has no stream info")
	}
	last := bs.StreamInfo().State.LastSeq
	for {
		ix.mu.Lock()
		applied, advanced := ix.applied, ix.advanced
		ix.mu.Unlock()
		if applied >= last {
			return nil
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (ix *Index) apply(all map[string]*schemas.Webhook, e jetstream.KeyValueEntry) bool {
	if e == nil {
		return false
	}
	switch e.Operation() {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		delete(all, e.Key())
		return true
	}
	w := new(schemas.Webhook)
	if err := schemas.Unmarshal(e.Value(), w); err != nil {
		ix.logger.Error("subscription: skip undecodable webhook", "key", e.Key(), "err", err)
		return false
	}
	if ix.onLoad != nil {
		ix.onLoad(w)
	}
	all[e.Key()] = w
	return true
}

// Get returns the webhook with this id, enabled or not.
func (ix *Index) Get(tenantID, id string) (*schemas.Webhook, bool) {
	w, ok := ix.snap.Load().byKey[key(tenantID, id)]
	return w, ok
}

// Webhook returns the webhook with this id. The index may lag a write by a
// moment, so a miss is confirmed against the bucket before found is false.
func (ix *Index) Webhook(ctx context.Context, tenantID, id string) (*schemas.Webhook, bool, error) {
	if w, ok := ix.Get(tenantID, id); ok {
		return w, true, nil
	}
	w, _, err := (&KVStore{kv: ix.kv}).get(ctx, tenantID, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return w, true, nil
}

// Len returns the number of webhooks indexed.
func (ix *Index) Len() int { return len(ix.snap.Load().byKey) }

// Match appends to dst every webhook of the tenant, enabled or not, that subscribes to
// eventType and whose org filter admits orgID, each at most once. The
// returned webhooks are shared and must not be modified.
func (ix *Index) Match(dst []*schemas.Webhook, tenantID, eventType, orgID string) []*schemas.Webhook {
	t := ix.snap.Load().tenants[tenantID]
	if t == nil {
		return dst
	}
	dst = appendOrg(dst, t.all, orgID)
	dst = appendOrg(dst, t.exact[eventType], orgID)
	if i := strings.IndexByte(eventType, '.'); i > 0 {
		dst = appendOrg(dst, t.family[eventType[:i]], orgID)
	}
	return dst
}

func appendOrg(dst, ws []*schemas.Webhook, orgID string) []*schemas.Webhook {
	for _, w := range ws {
		if len(w.OrgIDs) == 0 || containsString(w.OrgIDs, orgID) {
			dst = append(dst, w)
		}
	}
	return dst
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// snapshot is immutable once stored. For each tenant, every webhook
// sits in exactly one place per event type: in all (it subscribes to "*"), or
// in family[f] (it subscribes to "f.*"), or in exact[type].
type snapshot struct {
	byKey   map[string]*schemas.Webhook
	tenants map[string]*tenantIndex
}

type tenantIndex struct {
	all    []*schemas.Webhook
	exact  map[string][]*schemas.Webhook
	family map[string][]*schemas.Webhook
}

func buildSnapshot(all map[string]*schemas.Webhook) *snapshot {
	s := &snapshot{byKey: make(map[string]*schemas.Webhook, len(all)), tenants: map[string]*tenantIndex{}}
	for k, w := range all {
		s.byKey[k] = w
		t := s.tenants[w.TenantID]
		if t == nil {
			t = &tenantIndex{exact: map[string][]*schemas.Webhook{}, family: map[string][]*schemas.Webhook{}}
			s.tenants[w.TenantID] = t
		}
		t.add(w)
	}
	return s
}

func (t *tenantIndex) add(w *schemas.Webhook) {
	families := map[string]bool{}
	for _, p := range w.Events {
		if p == schemas.Wildcard {
			t.all = append(t.all, w)
			return
		}
		if f, ok := strings.CutSuffix(p, ".*"); ok {
			families[f] = true
		}
	}
	for f := range families {
		t.family[f] = append(t.family[f], w)
	}
	seen := map[string]bool{}
	for _, p := range w.Events {
		if strings.HasSuffix(p, ".*") || seen[p] {
			continue
		}
		seen[p] = true
		if f, _, ok := strings.Cut(p, "."); ok && families[f] {
			continue // covered by the family entry
		}
		t.exact[p] = append(t.exact[p], w)
	}
}
