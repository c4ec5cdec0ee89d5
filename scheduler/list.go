package scheduler

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/streamlog"
	"github.com/hookstream/hookstream/schemas"
)

// Query selects a page of dead letters for List.
type Query struct {
	// TenantID owns the dead letters. Required.
	TenantID string
	// WebhookID limits the page to one webhook. Optional.
	WebhookID string
	// Since and Until bound when the deliveries were dead-lettered,
	// inclusive. Optional. The read starts at the stream's own timestamp
	// Since less five minutes (DeliverByStartTimePolicy): a dead letter
	// dated later than it was stored by more than that, by a sender whose
	// clock runs ahead, is not listed.
	Since, Until time.Time
	// Limit is the most dead letters to return. Required: at least 1.
	Limit int
	// Before is the cursor of the next page: Letters are older (lower
	// sequence) than it. Optional; zero starts at the newest.
	Before uint64
}

// Letter is one dead letter as List shows it.
type Letter struct {
	// Seq is the dead letter's sequence in DEADLETTERS: its id for
	// Filter.Seqs and the API.
	Seq uint64
	schemas.DeadLetter
	// KeptReason says why a replay would keep this dead letter (its
	// webhook was deleted or is disabled); empty when it would replay it.
	KeptReason string
}

// LetterView is a dead letter as the API (GET /v1/dead-letters) and
// `hookstream deadletters --json` show it: never its payload.
type LetterView struct {
	// ID is the dead letter's sequence in the DEADLETTERS stream, as a
	// string: what POST /v1/dead-letters/replay takes in ids.
	ID             string                   `json:"id"`
	DeliveryID     string                   `json:"delivery_id"`
	EventID        string                   `json:"event_id"`
	EventType      string                   `json:"event_type"`
	WebhookID      string                   `json:"webhook_id"`
	OrgID          string                   `json:"org_id"`
	Reason         string                   `json:"reason"`
	Attempts       int                      `json:"attempts"`
	LastStatus     int                      `json:"last_status"`
	LastError      string                   `json:"last_error"`
	DeadLetteredAt time.Time                `json:"dead_lettered_at"`
	Replays        int                      `json:"replays"`
	History        []schemas.AttemptSummary `json:"history"`
	// Replayable is true when the webhook exists and is enabled; otherwise
	// KeptReason says why a replay keeps it.
	Replayable bool   `json:"replayable"`
	KeptReason string `json:"kept_reason,omitempty"`
}

// View returns l as the API shows it.
func (l *Letter) View() LetterView {
	d := &l.Delivery
	history := d.History
	if history == nil {
		history = []schemas.AttemptSummary{}
	}
	return LetterView{
		ID: strconv.FormatUint(l.Seq, 10), DeliveryID: d.ID, EventID: d.EventID, EventType: d.EventType,
		WebhookID: d.WebhookID, OrgID: d.OrgID, Reason: l.Reason, Attempts: l.Attempts, LastStatus: l.LastStatus,
		LastError: l.LastError, DeadLetteredAt: l.At, Replays: d.Replays, History: history,
		Replayable: l.KeptReason == "", KeptReason: l.KeptReason,
	}
}

// LetterPage is a page of dead letters, newest first.
type LetterPage struct {
	Letters []Letter
	// Next is the Before of the next (older) page; zero on the last page.
	Next uint64
}

// sinceSlack widens a Since bound on the stream's own timestamps, which a
// sender's clock (that dates DeadLetter.At) may lead a little.
const sinceSlack = 5 * time.Minute

// List returns a page of a tenant's dead letters, newest first, each with
// what a replay would do with it. Payloads stay in the stream: Letters
// carry them (Delivery.Payload), and callers showing letters to a tenant
// show them only that tenant's.
func (r *Replayer) List(ctx context.Context, q Query) (LetterPage, error) {
	f := Filter{TenantID: q.TenantID, WebhookID: q.WebhookID, Since: q.Since, Until: q.Until}
	if q.TenantID == "" {
		return LetterPage{}, fmt.Errorf("%w: a tenant id is required", ErrBadFilter)
	}
	if err := f.check(); err != nil {
		return LetterPage{}, err
	}
	page := streamlog.Page{Limit: q.Limit, Before: q.Before}
	if !q.Since.IsZero() {
		page.Since = q.Since.Add(-sinceSlack)
	}
	entries, more, err := streamlog.ReadNewest(ctx, r.js, broker.StreamDeadLetters, f.subject(), page,
		func(m streamlog.Msg) (schemas.DeadLetter, bool) {
			var dl schemas.DeadLetter
			if err := schemas.Unmarshal(m.Data, &dl); err != nil {
				r.logger.Warn("undecodable dead letter", "seq", m.Seq, "subject", m.Subject, "err", err)
				return dl, false
			}
			return dl, f.inWindow(dl.At)
		})
	if err != nil {
		return LetterPage{}, fmt.Errorf("scheduler: list dead letters: %w", err)
	}
	out := LetterPage{Letters: make([]Letter, 0, len(entries))}
	reasons := map[string]string{} // webhook id → kept reason
	for _, e := range entries {
		id := e.Value.Delivery.WebhookID
		reason, ok := reasons[id]
		if !ok {
			wh, found, err := r.webhooks.Webhook(ctx, q.TenantID, id)
			if err != nil {
				return LetterPage{}, fmt.Errorf("scheduler: webhook %s: %w", id, err)
			}
			reason = KeptReason(wh, found)
			reasons[id] = reason
		}
		out.Letters = append(out.Letters, Letter{Seq: e.Seq, DeadLetter: e.Value, KeptReason: reason})
	}
	if more && len(entries) > 0 {
		out.Next = entries[len(entries)-1].Seq
	}
	return out, nil
}
