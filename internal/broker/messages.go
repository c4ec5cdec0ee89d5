package broker

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hookstream/hookstream/schemas"
)

// DeadLetterMsg is the DEADLETTERS message of dl. msgID deduplicates it
// (a sender that crashes after writing it writes it again); the headers
// repeat why it failed, so tools can read them without decoding the body.
func DeadLetterMsg(dl *schemas.DeadLetter, msgID string) (*nats.Msg, error) {
	data, err := schemas.Marshal(nil, dl)
	if err != nil {
		return nil, err
	}
	d := &dl.Delivery
	return &nats.Msg{
		Subject: DeadLetterSubject(d.TenantID, d.WebhookID),
		Data:    data,
		Header: nats.Header{
			jetstream.MsgIDHeader: []string{msgID},
			HeaderReason:          []string{dl.Reason},
			HeaderTenant:          []string{d.TenantID},
			HeaderWebhook:         []string{d.WebhookID},
			HeaderAttempts:        []string{strconv.Itoa(dl.Attempts)},
			HeaderLastStatus:      []string{strconv.Itoa(dl.LastStatus)},
		},
	}, nil
}

// ScheduleDelivery makes m, the message of delivery d on its
// DeliverySubject, the schedule that publishes it there at d.NotBefore: it
// moves m to d's RetrySubject (outside the senders' filter, so the waiting
// delivery holds no consumer slot) and returns the publish options that
// schedule it. Senders sending a delivery back and routers holding one wait
// alike.
func ScheduleDelivery(m *nats.Msg, d *schemas.Delivery) []jetstream.PublishOpt {
	opts := []jetstream.PublishOpt{jetstream.WithScheduleAt(d.NotBefore), jetstream.WithScheduleTarget(m.Subject)}
	m.Subject = RetrySubject(d.TenantID, d.WebhookID, schemas.SubjectToken(d.ID))
	return opts
}

// Stored waits for the answer to an asynchronous publish: nil once the
// stream has the message.
func Stored(f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	}
}

// maxHoldSpread bounds how far past a hold's end SpreadHold spreads.
const maxHoldSpread = 30 * time.Second

// SpreadHold is when something held until end (at now) should be due:
// a random time in the half of the hold again after end, at most 30 s
// after it, so what a hold kept does not all come back at once. Routers
// holding new deliveries and senders holding a batch again spread alike.
func SpreadHold(end, now time.Time) time.Time {
	spread := min(end.Sub(now)/2, maxHoldSpread)
	if spread <= 0 {
		return end
	}
	return end.Add(time.Duration(rand.Int64N(int64(spread))))
}

// HeldDelivery is one delivery of a held batch (HeldBatchMsg): its id, the
// headers of its DELIVERIES message (the trace it continues) and its body.
type HeldDelivery struct {
	ID     string      `msgpack:"id"`
	Header nats.Header `msgpack:"h,omitempty"`
	Data   []byte      `msgpack:"d"`
}

// AppendHeld appends d, encoded, to the deliveries of a held batch being
// built (HeldBatchMsg).
func AppendHeld(dst []byte, d *HeldDelivery) ([]byte, error) {
	return schemas.Marshal(dst, d)
}

// HeldBatch describes a held batch: the webhook its deliveries go to, how
// many it carries, and since when the oldest has waited unattempted.
type HeldBatch struct {
	TenantID, WebhookID string
	N                   int
	WaitingSince        time.Time
	// Key is a subject token unique to the batch (schemas.SubjectToken).
	Key string
}

// HeldBatchBody is the body of a held batch of n deliveries, entries being
// what AppendHeld built for them.
func HeldBatchBody(n int, entries []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(5 + len(entries))
	_ = msgpack.NewEncoder(&buf).EncodeArrayLen(n) // a bytes.Buffer takes any write
	buf.Write(entries)
	return buf.Bytes()
}

