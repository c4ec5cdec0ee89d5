package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hookstream/hookstream/internal/catalog"
	"github.com/hookstream/hookstream/schemas"
)

type listEventTypesResponse struct {
	Data []schemas.EventType `json:"data"`
}

// listEventTypes handles GET /v1/event-types: the catalog, each type with its
// JSON Schema, including types added at run time.
func (s *Server) listEventTypes(w http.ResponseWriter, _ *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, listEventTypesResponse{Data: schemas.Catalog()})
	return nil
}

// createEventTypeRequest is the body of POST /v1/event-types.
type createEventTypeRequest struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
}

// createEventType handles POST /v1/event-types (admin token): it adds a type
// to the catalog of every process. Webhooks subscribed to "*" or to its
// family receive it from then on.
func (s *Server) createEventType(w http.ResponseWriter, r *http.Request) error {
	var req createEventTypeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return invalid("name", "is required")
	}
	if len(req.Description) > 1000 {
		return invalid("description", "is longer than 1000 characters")
	}
	if len(req.Schema) > 0 && !strings.HasPrefix(strings.TrimSpace(string(req.Schema)), "{") {
		return invalid("schema", "must be a JSON Schema object")
	}
	t := schemas.EventType{Name: req.Name, Description: req.Description, Schema: req.Schema}
	if err := schemas.Check(t); err != nil {
		field := "schema"
		if strings.Contains(err.Error(), "want lowercase") || strings.Contains(err.Error(), "reserved") {
			field = "name"
		}
		return invalid(field, "%s", strings.TrimPrefix(err.Error(), "schemas: "))
	}
	if s.broker.EventTypes == nil {
		return errors.New("api: event_types bucket not bound")
	}
	if err := catalog.Add(r.Context(), s.broker.EventTypes, t); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			return &Error{Status: http.StatusConflict, Code: codeConflict, Field: "name", Message: "the catalog already has " + req.Name}
		}
		return err
	}
	s.logger.Info("event type added", "type", req.Name)
	et, _ := schemas.LookupType(req.Name)
	writeJSON(w, http.StatusCreated, et)
	return nil
}
