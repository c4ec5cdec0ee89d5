package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
	// ID names the attempt in paths and cursors: "<seq>", or
	// "<seq>.<index>" after the first attempt of a message. Empty for a
	// Test URL send, which is not logged.
	ID string `json:"id"`
	// Seq is the sequence in the ATTEMPTS stream of the message that holds
	// the attempt, and Index its place there: a sender logs the attempts it
	// made to a webhook within a moment in one message.
	Seq   uint64 `json:"seq"`
	Index int    `json:"index"`
	schemas.Attempt
}

func newAttemptItem(at attemptPos, a schemas.Attempt) attemptItem {
	a.LatencyMS = float64(a.Latency) / float64(time.Millisecond)
	return attemptItem{ID: at.String(), Seq: at.seq, Index: at.index, Attempt: a}
}

// attemptPos locates an attempt in the delivery log: its message's
// sequence in ATTEMPTS and its index there.
type attemptPos struct {
	seq   uint64
	index int
}

// String is the attempt's id; "" for the zero attemptPos (not logged).
func (p attemptPos) String() string {
	switch {
	case p.seq == 0:
		return ""
	case p.index == 0:
		return strconv.FormatUint(p.seq, 10)
	}
	return strconv.FormatUint(p.seq, 10) + "." + strconv.Itoa(p.index)
}

// parseAttemptID reads an attempt's id ("<seq>" or "<seq>.<index>").
func parseAttemptID(s string) (attemptPos, bool) {
	seqPart, indexPart, dotted := strings.Cut(s, ".")
	seq, err := strconv.ParseUint(seqPart, 10, 64)
	if err != nil || seq == 0 {
		return attemptPos{}, false
	}
	p := attemptPos{seq: seq}
	if dotted {
		i, err := strconv.ParseUint(indexPart, 10, 16)
		if err != nil {
			return attemptPos{}, false
		}
		p.index = int(i)
	}
	return p, true
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
	before attemptPos // zero = from the newest
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
		p, ok := parseAttemptID(s)
		if !ok {
			return q, invalid("before", "is not a cursor from a previous page's next")
		}
		q.before = p
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
		resp.Next = items[len(items)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// readAttempts returns the last q.limit attempts on subject that match
// q.status and come before q.before, newest first, and whether older ones
// match too.
func (s *Server) readAttempts(ctx context.Context, subject string, q attemptsQuery) ([]attemptItem, bool, error) {
	page := streamlog.Page{Limit: q.limit, Before: q.before.seq, BeforeIndex: q.before.index}
	entries, more, err := streamlog.ReadNewestEach(ctx, s.broker.JS, broker.StreamAttempts, subject, page,
		func(m streamlog.Msg, keep func(int, schemas.Attempt)) {
			err := schemas.UnmarshalAttempts(m.Data, func(i int, a *schemas.Attempt) error {
				if q.status == "" || a.Outcome == q.status {
					keep(i, *a)
				}
				return nil
			})
			if err != nil {
				// What decoded before the damage is kept.
				s.logger.Warn("undecodable attempt in the delivery log", "subject", subject, "seq", m.Seq, "err", err)
			}
		})
	if err != nil {
		return nil, false, fmt.Errorf("api: read attempts: %w", err)
	}
	items := make([]attemptItem, 0, len(entries))
	for _, e := range entries {
		items = append(items, newAttemptItem(attemptPos{seq: e.Seq, index: e.Index}, e.Value))
	}
	return items, more, nil
}
