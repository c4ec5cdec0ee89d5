package dialect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/itchyny/gojq"
)

// Limits of one run.
const (
	// MaxOutput bounds a transform's output, as the event size limit bounds
	// an event.
	MaxOutput = 256 << 10
	// MaxOutputDepth bounds how deeply a transform's output nests; many
	// receivers' JSON parsers give up not far past it.
	MaxOutputDepth = 512
	// TransformTimeout bounds one run of a transform.
	TransformTimeout = 100 * time.Millisecond
	// FilterTimeout bounds one run of a filter: filters run in the
	// router, on every event, before any delivery exists.
	FilterTimeout = 25 * time.Millisecond
)

// Input is what a program sees.
type Input struct {
	// Event is the event as the webhook gets it, decoded by DecodeEvent:
	// with its data, or the thin event when include_payload is off.
	Event any
	// EventName is the event's type as the receiver names it.
	EventName string
	Webhook   WebhookInput
	Delivery  DeliveryInput
}

// WebhookInput is .webhook.
type WebhookInput struct {
	ID, Name, URL string
	OrgIDs        []string
	// IncludePayload is the webhook's include_payload: whether Event has
	// its data.
	IncludePayload bool
}

// DeliveryInput is .delivery.
type DeliveryInput struct {
	// ID is the delivery's id, the webhook-id header.
	ID string
	// Attempt counts from 1.
	Attempt int
}

// value is the input as gojq takes it; a per-event program gets only what
// it may read, so nothing else can leak into an output shared by webhooks.
func (in *Input) value(perEvent bool) map[string]any {
	if perEvent {
		return map[string]any{"event": in.Event, "event_name": in.EventName,
			"webhook": map[string]any{"include_payload": in.Webhook.IncludePayload}}
	}
	return map[string]any{
		"event": in.Event, "event_name": in.EventName,
		"webhook": map[string]any{"id": in.Webhook.ID, "name": in.Webhook.Name, "url": in.Webhook.URL,
			"org_ids": stringsToAny(in.Webhook.OrgIDs), "include_payload": in.Webhook.IncludePayload},
		"delivery": map[string]any{"id": in.Delivery.ID, "attempt": in.Delivery.Attempt},
	}
}

// DecodeEvent decodes an event's JSON body for Input.Event. Numbers keep
// their exact text.
func DecodeEvent(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("dialect: decode event: %w", err)
	}
	return v, nil
}

// RunError is a run that failed: it errored, ran out of time, or yielded
// what its kind may not.
type RunError struct {
	Kind   Kind
	Reason string
	// Transient says the run did not fail through the program's fault
	// (no free slot in time, cancelled): it may succeed if tried again.
	Transient bool
}

func (e *RunError) Error() string { return e.Kind.String() + ": " + e.Reason }

// transient reports whether err is a RunError that may not recur.
func transient(err error) bool {
	var re *RunError
	return errors.As(err, &re) && re.Transient
}

// maxReason bounds a reason: jq's errors quote values, which may be large.
const maxReason = 300

func (p *Program) fail(format string, args ...any) *RunError {
	r := fmt.Sprintf(format, args...)
	if len(r) > maxReason {
		r = r[:maxReason] + "…"
	}
	return &RunError{Kind: p.kind, Reason: r}
}

// slots bound the runs at once in a process, by kind: each may take a core,
// and what it allocates within its time. Filters have slots of their own, so
// the senders' transforms never keep the router's filters waiting.
var slots = map[Kind]chan struct{}{
	KindTransform: make(chan struct{}, runtime.GOMAXPROCS(0)),
	KindFilter:    make(chan struct{}, runtime.GOMAXPROCS(0)),
}

