package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schemas"
)

// publishEventRequest is the body of POST /v1/events. The tenant comes from
// the token.
type publishEventRequest struct {
	// ID deduplicates: a re-post within the window is a duplicate. Optional.
	ID   string `json:"id"`
	Type string `json:"type"`
	// TenantID may be given but must then be the token's tenant.
	TenantID string `json:"tenant_id"`
	OrgID    string `json:"org_id"`
	// OccurredAt is RFC 3339; default now.
	OccurredAt string          `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// publishEventResponse answers POST /v1/events.
type publishEventResponse struct {
	ID string `json:"id"`
	// Duplicate is true when an event with this id was already published
	// within the deduplication window: it is not delivered again.
	Duplicate bool `json:"duplicate"`
}

// publishEvent handles POST /v1/events.
func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request, tenantID string) error {
	var req publishEventRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.TenantID != "" && req.TenantID != tenantID {
		return invalid("tenant_id", "differs from the tenant of the token; leave it out")
	}
	if req.ID != "" && !schemas.ValidEventID(req.ID) {
		return invalid("id", "must be 1 to 128 printable ASCII characters without spaces")
	}
	if req.Type == "" {
		return invalid("type", "is required")
	}
	if strings.HasPrefix(req.Type, schemas.ReservedFamily+".") {
		return invalid("type", "%q is reserved: %s.* events are sent by Hookstream itself", req.Type, schemas.ReservedFamily)
	}
	ev := schemas.Event{ID: req.ID, Type: req.Type, TenantID: tenantID, OrgID: req.OrgID, Data: req.Data}
	if req.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339Nano, req.OccurredAt)
		if err != nil {
			return invalid("occurred_at", "must be an RFC 3339 time such as 2024-05-01T12:00:00Z")
		}
		ev.OccurredAt = t.UTC()
	}
	res, err := s.producer.Publish(r.Context(), &ev)
	if err != nil {
		var verr *schemas.ValidationError
		switch {
		case errors.As(err, &verr):
			return invalid(verr.Field, "%s", verr.Message)
		case errors.Is(err, producer.ErrTooLarge):
			return tooLarge(fmt.Sprintf("the event is too large: the limit is %d bytes", s.producer.MaxEventBytes()))
		}
		return err
	}
	writeJSON(w, http.StatusAccepted, publishEventResponse{ID: res.ID, Duplicate: res.Duplicate})
	return nil
}
