package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/streamlog"
	"github.com/hookstream/hookstream/schemas"
)

// Page sizes of the delivery log.
const (
	defaultAttemptsLimit = 50
	maxAttemptsLimit     = 200
)

// attemptsReadTimeout bounds one read of a webhook's delivery log.
const attemptsReadTimeout = 20 * time.Second

// attemptItem is one entry of the delivery log.
type attemptItem struct {
	// Seq is the attempt's position in the ATTEMPTS stream.
	Seq uint64 `json:"seq"`
	schemas.Attempt
}

func newAttemptItem(seq uint64, a schemas.Attempt) attemptItem {
	a.LatencyMS = float64(a.Latency) / float64(time.Millisecond)
	return attemptItem{Seq: seq, Attempt: a}
}

// listAttemptsResponse answers GET /v1/webhooks/{id}/attempts. Next, when
// not empty, is the before= cursor of the next (older) page.
type listAttemptsResponse struct {
	Data []attemptItem `json:"data"`
	Next string        `json:"next"`
}

// attemptsQuery is the parsed query of GET /v1/webhooks/{id}/attempts.
type attemptsQuery struct {
	status schemas.Outcome // empty = all
	limit  int
	before uint64 // 0 = from the newest
}

func parseAttemptsQuery(r *http.Request) (attemptsQuery, error) {
	q := attemptsQuery{limit: defaultAttemptsLimit}
	v := r.URL.Query()
	switch st := schemas.Outcome(v.Get("status")); st {
	case "", schemas.OutcomeSuccess, schemas.OutcomeFailed, schemas.OutcomeError:
		q.status = st
	default:
		return q, invalid("status", "must be success, failed or error")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAttemptsLimit {
			return q, invalid("limit", "must be a number from 1 to %d", maxAttemptsLimit)
		}
		q.limit = n
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return q, invalid("before", "is not a cursor from a previous page's next")
		}
		q.before = n
	}
	return q, nil
}

// listAttempts handles GET /v1/webhooks/{id}/attempts: the delivery log,
// newest first.
func (s *Server) listAttempts(w http.ResponseWriter, r *http.Request, tenantID string) error {
	q, err := parseAttemptsQuery(r)
	if err != nil {
		return err
	}
	wh, err := s.webhook(r.Context(), tenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), attemptsReadTimeout)
	defer cancel()
	items, more, err := s.readAttempts(ctx, broker.AttemptSubject(tenantID, wh.ID), q)
	if err != nil {
		return err
	}
	resp := listAttemptsResponse{Data: items}
	if more && len(items) > 0 {
		resp.Next = strconv.FormatUint(items[len(items)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// readAttempts returns the last q.limit attempts on subject that match
// q.status and come before q.before, newest first, and whether older ones
// match too.
func (s *Server) readAttempts(ctx context.Context, subject string, q attemptsQuery) ([]attemptItem, bool, error) {
	page := streamlog.Page{Limit: q.limit, Before: q.before}
	entries, more, err := streamlog.ReadNewest(ctx, s.broker.JS, broker.StreamAttempts, subject, page,
		func(m streamlog.Msg) (schemas.Attempt, bool) {
			var a schemas.Attempt
			if err := schemas.Unmarshal(m.Data, &a); err != nil {
				s.logger.Warn("undecodable attempt in the delivery log", "subject", subject, "seq", m.Seq, "err", err)
				return a, false
			}
			return a, q.status == "" || a.Outcome == q.status
		})
	if err != nil {
		return nil, false, fmt.Errorf("api: read attempts: %w", err)
	}
	items := make([]attemptItem, 0, len(entries))
	for _, e := range entries {
		items = append(items, newAttemptItem(e.Seq, e.Value))
	}
	return items, more, nil
}
