package broker

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