// Transform runs a transform on in and returns the JSON body. For a
// per-event program the body still carries its late values' placeholders:
// Bind fills them in for each delivery.
func (p *Program) Transform(ctx context.Context, in *Input) ([]byte, error) {
	if p.kind != KindTransform {
		return nil, fmt.Errorf("dialect: %s run as a transform", p.kind)
	}
	v, found, err := p.run(ctx, in, TransformTimeout)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, p.fail("produced no value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, p.fail("produced %s, not an object", describe(v))
	}
	if err := checkOutput(obj); err != "" {
		return nil, p.fail("%s", err)
	}
	out, _ := gojq.Marshal(obj)
	if len(out) > MaxOutput {
		return nil, p.fail("the output is %s; the limit is %s", size(len(out)), size(MaxOutput))
	}
	return out, nil
}

// Match runs a filter on in: true when it yields true. No value is false;
// anything else than a boolean is an error.
func (p *Program) Match(ctx context.Context, in *Input) (bool, error) {
	if p.kind != KindFilter {
		return false, fmt.Errorf("dialect: %s run as a filter", p.kind)
	}
	v, found, err := p.run(ctx, in, FilterTimeout)
	if err != nil || !found {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, p.fail("produced %s, not true or false", describe(v))
	}
	return b, nil
}

// run runs the program to its first value, within timeout; found is false
// when it yields none.
func (p *Program) run(parent context.Context, in *Input, timeout time.Duration) (v any, found bool, err error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	// The caller's deadline coming first is not the program's fault.
	pd, early := parent.Deadline()
	if od, _ := ctx.Deadline(); !early || !pd.Before(od) {
		early = false
	}
	select {
	case slots[p.kind] <- struct{}{}:
		defer func() { <-slots[p.kind] }()
	case <-ctx.Done():
		e := p.fail("timed out after %s waiting for a free slot to run", timeout)
		e.Transient = true
		return nil, false, e
	}
	defer func() {
		// gojq is not ours; a bug in it must fail this run, not the process.
		if r := recover(); r != nil {
			v, found, err = nil, false, p.fail("jq failed: %v", r)
		}
	}()
	p.runs.Add(1)
	iter := p.code.RunWithContext(ctx, in.value(p.perEvent))
	v, ok := iter.Next()
	if !ok {
		return nil, false, nil
	}
	if e, isErr := v.(error); isErr {
		var (
			halt   *gojq.HaltError
			thrown gojq.ValueError
		)
		switch {
		case errors.Is(e, context.DeadlineExceeded) && early:
			re := p.fail("the caller's deadline came first")
			re.Transient = true
			return nil, false, re
		case errors.Is(e, context.DeadlineExceeded):
			return nil, false, p.fail("timed out after %s", timeout)
		case errors.Is(e, context.Canceled):
			re := p.fail("cancelled")
			re.Transient = true
			return nil, false, re
		case errors.As(e, &halt):
			return nil, false, p.fail("halted")
		case errors.As(e, &thrown):
			// error(x): the program's own message.
			if msg, ok := thrown.Value().(string); ok {
				return nil, false, p.fail("%s", msg)
			}
			return nil, false, p.fail("error(%s)", gojq.Preview(thrown.Value()))
		}
		return nil, false, p.fail("%s", e.Error())
	}
	return v, true, nil
}

// checkOutput walks v without recursion and says what is wrong with it, if
// anything: too deep, or (before it is encoded) clearly too large.
func checkOutput(v any) string {
	type item struct {
		v     any
		depth int
	}
	stack := []item{{v, 1}}
	estimate := 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.depth > MaxOutputDepth {
			return fmt.Sprintf("the output nests deeper than %d levels", MaxOutputDepth)
		}
		switch x := it.v.(type) {
		case map[string]any:
			for k, e := range x {
				estimate += len(k) + 4
				stack = append(stack, item{e, it.depth + 1})
			}
		case []any:
			for _, e := range x {
				estimate++
				stack = append(stack, item{e, it.depth + 1})
			}
		case string:
			estimate += len(x) + 2
		default:
			estimate += 4
		}
		if estimate > 2*MaxOutput {
			return fmt.Sprintf("the output is larger than %s", size(MaxOutput))
		}
	}
	return ""
}

// describe names a value's type for an error: "a string", "null".
func describe(v any) string {
	switch t := gojq.TypeOf(v); t {
	case "null":
		return "null"
	case "array", "object":
		return "an " + t
	default:
		return "a " + t
	}
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
