package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/subscription"
)

// Limits of the dead-letter routes.
const (
	defaultDeadLettersLimit = 50
	maxDeadLettersLimit     = 200
	maxReplayIDs            = 1000
	// replayTimeout bounds an on-demand replay, below the server's write
	// timeout; what is left is replayed by the next call (or the end of
	// the day).
	replayTimeout = 45 * time.Second
)

// listDeadLettersResponse answers GET /v1/dead-letters.
type listDeadLettersResponse struct {
	Data []scheduler.LetterView `json:"data"`
	// Next, when not empty, is the before= cursor of the next (older) page.
	Next string `json:"next"`
	// NextReplayAt is when the end-of-day replay runs next; null when this
	// API does not know the schedule.
	NextReplayAt *time.Time `json:"next_replay_at"`
}

// listDeadLetters handles GET /v1/dead-letters: the tenant's dead letters,
// newest first.
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, tenantID string) error {
	q, err := parseDeadLettersQuery(r.URL.Query())
	if err != nil {
		return err
	}
	q.TenantID = tenantID
	ctx, cancel := context.WithTimeout(r.Context(), attemptsReadTimeout)
	defer cancel()
	page, err := s.replayer.List(ctx, q)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	resp := listDeadLettersResponse{Data: make([]scheduler.LetterView, 0, len(page.Letters)), NextReplayAt: s.nextReplayAt()}
	for i := range page.Letters {
		resp.Data = append(resp.Data, page.Letters[i].View())
	}
	if page.Next != 0 {
		resp.Next = strconv.FormatUint(page.Next, 10)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func parseDeadLettersQuery(v url.Values) (scheduler.Query, error) {
	q := scheduler.Query{Limit: defaultDeadLettersLimit}
	var err error
	if q.WebhookID, err = webhookIDParam(v.Get("webhook_id")); err != nil {
		return q, err
	}
	if q.Since, q.Until, err = timeWindow(v.Get("since"), v.Get("until")); err != nil {
		return q, err
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDeadLettersLimit {
			return q, invalid("limit", "must be a number from 1 to %d", maxDeadLettersLimit)
		}
		q.Limit = n
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return q, invalid("before", "is not a cursor from a previous page's next")
		}
		q.Before = n
	}
	return q, nil
}

// webhookIDParam checks a webhook id given as a filter. An id of another
// tenant's webhook is not an error: it selects nothing, as the dead letters
// of a deleted webhook of this tenant would still be selected.
func webhookIDParam(id string) (string, error) {
	if id != "" && !schemas.ValidKey(id) {
		return "", invalid("webhook_id", "is not a webhook id")
	}
	return id, nil
}

// timeWindow parses the since and until filters (RFC 3339).
func timeWindow(since, until string) (s, u time.Time, err error) {
	for _, p := range []struct {
		field, value string
		dst          *time.Time
	}{{"since", since, &s}, {"until", until, &u}} {
		if p.value == "" {
			continue
		}
		if *p.dst, err = time.Parse(time.RFC3339Nano, p.value); err != nil {
			return s, u, invalid(p.field, "must be an RFC 3339 time, like 2026-11-24T09:00:00Z")
		}
	}
	if !s.IsZero() && !u.IsZero() && u.Before(s) {
		return s, u, invalid("until", "is before since")
	}
	return s, u, nil
}

func (s *Server) nextReplayAt() *time.Time {
	if s.nextReplay == nil {
		return nil
	}
	t := s.nextReplay(s.now())
	return &t
}

// replayRequest is the body of POST /v1/dead-letters/replay.
type replayRequest struct {
	WebhookID string `json:"webhook_id"`
	// Since and Until bound when the deliveries were dead-lettered (RFC 3339).
	Since string `json:"since"`
	Until string `json:"until"`
	// IDs are dead-letter ids from GET /v1/dead-letters.
	IDs []string `json:"ids"`
	// All replays every dead letter of the tenant.
	All bool `json:"all"`
}

// replayResponse answers POST /v1/dead-letters/replay.
type replayResponse struct {
	Replayed    int            `json:"replayed"`
	Kept        int            `json:"kept"`
	KeptReasons map[string]int `json:"kept_reasons"`
	// NotFound counts ids that are not (or no longer) the tenant's dead
	// letters: replayed already, expired, or never there.
	NotFound int `json:"not_found"`
	// Complete is false when the replay stopped at its time bound; call
	// again to replay the rest.
	Complete bool `json:"complete"`
}

// replayDeadLetters handles POST /v1/dead-letters/replay: re-enqueue the
// selected dead letters now, with a fresh attempt budget.
func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request, tenantID string) error {
	var req replayRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	f, err := replayFilter(&req)
	if err != nil {
		return err
	}
	f.TenantID, f.Origin = tenantID, "API replay"
	// A replay stopped halfway is consistent, but it is better finished:
	// it goes on if the client hangs up, within its bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), replayTimeout)
	defer cancel()
	res, err := s.replayer.Replay(ctx, f)
	complete := true
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() == nil {
			return fmt.Errorf("api: replay: %w", err)
		}
		complete = false // stopped at the bound: say what was done
	}
	s.logger.Info("dead letters replayed", "tenant", tenantID, "webhook", f.WebhookID, "result", res.String(), "complete", complete)
	resp := replayResponse{Replayed: res.Replayed, Kept: res.Kept, KeptReasons: res.KeptReasons, NotFound: res.NotFound, Complete: complete}
	if resp.KeptReasons == nil {
		resp.KeptReasons = map[string]int{}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// replayFilter validates a replay request: at least one filter, or all.
func replayFilter(req *replayRequest) (scheduler.Filter, error) {
	var f scheduler.Filter
	var err error
	if f.WebhookID, err = webhookIDParam(req.WebhookID); err != nil {
		return f, err
	}
	if f.Since, f.Until, err = timeWindow(req.Since, req.Until); err != nil {
		return f, err
	}
	if len(req.IDs) > maxReplayIDs {
		return f, invalid("ids", "has %d entries; the limit is %d", len(req.IDs), maxReplayIDs)
	}
	for _, id := range req.IDs {
		seq, err := strconv.ParseUint(id, 10, 64)
		if err != nil || seq == 0 {
			return f, invalid("ids", "%q is not a dead-letter id (the id of GET /v1/dead-letters)", id)
		}
		f.Seqs = append(f.Seqs, seq)
	}
	filtered := f.WebhookID != "" || !f.Since.IsZero() || !f.Until.IsZero() || req.IDs != nil
	switch {
	case req.All && filtered:
		return f, invalid("all", "replays every dead letter; it cannot be combined with webhook_id, since, until or ids")
	case !req.All && !filtered:
		return f, invalid("all", `give webhook_id, since, until or ids, or "all": true to replay every dead letter`)
	case req.IDs != nil && len(req.IDs) == 0:
		return f, invalid("ids", "is empty")
	}
	return f, nil
}

// deadLetterCount is how many dead letters wait for the webhook. It reads
// the stream's per-subject count, not the dead letters.
func (s *Server) deadLetterCount(ctx context.Context, tenantID, webhookID string) (int, error) {
	st, err := s.broker.JS.Stream(ctx, broker.StreamDeadLetters)
	if err != nil {
		return 0, err
	}
	subject := broker.DeadLetterSubject(tenantID, webhookID)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, err
	}
	return int(info.State.Subjects[subject]), nil
}

// reenabledNotice tells a client that re-enabled a webhook what waits for
// it in the dead letters.
func (s *Server) reenabledNotice(ctx context.Context, resp *webhookResponse) {
	n, err := s.deadLetterCount(ctx, resp.TenantID, resp.ID)
	if err != nil {
		s.logger.Warn("could not count the dead letters of a re-enabled webhook", "tenant", resp.TenantID, "webhook", resp.ID, "err", err)
		return
	}
	resp.DeadLetters = &n
	if n == 0 {
		return
	}
	resp.ReplayHint = fmt.Sprintf(`%d dead letters missed while the webhook was disabled: POST /v1/dead-letters/replay {"webhook_id":%q} re-enqueues them now`, n, resp.ID)
	if at := s.nextReplayAt(); at != nil {
		resp.ReplayHint += "; otherwise the end-of-day replay does at " + at.Format(time.RFC3339)
	}
}

// storeWebhooks resolves webhooks for a Replayer from the Store.
type storeWebhooks struct{ store subscription.Store }

func (w storeWebhooks) Webhook(ctx context.Context, tenantID, id string) (*schemas.Webhook, bool, error) {
	wh, err := w.store.Get(ctx, tenantID, id)
	if errors.Is(err, subscription.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return wh, true, nil
}
