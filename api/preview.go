package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
)

// listProfiles handles GET /v1/profiles: every profile with its program,
// names and defaults.
func (s *Server) listProfiles(w http.ResponseWriter, _ *http.Request, _ string) error {
	resp := listProfilesResponse{Data: []profileResponse{}}
	for _, p := range dialect.Profiles() {
		resp.Data = append(resp.Data, newProfileResponse(p))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getProfile handles GET /v1/profiles/{name}.
func (s *Server) getProfile(w http.ResponseWriter, r *http.Request, _ string) error {
	p, ok := dialect.LookupProfile(r.PathValue("name"))
	if !ok {
		return notFound("profile")
	}
	writeJSON(w, http.StatusOK, newProfileResponse(p))
	return nil
}

// previewRequest is the body of POST /v1/transform/preview: a dialect, as a
// webhook would have it, and an event (or only its type, for the catalog's
// example of it).
type previewRequest struct {
	Profile        string                   `json:"profile"`
	Transform      string                   `json:"transform"`
	Filter         string                   `json:"filter"`
	EventNames     map[string]string        `json:"event_names"`
	IncludePayload *bool                    `json:"include_payload"`
	Signature      *schemas.SignatureConfig `json:"signature"`
	// Event is the event: at least its type and data; id, org_id and
	// occurred_at are filled in when absent.
	Event *previewEvent `json:"event"`
	// Type asks for the catalog's example event of that type.
	Type string `json:"type"`
	// Webhook is what .webhook holds; defaults stand in for what is absent.
	Webhook *previewWebhook `json:"webhook"`
}

type previewEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OrgID      string          `json:"org_id"`
	OccurredAt *time.Time      `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

type previewWebhook struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	OrgIDs []string `json:"org_ids"`
}

// previewResponse is what a webhook with that dialect would be sent.
type previewResponse struct {
	// EventName is the event's type as the receiver names it.
	EventName string `json:"event_name"`
	// Matched says whether the filter lets the event through (true without
	// a filter); FilterError why it failed, if it did (it then counts as
	// not matched).
	Matched     bool   `json:"matched"`
	FilterError string `json:"filter_error,omitempty"`
	// Body is the body sent (before any encryption); Error why the
	// transform could not make it.
	Body    *jsonText         `json:"body"`
	Error   string            `json:"error,omitempty"`
	Headers map[string]string `json:"headers"`
	// Event is the event the preview ran on.
	Event json.RawMessage `json:"event"`
}

// previewTransform handles POST /v1/transform/preview. A program that does
// not compile is a 400 naming the position; one that fails on the event is
// answered with the error, as the delivery log would show it.
func (s *Server) previewTransform(w http.ResponseWriter, r *http.Request, tenantID string) error {
	var req previewRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	prof, err := profile(req.Profile)
	if err != nil {
		return err
	}
	d, err := s.checkDialect(req.Transform, req.Filter, req.EventNames, nil)
	if err != nil {
		return err
	}
	ev, err := s.previewEvent(&req, tenantID)
	if err != nil {
		return err
	}
	// Previews run the tenant's programs in the API: they take from its
	// share of the API's time like any run.
	if ok, wait := s.previews.Allow(tenantID); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return &Error{Status: http.StatusTooManyRequests, Code: codeTooMany,
			Message: "this tenant's previews used their share of the API's time; try again in a moment"}
	}
	start := time.Now()
	defer func() { s.previews.Charge(tenantID, time.Since(start)) }()
	wh := &schemas.Webhook{ID: "wh_preview", TenantID: tenantID, Name: "Preview", URL: "https://receiver.example/webhook",
		Profile: req.Profile, Transform: req.Transform, Filter: req.Filter, EventNames: d.names, IncludePayload: true, Enabled: true}
	if hw := req.Webhook; hw != nil {
		wh.ID, wh.Name, wh.URL, wh.OrgIDs = cmp.Or(hw.ID, wh.ID), cmp.Or(hw.Name, wh.Name), cmp.Or(hw.URL, wh.URL), hw.OrgIDs
	}
	sig := schemas.SignatureConfig{}
	if prof != nil {
		sig.Preset, wh.IncludePayload = prof.Signature, prof.IncludePayload
	}
	if req.Signature != nil {
		sig = *req.Signature
	}
	if wh.Signature, _, err = checkSignature(sig); err != nil {
		return err
	}
	if req.IncludePayload != nil {
		wh.IncludePayload = *req.IncludePayload
	}
	dl := s.shaper.Dialect(wh) // the programs checked above, not compiled again
	runtime.KeepAlive(d)       // (d holds them until the compiler has them for wh)
	if dl.Err != nil {
		return dl.Err // checked above; cannot happen
	}
	resp := previewResponse{EventName: dl.Names.Of(ev.Type), Matched: true, Event: schemas.AppendJSON(nil, ev, true)}
	delivery := schemas.Delivery{ID: schemas.DeliveryID(ev.ID, wh.ID), EventID: ev.ID, EventType: ev.Type, TenantID: tenantID,
		OrgID: ev.OrgID, WebhookID: wh.ID, Payload: schemas.AppendJSON(nil, ev, wh.IncludePayload)}
	if dl.Filter != nil {
		decoded, derr := dialect.DecodeEvent(resp.Event)
		if derr != nil {
			return derr
		}
		resp.Matched, err = dl.Filter.Match(r.Context(), &dialect.Input{Event: decoded, EventName: resp.EventName,
			Webhook:  dialect.WebhookInput{ID: wh.ID, Name: wh.Name, URL: wh.URL, OrgIDs: wh.OrgIDs, IncludePayload: wh.IncludePayload},
			Delivery: dialect.DeliveryInput{ID: delivery.ID, Attempt: 1}})
		if err != nil {
			resp.FilterError = err.Error()
		}
	}
	body := delivery.Payload
	if dl.Transform != nil {
		decoded, derr := dialect.DecodeEvent(delivery.Payload)
		if derr != nil {
			return derr
		}
		in := &dialect.Input{Event: decoded, EventName: resp.EventName,
			Webhook:  dialect.WebhookInput{ID: wh.ID, Name: wh.Name, URL: wh.URL, OrgIDs: wh.OrgIDs, IncludePayload: wh.IncludePayload},
			Delivery: dialect.DeliveryInput{ID: delivery.ID, Attempt: 1}}
		out, terr := dl.Transform.Transform(r.Context(), in)
		if terr != nil {
			resp.Error, body = terr.Error(), nil
		} else {
			body = dl.Transform.Bind(out, in)
		}
	}
	if body != nil {
		b := jsonText(body)
		resp.Body = &b
	}
	if resp.Headers, err = sender.RequestHeaders(wh, delivery.ID, resp.EventName, s.now().UTC(), false); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// previewEvent is the event of a preview: the one given, or the catalog's
// example of the type given.
func (s *Server) previewEvent(req *previewRequest, tenantID string) (*schemas.Event, error) {
	ev := &schemas.Event{ID: "evt_preview", TenantID: tenantID, OrgID: "org_preview", OccurredAt: s.now().UTC().Truncate(time.Millisecond)}
	switch {
	case req.Event != nil && req.Type != "":
		return nil, invalid("type", "give an event or a type, not both")
	case req.Event != nil:
		e := req.Event
		ev.ID, ev.Type, ev.OrgID, ev.Data = cmp.Or(e.ID, ev.ID), e.Type, cmp.Or(e.OrgID, ev.OrgID), e.Data
		if strings.HasPrefix(e.Type, schemas.ReservedFamily+".") {
			ev.OrgID = e.OrgID // Hookstream's own events carry no organisation
		}
		if e.OccurredAt != nil {
			ev.OccurredAt = e.OccurredAt.UTC()
		}
	case req.Type != "":
		et, ok := schemas.LookupType(req.Type)
		if !ok {
			return nil, invalid("type", "%q is not an event type (GET /v1/event-types lists them)", req.Type)
		}
		ev.Type, ev.Data = et.Name, et.Example
		if len(ev.Data) == 0 {
			ev.Data = json.RawMessage(`{}`)
		}
		if et.Family == schemas.ReservedFamily {
			ev.OrgID = ""
		}
		return ev, nil
	default:
		return nil, invalid("event", "give an event (at least its type and data) or a type")
	}
	if err := schemas.Validate(ev); err != nil {
		var ve *schemas.ValidationError
		if errors.As(err, &ve) {
			return nil, invalid(strings.TrimSuffix("event."+ve.Field, "."), "%s", ve.Message)
		}
		return nil, invalid("event", "%s", strings.TrimPrefix(err.Error(), "schemas: "))
	}
	return ev, nil
}
