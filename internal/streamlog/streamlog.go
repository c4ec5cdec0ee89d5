package streamlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is one stored message as a read hands it over. The callee may keep
// Header and Data: each message has its own.
type Msg struct {
	Seq     uint64
	Subject string
	// Time is when the stream stored the message.
	Time   time.Time
	Header nats.Header
	Data   []byte
}

// Range bounds a Scan. The zero Range reads every message on the filter.
type Range struct {
	// From is the first sequence to read. Optional; default the first
	// message on the filter.
	From uint64
	// Through is the last sequence to read. Optional; default the filter's
	// last message when the scan starts (later messages are never read).
	Through uint64
	// Since skips messages the stream stored before it. When From is zero
	// the read starts there (DeliverByStartTimePolicy) instead of reading
	// and dropping the older messages. Optional.
	Since time.Time
}

// Page selects a page of ReadNewest.
type Page struct {
	// Limit is the most entries to return. Required: at least 1.
	Limit int
	// Before, when not zero, keeps only messages with a lower sequence: it
	// is the cursor of the next (older) page, the Seq of the last entry of
	// the previous one. Optional.
	Before uint64
	// BeforeIndex, with Before, also keeps the values of message Before
	// whose Index is below it (ReadNewestEach): the cursor of a page that
	// ended inside a message. Optional.
	BeforeIndex int
	// Since skips messages the stream stored before it, without reading
	// them. Optional.
	Since time.Time
}

// Entry is a message ReadNewest kept, decoded.
type Entry[T any] struct {
	Seq uint64
	// Index is the value's place among its message's values (ReadNewestEach);
	// 0 for ReadNewest.
	Index int
	Time  time.Time
	Value T
}

// idleCheck is how long a read waits for the next message before it asks
// the server whether any is still to come (messages deleted while the read
// runs are never delivered).
const idleCheck = time.Second

// errDrained ends a read that has nothing left to deliver.
var errDrained = errors.New("streamlog: nothing pending")

// Scan calls fn for each message on filter in stream within r, oldest first,
// and returns fn's first error as is. Messages deleted while the scan runs
// are skipped; fn may delete the message it is given.
func Scan(ctx context.Context, js jetstream.JetStream, stream, filter string, r Range, fn func(Msg) error) error {
	return scanner{}.scan(ctx, js, stream, filter, r, fn)
}

// ReadNewest returns the newest page.Limit messages on filter in stream
// that decode accepts, newest first, and whether older ones are accepted
// too (more). decode turns a message into the value to keep, or says to
// skip it; it runs oldest first, once per message read.
//
// The subject is read oldest to newest up to its last message (or
// page.Before) with the newest matches kept in a ring, so a page costs a
// read of the filter from page.Since on: give a Since where one is known.
func ReadNewest[T any](ctx context.Context, js jetstream.JetStream, stream, filter string, page Page,
	decode func(Msg) (T, bool),
) (entries []Entry[T], more bool, err error) {
	return ReadNewestEach(ctx, js, stream, filter, page, func(m Msg, keep func(int, T)) {
		if v, ok := decode(m); ok {
			keep(0, v)
		}
	})
}

// ReadNewestEach is ReadNewest for messages that hold several values each:
// decode calls keep with each value of the message to keep and its index
// among the message's values, in index order. Entries are newest first by
// sequence, then by index.
func ReadNewestEach[T any](ctx context.Context, js jetstream.JetStream, stream, filter string, page Page,
	decode func(m Msg, keep func(index int, v T)),
) (entries []Entry[T], more bool, err error) {
	if page.Limit < 1 {
		return nil, false, fmt.Errorf("streamlog: page limit %d is below 1", page.Limit)
	}
	entries = []Entry[T]{}
	r := Range{Since: page.Since}
	switch {
	case page.Before != 0 && page.BeforeIndex > 0:
		r.Through = page.Before
	case page.Before > 1:
		r.Through = page.Before - 1
	case page.Before == 1:
		return entries, false, nil
	}
	ring := make([]Entry[T], page.Limit)
	matched := 0 // matches seen; the newest min(matched, Limit) are in ring
	err = Scan(ctx, js, stream, filter, r, func(m Msg) error {
		decode(m, func(index int, v T) {
			if m.Seq == page.Before && index >= page.BeforeIndex {
				return // on the previous page
			}
			ring[matched%page.Limit] = Entry[T]{Seq: m.Seq, Index: index, Time: m.Time, Value: v}
			matched++
		})
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	for i := range min(matched, page.Limit) {
		// Newest first: walk the ring backwards from the last write.
		entries = append(entries, ring[(matched-1-i)%page.Limit])
	}
	return entries, matched > page.Limit, nil
}

// scanner is Scan with hooks for tests.
type scanner struct {
	// beforeConsume runs after the range is fixed and before the consumer
	// is created.
	beforeConsume func()
}

func (sc scanner) scan(ctx context.Context, js jetstream.JetStream, stream, filter string, r Range, fn func(Msg) error) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("streamlog: stream %s: %w", stream, err)
	}
	last, err := s.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("streamlog: last message on %s: %w", filter, err)
	}
	stop := last.Sequence
	if r.Through != 0 {
		stop = min(stop, r.Through)
	}
	if r.From > stop || (!r.Since.IsZero() && last.Time.Before(r.Since)) {
		return nil
	}
	if sc.beforeConsume != nil {
		sc.beforeConsume()
	}

	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{filter},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: 30 * time.Second,
		MaxResetAttempts:  3,
	}
	switch {
	case r.From > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, r.From
	case !r.Since.IsZero():
		since := r.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("streamlog: read %s: %w", filter, err)
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return fmt.Errorf("streamlog: read %s: %w", filter, err)
	}
	defer func() {
		msgs.Stop()
		if info := cons.CachedInfo(); info != nil {
			// Ordered consumers are ephemeral; remove this one now rather
			// than after the inactivity threshold.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = js.DeleteConsumer(dctx, stream, info.Name)
			cancel()
		}
	}()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil // what was there has been deleted since
	}

	for {
		m, err := next(ctx, cons, msgs)
		if errors.Is(err, errDrained) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("streamlog: read %s: %w", filter, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("streamlog: read %s: %w", filter, err)
		}
		seq := md.Sequence.Stream
		if seq > stop {
			return nil
		}
		if r.Since.IsZero() || !md.Timestamp.Before(r.Since) {
			if err := fn(Msg{Seq: seq, Subject: m.Subject(), Time: md.Timestamp, Header: m.Headers(), Data: m.Data()}); err != nil {
				return err
			}
		}
		if seq >= stop || md.NumPending == 0 {
			return nil
		}
	}
}

// next returns the next message, or errDrained when none is coming: the
// messages still expected were deleted after the read began.
func next(ctx context.Context, cons jetstream.Consumer, msgs jetstream.MessagesContext) (jetstream.Msg, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, idleCheck)
		m, err := msgs.Next(jetstream.NextContext(wctx))
		cancel()
		switch {
		case err == nil:
			return m, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return nil, err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return nil, err
		}
		if info.NumPending == 0 {
			return nil, errDrained
		}
	}
}
