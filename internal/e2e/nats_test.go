package e2e

import (
	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/schemas"
)

// natsMsg builds a raw message for tests that bypass the producer.
type natsMsg struct {
	subject, data string
	json          bool
	id            string // Nats-Msg-Id, when set
}

func (m natsMsg) msg() *nats.Msg {
	msg := nats.NewMsg(m.subject)
	msg.Data = []byte(m.data)
	if m.json {
		msg.Header.Set("Content-Type", schemas.ContentTypeJSON)
	}
	if m.id != "" {
		msg.Header.Set("Nats-Msg-Id", m.id)
	}
	return msg
}
