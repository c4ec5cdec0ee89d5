package e2e

import (
	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/schemas"
)

// natsMsg builds a raw message for tests that bypass the producer.
type natsMsg struct {
	subject, data string
	json          bool
}

func (m natsMsg) msg() *nats.Msg {
	msg := nats.NewMsg(m.subject)
	msg.Data = []byte(m.data)
	if m.json {
		msg.Header.Set("Content-Type", schemas.ContentTypeJSON)
	}
	return msg
}
