package api

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
)

// Limits of a webhook's dialect settings.
const (
	maxEventNames     = 64
	maxEventNameLen   = 128
	maxRetries        = 20
	maxRetryDelay     = 24 * time.Hour
	profileTeal       = "teal"
	defaultSigningKey = dialect.SigningKeyWebhook
)

// profile returns the profile called name, nil for none ("").
func profile(name string) (*dialect.Profile, error) {
	if name == "" {
		return nil, nil
	}
	p, ok := dialect.LookupProfile(name)
	if !ok {
		return nil, invalid("profile", "unknown profile %q; profiles are %s (GET /v1/profiles)", name,
			strings.Join(dialect.ProfileNames(), ", "))
	}
	return p, nil
}

// checkProgram compiles src as a program of kind k (nil for none): a 400
// naming the position when it does not compile.
func (s *Server) checkProgram(field string, k dialect.Kind, src string) (*dialect.Program, error) {
	if src == "" {
		return nil, nil
	}
	p, err := s.shaper.Program(k, src)
	var de *dialect.Error
	if errors.As(err, &de) {
		e := invalid(field, "%s", strings.TrimPrefix(de.Error(), k.String()+": "))
		if de.Line > 0 {
			e.Position = &Position{Line: de.Line, Column: de.Column, Offset: de.Offset}
		}
		return nil, e
	}
	return p, err
}

// checkEventNames validates the map from catalog types to the receiver's
// names: the names go into a request header.
func checkEventNames(names map[string]string) (map[string]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if len(names) > maxEventNames {
		return nil, invalid("event_names", "has %d entries; the limit is %d", len(names), maxEventNames)
	}
	for _, typ := range slices.Sorted(maps.Keys(names)) {
		name := names[typ]
		if _, ok := schemas.LookupType(typ); !ok {
			return nil, invalid("event_names", "%q is not an event type (GET /v1/event-types lists them)", typ)
		}
		if name == "" || len(name) > maxEventNameLen || !printableASCII(name) {
			return nil, invalid("event_names", "the name of %s must be 1 to %d printable ASCII characters", typ, maxEventNameLen)
		}
	}
	return maps.Clone(names), nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkRetrySchedule reads a retry schedule as --retry-schedule does
// ("30s,2m,10m"); "" means the sender's (or the profile's).
func checkRetrySchedule(s string) ([]time.Duration, error) {
	schedule, err := sender.ParseRetrySchedule(s)
	switch {
	case err != nil:
		return nil, invalid("retry_schedule", "%s", strings.TrimPrefix(err.Error(), "sender: "))
	case len(schedule) > maxRetries:
		return nil, invalid("retry_schedule", "has %d retries; the limit is %d", len(schedule), maxRetries)
	}
	for _, d := range schedule {
		if d > maxRetryDelay {
			return nil, invalid("retry_schedule", "%s is longer than the longest wait, %s", d, "24h")
		}
	}
	return schedule, nil
}

// checkSigningKey validates whose secrets sign: "webhook" or "tenant".
func checkSigningKey(v string) (string, error) {
	switch v {
	case "", dialect.SigningKeyWebhook:
		return "", nil
	case dialect.SigningKeyTenant:
		return v, nil
	}
	return "", invalid("signing_key", `must be "webhook" (its own secret) or "tenant" (the tenant's signing key, GET /v1/signing-key)`)
}

// includePayload reads include_payload: a boolean, or for Teal's requests
// also "true" or "false" as its document writes them. Absent is nil.
func includePayload(raw json.RawMessage, teal bool) (*bool, error) {
	var v bool
	switch s := string(raw); {
	case raw == nil || s == "null":
		return nil, nil
	case s == "true", teal && s == `"true"`:
		v = true
	case s == "false", teal && s == `"false"`:
	default:
		return nil, invalid("include_payload", "must be true or false")
	}
	return &v, nil
}

// resolveEvents turns the receiver's event names into catalog types:
// under a profile, "connector_sync_started" subscribes to sync.started.
// Catalog types, families and "*" stay as they are.
func resolveEvents(events []string, names dialect.Names) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		if catalogPattern(e) {
			out = append(out, e)
			continue
		}
		if types := names.Types(e); len(types) > 0 {
			out = append(out, types...)
			continue
		}
		out = append(out, e) // checkEvents says what is wrong with it
	}
	return out
}

// catalogPattern reports whether e reads as the catalog's own: a type, a
// family ("sync.*") or "*". resolveEvents keeps those as they are, so no
// receiver's name that reads as one can stand for other types in events.
func catalogPattern(e string) bool {
	_, ok := schemas.LookupType(e)
	return ok || e == schemas.Wildcard || strings.HasSuffix(e, ".*")
}

// displayEvents shows a webhook's subscriptions in its receiver's names: a
// name stands for its catalog types when the webhook has them all (TruTac's
// "clocking" is both clocking types); the rest stay as they are, and so do
// types whose name reads as a catalog pattern (resolveEvents would read it
// back as that pattern, not as the type).
func displayEvents(events []string, names dialect.Names) []string {
	if len(names) == 0 {
		return events
	}
	has := func(typ string) bool {
		return slices.ContainsFunc(events, func(p string) bool { return schemas.MatchesType(p, typ) })
	}
	out := make([]string, 0, len(events))
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, e := range events {
		name, named := names[e]
		if !named || name == e || catalogPattern(name) {
			add(e)
			continue
		}
		if all := names.Types(name); !slices.ContainsFunc(all, func(t string) bool { return !has(t) }) {
			add(name)
		} else {
			add(e)
		}
	}
	return out
}

// Position says where in a program an error is.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Offset int `json:"offset"`
}

// profileResponse is one profile of GET /v1/profiles.
type profileResponse struct {
	Name           string            `json:"name"`
	Vendor         string            `json:"vendor"`
	Description    string            `json:"description"`
	Signature      string            `json:"signature_preset"`
	Transform      string            `json:"transform"`
	EventNames     map[string]string `json:"event_names"`
	IncludePayload bool              `json:"include_payload"`
	RetrySchedule  *string           `json:"retry_schedule"`
	SigningKey     string            `json:"signing_key"`
}

type listProfilesResponse struct {
	Data []profileResponse `json:"data"`
}

func newProfileResponse(p *dialect.Profile) profileResponse {
	r := profileResponse{Name: p.Name, Vendor: p.Vendor, Description: p.Description, Signature: p.Signature,
		Transform: p.Transform, EventNames: p.EventNames, IncludePayload: p.IncludePayload, SigningKey: p.SigningKey}
	if r.EventNames == nil {
		r.EventNames = map[string]string{}
	}
	if p.RetrySchedule != nil {
		s := sender.FormatRetrySchedule(p.RetrySchedule)
		r.RetrySchedule = &s
	}
	return r
}