// HeldBatchMsg is the message of a webhook's deliveries held together, with
// the publish options that schedule it for at: a scheduled message on a
// RetrySubject that lands on the webhook's DeliverySubject when due, where
// a sender unpacks it (DecodeHeld) into plain deliveries; body is
// HeldBatchBody's. One scheduled message for many spares the stream a
// message, a subject and a timer per delivery, which is what holding a
// broken receiver's deliveries one by one costs.
func HeldBatchMsg(b HeldBatch, body []byte, at time.Time) (*nats.Msg, []jetstream.PublishOpt) {
	m := &nats.Msg{
		Subject: RetrySubject(b.TenantID, b.WebhookID, b.Key),
		Data:    body,
		Header: nats.Header{
			HeaderHeld:         []string{strconv.Itoa(b.N)},
			HeaderTenant:       []string{b.TenantID},
			HeaderWebhook:      []string{b.WebhookID},
			HeaderWaitingSince: []string{b.WaitingSince.UTC().Format(time.RFC3339Nano)},
		},
	}
	return m, []jetstream.PublishOpt{jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(DeliverySubject(b.TenantID, b.WebhookID))}
}

// HeldBatchOf reads the description of a held batch from its message's
// headers; ok is false for any other message.
func HeldBatchOf(h nats.Header) (b HeldBatch, ok bool, err error) {
	n := h.Get(HeaderHeld)
	if n == "" {
		return HeldBatch{}, false, nil
	}
	b = HeldBatch{TenantID: h.Get(HeaderTenant), WebhookID: h.Get(HeaderWebhook)}
	if b.N, err = strconv.Atoi(n); err != nil || b.N < 0 {
		return b, true, fmt.Errorf("held batch: bad %s %q", HeaderHeld, n)
	}
	if b.TenantID == "" || b.WebhookID == "" {
		return b, true, errors.New("held batch: no tenant or webhook header")
	}
	if b.WaitingSince, err = time.Parse(time.RFC3339Nano, h.Get(HeaderWaitingSince)); err != nil {
		return b, true, fmt.Errorf("held batch: %w", err)
	}
	return b, true, nil
}

// DecodeHeld reads the n deliveries of a held batch.
func DecodeHeld(data []byte, n int) ([]HeldDelivery, error) {
	var ds []HeldDelivery
	if err := schemas.Unmarshal(data, &ds); err != nil {
		return nil, err
	}
	if len(ds) != n {
		return nil, fmt.Errorf("held batch: %d deliveries, %s says %d", len(ds), HeaderHeld, n)
	}
	for i := range ds {
		if ds[i].ID == "" {
			return nil, fmt.Errorf("held batch: delivery %d has no id", i)
		}
	}
	return ds, nil
}

// AuditMsg is the AUDIT message of r.
func AuditMsg(r *schemas.AuditRecord) (*nats.Msg, error) {
	data, err := schemas.Marshal(nil, r)
	if err != nil {
		return nil, err
	}
	return &nats.Msg{Subject: AuditSubject(r.TenantID, r.WebhookID), Data: data}, nil
}

// ErrUndecodable means an EVENTS message is neither msgpack nor (with
// Content-Type: application/json) JSON of an event.
var ErrUndecodable = errors.New("undecodable")

// DecodeEvent reads an EVENTS message into ev, as the router and the
// senders both must: msgpack, or JSON when the Content-Type header says so;
// an id left out is taken from Nats-Msg-Id, a tenant or type left out from
// the subject events.<tenant>.<type>; an envelope contradicting its subject
// is an error. It does not validate the event (schemas.Validate does).
func DecodeEvent(subject string, h nats.Header, data []byte, ev *schemas.Event) error {
	if err := schemas.DecodeEvent(data, h.Get(HeaderContentType), ev); err != nil {
		return fmt.Errorf("%w: %w", ErrUndecodable, err)
	}
	if ev.ID == "" {
		// Publishers in other languages may leave the id to the header.
		ev.ID = h.Get(jetstream.MsgIDHeader)
	}
	rest, ok := strings.CutPrefix(subject, subjEvents)
	tenant, typ, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return fmt.Errorf("subject %q is not events.<tenant>.<type>", subject)
	}
	if ev.TenantID == "" {
		ev.TenantID = tenant
	}
	if ev.Type == "" {
		ev.Type = typ
	}
	if ev.TenantID != tenant || ev.Type != typ {
		return fmt.Errorf("envelope tenant_id/type (%s/%s) do not match subject %q", ev.TenantID, ev.Type, subject)
	}
	return nil
}
