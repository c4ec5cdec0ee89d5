package dialect

import (
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/hookstream/hookstream/schemas"
)

// Dialect is a webhook's dialect, compiled: what a router and a sender need
// of it for each event.
type Dialect struct {
	// Transform makes the body; nil sends the event as it is.
	Transform *Program
	// Filter picks the events; nil lets every subscribed event through.
	Filter *Program
	// Names are the receiver's names of the catalog's types.
	Names Names
	// RetrySchedule is the waits before each retry; nil means the
	// sender's default.
	RetrySchedule []time.Duration
	// Err is why the webhook's programs do not compile (a webhook written
	// to the bucket by something else than the API); Transform and Filter
	// are then nil.
	Err error
}

// Compiler compiles the programs of the webhooks a process loads, once: the
// dialect of a webhook is compiled the first time it is asked for (the
// subscription index asks when it loads the webhook), and kept as long as
// that webhook (the *schemas.Webhook) is in use; a changed webhook is a new
// value and is compiled anew. Webhooks that share a program, such as all
// those of a profile, share one compiled copy, which lets a per-event
// program run once per event for all of them. It is safe for concurrent
// use.
type Compiler struct {
	// Both maps are keyed by weak pointers: an entry goes when its key is
	// collected (runtime.AddCleanup), so neither grows with webhooks
	// replaced or deleted.
	dialects sync.Map // weak.Pointer[schemas.Webhook] -> *Dialect
	mu       sync.Mutex
	programs map[programKey]weak.Pointer[Program]
}

type programKey struct {
	kind   Kind
	source string
}

// NewCompiler returns an empty Compiler.
func NewCompiler() *Compiler {
	return &Compiler{programs: map[programKey]weak.Pointer[Program]{}}
}

// For returns w's dialect, compiling it the first time. w must not change
// afterwards (the index's webhooks never do; a changed webhook is a new
// value).
func (c *Compiler) For(w *schemas.Webhook) *Dialect {
	key := weak.Make(w)
	if d, ok := c.dialects.Load(key); ok {
		return d.(*Dialect)
	}
	d := c.build(w)
	if prev, loaded := c.dialects.LoadOrStore(key, d); loaded {
		return prev.(*Dialect)
	}
	runtime.AddCleanup(w, func(k weak.Pointer[schemas.Webhook]) { c.dialects.Delete(k) }, key)
	return d
}

func (c *Compiler) build(w *schemas.Webhook) *Dialect {
	s := SettingsOf(w)
	d := &Dialect{Names: s.Names, RetrySchedule: s.RetrySchedule}
	if s.Transform != "" {
		d.Transform, d.Err = c.Program(KindTransform, s.Transform)
	}
	if s.Filter != "" && d.Err == nil {
		d.Filter, d.Err = c.Program(KindFilter, s.Filter)
	}
	if d.Err != nil {
		d.Transform, d.Filter = nil, nil
	}
	return d
}

// Program returns src compiled as a k program, the copy already compiled
// if any webhook in use has it.
func (c *Compiler) Program(k Kind, src string) (*Program, error) {
	key := programKey{k, src}
	c.mu.Lock()
	if wp, ok := c.programs[key]; ok {
		if p := wp.Value(); p != nil {
			c.mu.Unlock()
			return p, nil
		}
	}
	c.mu.Unlock()
	p, err := Compile(k, src)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if wp, ok := c.programs[key]; ok {
		if prev := wp.Value(); prev != nil {
			return prev, nil // compiled meanwhile by another caller
		}
	}
	wp := weak.Make(p)
	c.programs[key] = wp
	runtime.AddCleanup(p, func(key programKey) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if cur, ok := c.programs[key]; ok && cur == wp {
			delete(c.programs, key)
		}
	}, key)
	return p, nil
}
