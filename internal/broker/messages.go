package broker

import (
	"strconv"

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

// AuditMsg is the AUDIT message of r.
func AuditMsg(r *schemas.AuditRecord) (*nats.Msg, error) {
	data, err := schemas.Marshal(nil, r)
	if err != nil {
		return nil, err
	}
	return &nats.Msg{Subject: AuditSubject(r.TenantID, r.WebhookID), Data: data}, nil
}
