package sender

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/singleflight"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// errEventGone means a delivery refers to an event EVENTS no longer holds.
var errEventGone = errors.New("the event is no longer in EVENTS (past its retention)")

// payloads renders the events that large fan-outs refer to (Delivery.EventSeq)
// instead of carrying: each event is read from EVENTS once, by sequence, and
// its full and thin bodies are kept for the other webhooks of the fan-out.
// The cache is bounded; concurrent misses for one event make one read.
type payloads struct {
	js jetstream.JetStream

	smu    sync.Mutex
	stream jetstream.Stream

	group singleflight.Group
	mu    sync.Mutex
	m     map[payloadKey][]byte
	ring  []payloadKey // insertion order, for eviction
	next  int
}

type payloadKey struct {
	seq  uint64
	full bool
}

// payloadCacheSize bounds the rendered bodies kept: enough for the events in
// flight across a sender's workers.
const payloadCacheSize = 4096

func newPayloads(js jetstream.JetStream) *payloads {
	return &payloads{js: js, m: make(map[payloadKey][]byte, payloadCacheSize), ring: make([]payloadKey, payloadCacheSize)}
}

// get returns the body of the event at seq, with or without its data.
func (p *payloads) get(ctx context.Context, seq uint64, full bool) ([]byte, error) {
	key := payloadKey{seq, full}
	p.mu.Lock()
	b, ok := p.m[key]
	p.mu.Unlock()
	if ok {
		return b, nil
	}
	v, err, _ := p.group.Do(strconv.FormatUint(seq, 10), func() (any, error) {
		return p.load(ctx, seq)
	})
	if err != nil {
		return nil, err
	}
	bodies := v.(*[2][]byte)
	if full {
		return bodies[1], nil
	}
	return bodies[0], nil
}

// events binds the EVENTS stream once (its cached info says it allows
// direct gets, which GetMsg then uses).
func (p *payloads) events(ctx context.Context) (jetstream.Stream, error) {
	p.smu.Lock()
	defer p.smu.Unlock()
	if p.stream == nil {
		s, err := p.js.Stream(ctx, broker.StreamEvents)
		if err != nil {
			return nil, fmt.Errorf("events stream: %w", err)
		}
		p.stream = s
	}
	return p.stream, nil
}

// load reads and renders the event at seq, caching both bodies.
func (p *payloads) load(ctx context.Context, seq uint64) (*[2][]byte, error) {
	stream, err := p.events(ctx)
	if err != nil {
		return nil, err
	}
	m, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, errEventGone
	}
	if err != nil {
		return nil, fmt.Errorf("read event %d: %w", seq, err)
	}
	var ev schemas.Event
	if err := broker.DecodeEvent(m.Subject, m.Header, m.Data, &ev); err != nil {
		return nil, fmt.Errorf("event %d: %w", seq, err)
	}
	bodies := &[2][]byte{schemas.AppendJSON(nil, &ev, false), schemas.AppendJSON(nil, &ev, true)}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, full := range []bool{false, true} {
		if old := p.ring[p.next]; old.seq != 0 {
			delete(p.m, old)
		}
		key := payloadKey{seq, full}
		p.m[key] = bodies[i]
		p.ring[p.next] = key
		p.next = (p.next + 1) % len(p.ring)
	}
	return bodies, nil
}
