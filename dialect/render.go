package dialect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Source is the event a delivery carries or refers to.
type Source struct {
	// Seq is the event's sequence in EVENTS: the same event for every
	// delivery of it. Zero (Hookstream's own pings and tests) keeps
	// nothing for other deliveries.
	Seq uint64
	// Body is the event's JSON as the webhook gets it: with its data, or
	// the thin event (Input.Webhook.IncludePayload says which).
	Body []byte
}

// Renderer makes the bodies of deliveries that have a transform. A
// per-event program runs once per event, name and include_payload setting,
// for all the webhooks that share it; its output is kept for a while for
// the other deliveries of the event. Decoded events are kept too, for
// programs that run per delivery. Both are bounded in bytes (a decoded
// event takes several times its JSON, so they get an eighth). It is safe
// for concurrent use; concurrent deliveries of one event wait for one run.
type Renderer struct {
	outputs cache[outputKey, result]
	events  cache[eventKey, any]
}

// NewRenderer returns a Renderer keeping at most about maxBytes of outputs,
// and decoded events of an eighth of that in JSON.
func NewRenderer(maxBytes int) *Renderer {
	return &Renderer{outputs: newCache[outputKey, result](maxBytes), events: newCache[eventKey, any](maxBytes / 8)}
}

// DefaultRendererBytes sizes a sender's Renderer.
const DefaultRendererBytes = 16 << 20

type outputKey struct {
	seq     uint64
	program *Program
	full    bool
	name    string
}

type eventKey struct {
	seq  uint64
	full bool
}

type result struct {
	out template
	err error
}

// Render runs p for one delivery of src, for tenant: in describes the
// webhook and the delivery (its Event is filled in from src). budget, when
// set, is asked before p runs and charged with the time it ran; a delivery
// whose per-event output is already made costs nothing, and is not refused.
func (r *Renderer) Render(ctx context.Context, p *Program, src Source, in Input, budget *Budget, tenant string) ([]byte, error) {
	run := func(event func() (any, error)) ([]byte, error) {
		if budget != nil {
			if ok, wait := budget.Allow(tenant); !ok {
				return nil, &OverBudgetError{Wait: wait}
			}
		}
		ev, err := event()
		if err != nil {
			return nil, err
		}
		in := in
		in.Event = ev
		start := time.Now()
		out, err := p.Transform(ctx, &in)
		if budget != nil {
			budget.Charge(tenant, time.Since(start))
		}
		return out, err
	}
	if !p.PerEvent() || src.Seq == 0 {
		out, err := run(func() (any, error) { return r.event(src, in.Webhook.IncludePayload) })
		if err != nil {
			return nil, err
		}
		return p.bound(out, &in)
	}
	key := outputKey{src.Seq, p, in.Webhook.IncludePayload, in.EventName}
	res := r.outputs.get(key, func() (result, int) {
		// Decoded once, for this run only: the output is what is kept.
		out, err := run(func() (any, error) { return DecodeEvent(src.Body) })
		if transient(err) || errors.As(err, new(*OverBudgetError)) || (err != nil && !isRunError(err)) {
			return result{err: err}, -1 // the next delivery may fare better
		}
		return result{p.template(out), err}, len(out) + 64
	})
	if res.err != nil {
		return nil, res.err
	}
	return p.checkSize(p.fill(res.out, &in))
}

// OverBudgetError means the tenant's programs have used their share of the
// process's time: the delivery should wait Wait and try again.
type OverBudgetError struct{ Wait time.Duration }

func (e *OverBudgetError) Error() string {
	return fmt.Sprintf("transform: the tenant's transforms used their share of the sender's time; next in %s",
		e.Wait.Round(time.Millisecond))
}

func isRunError(err error) bool {
	var re *RunError
	return errors.As(err, &re)
}

// bound is out with its late values filled in, within MaxOutput.
func (p *Program) bound(out []byte, in *Input) ([]byte, error) {
	return p.checkSize(p.Bind(out, in))
}

// checkSize refuses a body over MaxOutput (a late value may have made it so).
func (p *Program) checkSize(out []byte) ([]byte, error) {
	if len(out) > MaxOutput {
		return nil, p.fail("the output is %s; the limit is %s", size(len(out)), size(MaxOutput))
	}
	return out, nil
}

// event decodes src's body, once per event and setting.
func (r *Renderer) event(src Source, full bool) (any, error) {
	if src.Seq == 0 {
		return DecodeEvent(src.Body)
	}
	var err error
	ev := r.events.get(eventKey{src.Seq, full}, func() (any, int) {
		v, derr := DecodeEvent(src.Body)
		if derr != nil {
			err = derr
			return nil, -1
		}
		return v, len(src.Body)
	})
	if err != nil {
		return nil, err
	}
	if ev == nil { // another caller's decode failed: this one tells why
		return DecodeEvent(src.Body)
	}
	return ev, nil
}

// cache keeps values up to a total size, dropping the oldest first; a miss
// computes the value once however many ask for it at once.
type cache[K comparable, V any] struct {
	mu       sync.Mutex
	max, n   int
	entries  map[K]*entry[V]
	order    []K // insertion order, oldest first
	inFlight map[K]*sync.WaitGroup
}

type entry[V any] struct {
	v    V
	size int
}

func newCache[K comparable, V any](max int) cache[K, V] {
	return cache[K, V]{max: max, entries: map[K]*entry[V]{}, inFlight: map[K]*sync.WaitGroup{}}
}

// get returns the value of k, computing it with fill (which returns the
// value and its size, negative to keep nothing) if it is not kept.
func (c *cache[K, V]) get(k K, fill func() (V, int)) V {
	for {
		c.mu.Lock()
		if e, ok := c.entries[k]; ok {
			c.mu.Unlock()
			return e.v
		}
		wg, busy := c.inFlight[k]
		if !busy {
			wg = &sync.WaitGroup{}
			wg.Add(1)
			c.inFlight[k] = wg
			c.mu.Unlock()
			break
		}
		c.mu.Unlock()
		wg.Wait() // then take what it stored (or compute, if it kept nothing)
	}
	v, size := fill()
	c.mu.Lock()
	defer c.mu.Unlock()
	if size >= 0 && size <= c.max/4 { // a huge value would evict everything else
		c.entries[k] = &entry[V]{v, size}
		c.order = append(c.order, k)
		c.n += size
		for c.n > c.max && len(c.order) > 0 {
			old := c.order[0]
			c.order = c.order[1:]
			if e, ok := c.entries[old]; ok {
				c.n -= e.size
				delete(c.entries, old)
			}
		}
	}
	wg := c.inFlight[k]
	delete(c.inFlight, k)
	wg.Done()
	return v
}
