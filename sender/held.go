package sender

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// releaseHeld handles a webhook's held batch (broker.HeldBatchMsg) that came
// due. While this sender still holds the webhook a second or more, the batch
// is scheduled again whole, for the end of that hold; otherwise, or once its
// deliveries have waited unattempted longer than MaxBroken, it is unpacked
// into plain deliveries, which are admitted like any other (and sent back or
// dead-lettered one by one if their endpoint is still busy). Either way the
// batch is acknowledged once what replaces it is stored, and redelivered
// if that fails; the deliveries it unpacks are deduplicated by their ids
// should it be unpacked twice.
func (s *Sender) releaseHeld(msg jetstream.Msg, md *jetstream.MsgMetadata, b broker.HeldBatch) {
	ds, err := broker.DecodeHeld(msg.Data(), b.N)
	if err != nil {
		s.quarantine(msg, md, "undecodable held deliveries: "+err.Error())
		return
	}
	now := s.now()
	ep := s.eps.get(b.TenantID + "." + b.WebhookID)
	seq := strconv.FormatUint(md.Sequence.Stream, 10)
	if until := ep.heldUntil(now); until.Sub(now) >= time.Second && now.Sub(b.WaitingSince) <= s.maxBroken {
		b.Key = schemas.SubjectToken(b.TenantID + "." + b.WebhookID + ":held:" + seq)
		m, opts := broker.HeldBatchMsg(b, msg.Data(), broker.SpreadHold(until, now))
		f, err := s.js.PublishMsgAsync(m, opts...)
		if err != nil {
			s.logger.Warn("held deliveries not stored; redelivering", "webhook_id", b.WebhookID, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		s.handoffs <- handoff{f: f, msg: msg, deliveryID: "held batch " + seq, nakDelay: time.Second}
		return
	}
	subject := broker.DeliverySubject(b.TenantID, b.WebhookID)
	fs := make([]jetstream.PubAckFuture, 0, len(ds))
	for i := range ds {
		h := ds[i].Header
		if h == nil {
			h = nats.Header{}
		}
		h.Set(jetstream.MsgIDHeader, ds[i].ID+":held")
		f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: subject, Header: h, Data: ds[i].Data})
		if err != nil {
			// Those already published are deduplicated when it comes back.
			s.logger.Warn("held deliveries not stored; redelivering", "webhook_id", b.WebhookID, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		fs = append(fs, f)
	}
	s.released.Add(uint64(len(ds)))
	if len(fs) == 0 {
		_ = msg.Ack()
		return
	}
	s.handoffs <- handoff{f: fs[0], more: fs[1:], msg: msg, deliveryID: "held batch " + seq, nakDelay: time.Second}
}
