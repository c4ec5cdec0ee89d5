package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/streamlog"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
)

// attempt returns the tenant's webhook and the attempt its delivery log
// holds under the attempt path value (an id), or a 404.
func (s *Server) attempt(ctx context.Context, r *http.Request, tenantID string) (*schemas.Webhook, schemas.Attempt, attemptPos, error) {
	wh, err := s.webhook(ctx, tenantID, r.PathValue("id"))
	if err != nil {
		return nil, schemas.Attempt{}, attemptPos{}, err
	}
	pos, ok := parseAttemptID(r.PathValue("attempt"))
	if !ok {
		return nil, schemas.Attempt{}, pos, notFound("attempt")
	}
	stream, err := s.broker.JS.Stream(ctx, broker.StreamAttempts)
	if err != nil {
		return nil, schemas.Attempt{}, pos, fmt.Errorf("api: attempts stream: %w", err)
	}
	m, err := stream.GetMsg(ctx, pos.seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, schemas.Attempt{}, pos, notFound("attempt")
	}
	if err != nil {
		return nil, schemas.Attempt{}, pos, fmt.Errorf("api: read attempt: %w", err)
	}
	if m.Subject != broker.AttemptSubject(tenantID, wh.ID) {
		return nil, schemas.Attempt{}, pos, notFound("attempt") // another webhook's, or another tenant's
	}
	var a schemas.Attempt
	found := false
	err = schemas.UnmarshalAttempts(m.Data, func(i int, d *schemas.Attempt) error {
		if i == pos.index {
			a, found = *d, true
			return errStopDecoding
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopDecoding) {
		return nil, schemas.Attempt{}, pos, fmt.Errorf("api: attempt %s: %w", pos, err)
	}
	if !found {
		return nil, schemas.Attempt{}, pos, notFound("attempt")
	}
	return wh, a, pos, nil
}

// errStopDecoding ends a decode that found what it was after.
var errStopDecoding = errors.New("found")

// attemptDetail is one attempt of the delivery log, expanded: the request
// as sent (signature, IV and custom header values masked) and its body.
type attemptDetail struct {
	attemptItem
	RequestHeaders map[string]string `json:"request_headers"`
	// Body is the JSON sent, when it was not encrypted and the event is
	// still in EVENTS; BodyNote says why it is absent otherwise.
	Body     *jsonText `json:"body"`
	BodyNote string    `json:"body_note,omitempty"`
	// Resendable says POST .../resend can send the event again.
	Resendable bool `json:"resendable"`
}

// jsonText is raw JSON written as is.
type jsonText []byte

func (j jsonText) MarshalJSON() ([]byte, error) { return j, nil }

// getAttempt handles GET /v1/webhooks/{id}/attempts/{attempt}.
func (s *Server) getAttempt(w http.ResponseWriter, r *http.Request, tenantID string) error {
	wh, a, pos, err := s.attempt(r.Context(), r, tenantID)
	if err != nil {
		return err
	}
	dl := s.shaper.Dialect(wh)
	headers, err := sender.RequestHeaders(wh, a.DeliveryID, dl.Names.Of(a.EventType), a.At, a.Encrypted)
	if err != nil {
		return err
	}
	out := attemptDetail{attemptItem: newAttemptItem(pos, a), RequestHeaders: headers, Resendable: a.EventSeq != 0}
	switch {
	case a.Encrypted:
		out.BodyNote = "encrypted: the body sent was AES-256-GCM ciphertext, which Hookstream does not keep"
	case a.EventSeq == 0:
		out.BodyNote = "one of Hookstream's own events (" + a.EventType + "); its body is not kept"
	default:
		body, err := s.eventBody(r.Context(), a.EventSeq, wh.IncludePayload)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			out.BodyNote = "the event is no longer in EVENTS (past its retention)"
		case err != nil:
			return err
		case dl.Transform != nil:
			// What the webhook's transform makes of the event now: the
			// transform may have changed since the attempt.
			d := schemas.Delivery{ID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType, TenantID: a.TenantID,
				WebhookID: a.WebhookID, EventSeq: a.EventSeq, Payload: body}
			o, err := s.shaper.Shape(r.Context(), wh, &d, a.Attempt, a.At)
			if err != nil {
				out.BodyNote = err.Error()
				break
			}
			b := jsonText(o.Body)
			out.Body, out.BodyNote = &b, "rendered by the webhook's transform as it is now"
		default:
			b := jsonText(body)
			out.Body = &b
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// eventBody renders the event at seq as a webhook receives it.
func (s *Server) eventBody(ctx context.Context, seq uint64, full bool) ([]byte, error) {
	stream, err := s.broker.JS.Stream(ctx, broker.StreamEvents)
	if err != nil {
		return nil, fmt.Errorf("api: events stream: %w", err)
	}
	m, err := stream.GetMsg(ctx, seq)
	if err != nil {
		return nil, err
	}
	var ev schemas.Event
	if err := broker.DecodeEvent(m.Subject, m.Header, m.Data, &ev); err != nil {
		return nil, fmt.Errorf("api: event %d: %w", seq, err)
	}
	return schemas.AppendJSON(nil, &ev, full), nil
}

type resendResponse struct {
	DeliveryID string `json:"delivery_id"`
	Queued     bool   `json:"queued"`
}

// resendAttempt handles POST /v1/webhooks/{id}/attempts/{attempt}/resend: the
// event of that attempt goes to the webhook once more, now, with a fresh
// attempt budget and the same webhook-id (receivers deduplicate on it).
func (s *Server) resendAttempt(w http.ResponseWriter, r *http.Request, tenantID string) error {
	wh, a, _, err := s.attempt(r.Context(), r, tenantID)
	if err != nil {
		return err
	}
	if a.EventSeq == 0 {
		return &Error{Status: http.StatusConflict, Code: codeConflict,
			Message: a.EventType + " is one of Hookstream's own events and is not kept; use the test button instead"}
	}
	stream, err := s.broker.JS.Stream(r.Context(), broker.StreamEvents)
	if err != nil {
		return fmt.Errorf("api: events stream: %w", err)
	}
	if _, err := stream.GetMsg(r.Context(), a.EventSeq); errors.Is(err, jetstream.ErrMsgNotFound) {
		return &Error{Status: http.StatusConflict, Code: codeConflict, Message: "the event is no longer in EVENTS (past its retention)"}
	} else if err != nil {
		return fmt.Errorf("api: read event: %w", err)
	}
	now := s.now().UTC()
	d := schemas.Delivery{ID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType, TenantID: tenantID, WebhookID: wh.ID,
		CreatedAt: now, EventSeq: a.EventSeq}
	data, err := schemas.Marshal(nil, &d)
	if err != nil {
		return err
	}
	msgID := d.ID + ":resend:" + strconv.FormatInt(now.UnixNano(), 10)
	if _, err := s.broker.JS.PublishMsg(r.Context(), &nats.Msg{Subject: broker.DeliverySubject(tenantID, wh.ID), Data: data,
		Header: nats.Header{jetstream.MsgIDHeader: []string{msgID}}}); err != nil {
		return fmt.Errorf("api: queue resend: %w", err)
	}
	s.logger.InfoContext(r.Context(), "delivery resent", "tenant", tenantID, "webhook", wh.ID, "delivery_id", d.ID)
	writeJSON(w, http.StatusAccepted, resendResponse{DeliveryID: d.ID, Queued: true})
	return nil
}

// webhookStats is GET /v1/webhooks/{id}/stats: how a webhook is doing.
type webhookStats struct {
	// LastAttempt is the newest attempt of the delivery log, or null.
	LastAttempt *attemptItem `json:"last_attempt"`
	// SuccessRate is the share of successes among the newest attempts
	// (Sampled of them, at most 100); null with none.
	SuccessRate *float64 `json:"success_rate"`
	Sampled     int      `json:"sampled"`
	// FailingSince is when every attempt began failing, while they do.
	FailingSince *time.Time `json:"failing_since"`
	// CircuitOpenUntil, while in the future, says a sender holds the
	// webhook's deliveries back (its circuit breaker is open) until then.
	CircuitOpenUntil *time.Time `json:"circuit_open_until"`
	// DeadLetters waiting for the webhook.
	DeadLetters int `json:"dead_letters"`
	// Filtered counts the events of the last hour its filter kept out, and
	// FilterErrors those of them whose filter failed (they count as not
	// matched; the router logs why).
	Filtered     uint64 `json:"filtered"`
	FilterErrors uint64 `json:"filter_errors"`
}

// filterWindow is how far back the filter counts of a webhook's stats go
// (the STATS stream keeps an hour).
const filterWindow = time.Hour

// filterCounts adds up what the routers counted of the webhook's filter
// over the last hour.
func (s *Server) filterCounts(ctx context.Context, tenantID, webhookID string) (schemas.FilterCount, error) {
	var total schemas.FilterCount
	err := streamlog.Scan(ctx, s.broker.JS, broker.StreamStats, broker.StatsSubject(tenantID),
		streamlog.Range{Since: s.now().Add(-filterWindow)}, func(m streamlog.Msg) error {
			var st schemas.DeliveryStats
			if schemas.Unmarshal(m.Data, &st) != nil {
				return nil
			}
			n := st.Filtered[webhookID]
			total.Filtered += n.Filtered
			total.Errors += n.Errors
			return nil
		})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return total, fmt.Errorf("api: read stats: %w", err)
	}
	return total, nil
}

// statsSample is how many of the newest attempts the success rate covers.
const statsSample = 100

// getWebhookStats handles GET /v1/webhooks/{id}/stats.
func (s *Server) getWebhookStats(w http.ResponseWriter, r *http.Request, tenantID string) error {
	wh, err := s.webhook(r.Context(), tenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), attemptsReadTimeout)
	defer cancel()
	items, _, err := s.readAttempts(ctx, broker.AttemptSubject(tenantID, wh.ID), attemptsQuery{limit: statsSample})
	if err != nil {
		return err
	}
	var out webhookStats
	if len(items) > 0 {
		out.LastAttempt = &items[0]
		ok := 0
		for _, it := range items {
			if it.Outcome == schemas.OutcomeSuccess {
				ok++
			}
		}
		rate := float64(ok) / float64(len(items))
		out.SuccessRate, out.Sampled = &rate, len(items)
	}
	if s.broker.Health != nil {
		if e, err := s.broker.Health.Get(ctx, tenantID+"."+wh.ID); err == nil {
			var h schemas.WebhookHealth
			if schemas.Unmarshal(e.Value(), &h) == nil {
				if !h.FailingSince.IsZero() {
					out.FailingSince = &h.FailingSince
				}
				if h.CircuitOpenUntil.After(s.now()) {
					out.CircuitOpenUntil = &h.CircuitOpenUntil
				}
			}
		}
	}
	if out.DeadLetters, err = s.deadLetterCount(ctx, tenantID, wh.ID); err != nil {
		return err
	}
	if wh.Filter != "" {
		fc, err := s.filterCounts(ctx, tenantID, wh.ID)
		if err != nil {
			return err
		}
		out.Filtered, out.FilterErrors = fc.Filtered, fc.Errors
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deliveryStatsResponse is GET /v1/stats/deliveries: the tenant's attempts
// by outcome, in StatsInterval buckets, oldest first.
type deliveryStatsResponse struct {
	IntervalSeconds int           `json:"interval_seconds"`
	Buckets         []statsBucket `json:"buckets"`
}

type statsBucket struct {
	Start        time.Time         `json:"start"`
	Attempts     map[string]uint64 `json:"attempts"`
	Retried      uint64            `json:"retried"`
	DeadLettered uint64            `json:"dead_lettered"`
}

// getDeliveryStats handles GET /v1/stats/deliveries?minutes=15 (1 to 60):
// the live view. Every sender writes each tenant's counts every
// sender.StatsInterval; this adds them up by interval.
func (s *Server) getDeliveryStats(w http.ResponseWriter, r *http.Request, tenantID string) error {
	minutes := 15
	if v := r.URL.Query().Get("minutes"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 60 {
			return invalid("minutes", "must be a number from 1 to 60")
		}
		minutes = n
	}
	interval := sender.StatsInterval
	since := s.now().Add(-time.Duration(minutes) * time.Minute).Truncate(interval)
	buckets := map[time.Time]*statsBucket{}
	ctx, cancel := context.WithTimeout(r.Context(), attemptsReadTimeout)
	defer cancel()
	err := streamlog.Scan(ctx, s.broker.JS, broker.StreamStats, broker.StatsSubject(tenantID), streamlog.Range{Since: since},
		func(m streamlog.Msg) error {
			var st schemas.DeliveryStats
			if schemas.Unmarshal(m.Data, &st) != nil {
				return nil
			}
			// Counted over [Start, Start+Seconds): filed under the interval it ends in.
			at := st.Start.Add(time.Duration(st.Seconds) * time.Second).Truncate(interval)
			b := buckets[at]
			if b == nil {
				b = &statsBucket{Start: at, Attempts: map[string]uint64{}}
				buckets[at] = b
			}
			for k, v := range st.Attempts {
				b.Attempts[k] += v
			}
			b.Retried += st.Retried
			b.DeadLettered += st.DeadLettered
			return nil
		})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("api: read stats: %w", err)
	}
	out := deliveryStatsResponse{IntervalSeconds: int(interval.Seconds()), Buckets: []statsBucket{}}
	for _, b := range buckets {
		out.Buckets = append(out.Buckets, *b)
	}
	sort.Slice(out.Buckets, func(i, j int) bool { return out.Buckets[i].Start.Before(out.Buckets[j].Start) })
	writeJSON(w, http.StatusOK, out)
	return nil
}
