package producer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/schemas"
)

// DefaultMaxEventBytes is the largest encoded event accepted by default.
const DefaultMaxEventBytes = 256 << 10

// ErrTooLarge means an event's encoding exceeds the configured limit.
var ErrTooLarge = errors.New("producer: event too large")

// Config configures a Producer.
type Config struct {
	// JS publishes the events. Required.
	JS jetstream.JetStream
	// MaxEventBytes is the largest encoded event accepted. Optional; default
	// DefaultMaxEventBytes.
	MaxEventBytes int
	// Now returns the current time. Optional; default time.Now.
	Now func() time.Time
}

// Producer publishes events. It is safe for concurrent use.
type Producer struct {
	js       jetstream.JetStream
	maxBytes int
	now      func() time.Time

	published, duplicates, rejected atomic.Uint64
}

// Stats are a producer's counters since start.
type Stats struct {
	Published  uint64 // events stored in EVENTS
	Duplicates uint64 // publishes of an id already stored (not delivered again)
	Rejected   uint64 // events refused: invalid or too large
}

// Stats returns the counters.
func (p *Producer) Stats() Stats {
	return Stats{Published: p.published.Load(), Duplicates: p.duplicates.Load(), Rejected: p.rejected.Load()}
}

// Result is the outcome of publishing one event.
type Result struct {
	// ID is the event id (generated when the event had none).
	ID string `json:"id"`
	// Sequence is the event's position in the EVENTS stream.
	Sequence uint64 `json:"sequence"`
	// Duplicate is true when an event with this id was already published
	// within the deduplication window; it will not be delivered again.
	Duplicate bool `json:"duplicate"`
}

// New returns a Producer.
func New(cfg Config) (*Producer, error) {
	if cfg.JS == nil {
		return nil, errors.New("producer: Config.JS is required")
	}
	p := &Producer{js: cfg.JS, maxBytes: cfg.MaxEventBytes, now: cfg.Now}
	if p.maxBytes <= 0 {
		p.maxBytes = DefaultMaxEventBytes
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// MaxEventBytes is the size limit this producer enforces.
func (p *Producer) MaxEventBytes() int { return p.maxBytes }

// Prepare fills in a missing id and occurred_at, compacts the data, validates
// the event and encodes it as the NATS message to publish. A validation
// failure is a *schemas.ValidationError; an oversize event wraps ErrTooLarge.
func (p *Producer) Prepare(ev *schemas.Event) (*nats.Msg, error) {
	msg, err := p.prepare(ev)
	if err != nil {
		p.rejected.Add(1)
	}
	return msg, err
}

func (p *Producer) prepare(ev *schemas.Event) (*nats.Msg, error) {
	if ev.ID == "" {
		ev.ID = schemas.NewEventID()
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = p.now().UTC()
	}
	if err := schemas.CompactData(ev); err != nil {
		return nil, err
	}
	if err := schemas.Validate(ev); err != nil {
		return nil, err
	}
	if len(ev.Data) > p.maxBytes {
		return nil, fmt.Errorf("%w: data is %d bytes, the limit is %d", ErrTooLarge, len(ev.Data), p.maxBytes)
	}
	data, err := schemas.Marshal(nil, ev)
	if err != nil {
		return nil, err
	}
	if len(data) > p.maxBytes {
		return nil, fmt.Errorf("%w: event is %d bytes encoded, the limit is %d", ErrTooLarge, len(data), p.maxBytes)
	}
	msg := &nats.Msg{
		Subject: broker.EventSubject(ev.TenantID, ev.Type),
		Data:    data,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{ev.ID}, broker.HeaderValidated: []string{"schema"}},
	}
	return msg, nil
}

// Publish validates and publishes one event and waits for the stream to store
// it. ev's id and occurred_at are filled in when empty.
//
// The publish is a PRODUCER span; its traceparent travels in the message,
// so the router, the senders and the receiver continue the caller's trace.
func (p *Producer) Publish(ctx context.Context, ev *schemas.Event) (Result, error) {
	msg, err := p.Prepare(ev)
	if err != nil {
		return Result{}, err
	}
	ctx, span := startPublish(ctx, msg, ev)
	defer span.End()
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return Result{}, fmt.Errorf("producer: publish %s: %w", ev.ID, err)
	}
	if ack.Duplicate {
		span.SetAttributes(attribute.Bool("hookstream.duplicate", true))
	}
	p.count(ack)
	return Result{ID: ev.ID, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

func (p *Producer) count(ack *jetstream.PubAck) {
	if ack.Duplicate {
		p.duplicates.Add(1)
	} else {
		p.published.Add(1)
	}
}

// startPublish starts the PRODUCER span of publishing ev and writes its
// traceparent into msg.
func startPublish(ctx context.Context, msg *nats.Msg, ev *schemas.Event) (context.Context, trace.Span) {
	ctx, span := telemetry.Start(ctx, "send "+broker.StreamEvents, trace.SpanKindProducer, func() []attribute.KeyValue {
		return append(telemetry.Messaging(telemetry.Send, broker.StreamEvents, msg.Subject),
			telemetry.EventIDKey.String(ev.ID), telemetry.EventTypeKey.String(ev.Type), telemetry.TenantKey.String(ev.TenantID))
	})
	telemetry.Inject(ctx, msg.Header)
	return ctx, span
}

// PublishBatch validates every event first (nothing is published if one is
// invalid), then publishes them asynchronously and waits for all the
// acknowledgements. Results are in the order of evs. On a publish error the
// results so far are returned with it; re-publishing the batch is safe, as
// already stored events come back as duplicates.
func (p *Producer) PublishBatch(ctx context.Context, evs []schemas.Event) ([]Result, error) {
	msgs := make([]*nats.Msg, len(evs))
	for i := range evs {
		m, err := p.Prepare(&evs[i])
		if err != nil {
			return nil, fmt.Errorf("producer: event %d: %w", i, err)
		}
		msgs[i] = m
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		_, span := startPublish(ctx, m, &evs[i])
		span.End() // the send; acknowledgements are awaited below, all together
		f, err := p.js.PublishMsgAsync(m)
		if err != nil {
			return nil, fmt.Errorf("producer: publish %s: %w", evs[i].ID, err)
		}
		futures[i] = f
	}
	results := make([]Result, 0, len(futures))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			p.count(ack)
			results = append(results, Result{ID: evs[i].ID, Sequence: ack.Sequence, Duplicate: ack.Duplicate})
		case err := <-f.Err():
			return results, fmt.Errorf("producer: publish %s: %w", evs[i].ID, err)
		case <-ctx.Done():
			return results, ctx.Err()
		}
	}
	return results, nil
}
