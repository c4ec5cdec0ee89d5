package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/signature"
	"github.com/hookstream/hookstream/subscription"
)

// Limits of a webhook's fields.
const (
	maxURLLength    = 2048
	maxOrgIDLength  = 128
	maxHeaders      = 20
	maxHeaderValue  = 4096
	maxSecretLength = 512
)

// createWebhookRequest is the body of POST /v1/webhooks.
type createWebhookRequest struct {
	Name      string                  `json:"name"`
	URL       string                  `json:"url"`
	Events    []string                `json:"events"`
	OrgIDs    []string                `json:"org_ids"`
	Signature schemas.SignatureConfig `json:"signature"`
	// Secret signs the deliveries; generated when empty.
	Secret string `json:"secret"`
	// EncryptionKey is base64 of 32 bytes; empty means no encryption.
	EncryptionKey string `json:"encryption_key"`
	// IncludePayload defaults to true.
	IncludePayload *bool             `json:"include_payload"`
	Headers        map[string]string `json:"headers"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled"`
}

// webhookResponse is a webhook as the API shows it: never its secrets or
// encryption key, only whether it encrypts. Secret is set only in the answer
// to its creation.
type webhookResponse struct {
	*schemas.Webhook
	Encrypted bool   `json:"encrypted"`
	Secret    string `json:"secret,omitempty"`
}

func newWebhookResponse(w *schemas.Webhook) webhookResponse {
	c := *w
	if c.Events == nil {
		c.Events = []string{}
	}
	if c.OrgIDs == nil {
		c.OrgIDs = []string{}
	}
	return webhookResponse{Webhook: &c, Encrypted: w.Encrypted()}
}

type listWebhooksResponse struct {
	Data []webhookResponse `json:"data"`
}

// createWebhook handles POST /v1/webhooks.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, tenantID string) error {
	var req createWebhookRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	wh, secret, err := s.newWebhook(r.Context(), &req, tenantID)
	if err != nil {
		return err
	}
	if err := s.store.Create(r.Context(), wh); err != nil {
		return fmt.Errorf("api: create webhook: %w", err)
	}
	s.logger.Info("webhook created", "tenant", tenantID, "webhook", wh.ID)
	if wh.Enabled {
		// The webhook exists now: queue its ping even if the client hangs up.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), pingTimeout)
		defer cancel()
		if err := s.ping(ctx, wh); err != nil {
			// The webhook exists; a lost ping is not worth failing the request.
			s.logger.Warn("could not queue webhook.ping", "tenant", tenantID, "webhook", wh.ID, "err", err)
		}
	}
	resp := newWebhookResponse(wh)
	resp.Secret = secret
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// newWebhook validates req and returns the webhook to store with its
// signing secret. Errors are *Error naming the field at fault.
func (s *Server) newWebhook(ctx context.Context, req *createWebhookRequest, tenantID string) (*schemas.Webhook, string, error) {
	if err := checkName(req.Name); err != nil {
		return nil, "", err
	}
	if err := s.checkWebhookURL(ctx, req.URL); err != nil {
		return nil, "", err
	}
	events, err := checkEvents(req.Events)
	if err != nil {
		return nil, "", err
	}
	orgIDs, err := checkOrgIDs(req.OrgIDs)
	if err != nil {
		return nil, "", err
	}
	sig := req.Signature
	if sig.Preset != "" && (sig.Algorithm != "" || sig.Encoding != "" || sig.Header != "" || sig.Prefix != "") {
		return nil, "", invalid("signature", "give either a preset or explicit options (algorithm, encoding, header, prefix), not both")
	}
	if sig.Preset == "" && sig.Algorithm == "" && sig.Header == "" && (sig.Encoding != "" || sig.Prefix != "") {
		return nil, "", invalid("signature", "explicit options need at least a header (and an algorithm, default sha256)")
	}
	signer, err := signature.New(signature.Config(sig))
	if err != nil {
		return nil, "", invalid("signature", "%s", strings.TrimPrefix(err.Error(), "signature: "))
	}
	if sig == (schemas.SignatureConfig{}) {
		sig.Preset = signer.Preset() // "standard", shown explicitly
	}
	secret := req.Secret
	if secret == "" {
		secret = signer.NewSecret()
	} else if len(secret) > maxSecretLength {
		return nil, "", invalid("secret", "is longer than %d characters", maxSecretLength)
	} else if err := signer.CheckSecret(secret); err != nil {
		return nil, "", invalid("secret", "%s", strings.TrimPrefix(err.Error(), "signature: "))
	}
	if req.EncryptionKey != "" {
		if _, err := signature.NewCipher(req.EncryptionKey); err != nil {
			return nil, "", invalid("encryption_key", "must be base64 (standard encoding) of exactly 32 bytes")
		}
	}
	headers, err := checkHeaders(req.Headers, sig)
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC()
	return &schemas.Webhook{
		ID:             schemas.NewWebhookID(),
		TenantID:       tenantID,
		Name:           req.Name,
		URL:            req.URL,
		Events:         events,
		OrgIDs:         orgIDs,
		Signature:      sig,
		Secrets:        []schemas.Secret{{Value: secret}},
		EncryptionKey:  req.EncryptionKey,
		IncludePayload: req.IncludePayload == nil || *req.IncludePayload,
		Headers:        headers,
		Enabled:        req.Enabled == nil || *req.Enabled,
		CreatedAt:      now,
		UpdatedAt:      now,
	}, secret, nil
}

// checkWebhookURL accepts an absolute http or https URL with a host that
// passes the destination policy.
func (s *Server) checkWebhookURL(ctx context.Context, raw string) error {
	switch {
	case raw == "":
		return invalid("url", "is required")
	case len(raw) > maxURLLength:
		return invalid("url", "is %d characters long; the limit is %d", len(raw), maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url", "is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("url", "must be an absolute http or https URL")
	}
	if u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return invalid("url", "must have a host")
	}
	if s.checkURL != nil {
		if err := s.checkURL(ctx, u); err != nil {
			return invalid("url", "is not allowed: %s", err.Error())
		}
	}
	return nil
}

// checkEvents validates the subscription patterns and returns them
// deduplicated, in the order given; "*" replaces every other entry.
func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, invalid("events", `must list at least one event type, family ("sync.*") or "*"`)
	}
	families := schemas.Families()
	out := make([]string, 0, len(events))
	for _, e := range events {
		switch {
		case e == schemas.Wildcard:
		case strings.HasPrefix(e, schemas.ReservedFamily+"."):
			return nil, invalid("events", "%q: %s.* events are sent by Hookstream itself and cannot be subscribed to", e, schemas.ReservedFamily)
		case strings.HasSuffix(e, ".*"):
			if fam := strings.TrimSuffix(e, ".*"); !slices.Contains(families, fam) {
				return nil, invalid("events", "%q: unknown family; families are %s", e, strings.Join(subscribableFamilies(families), ", "))
			}
		default:
			if _, ok := schemas.LookupType(e); !ok {
				return nil, invalid("events", "%q is not an event type (GET /v1/event-types lists them)", e)
			}
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if slices.Contains(out, schemas.Wildcard) {
		return []string{schemas.Wildcard}, nil
	}
	return out, nil
}

func subscribableFamilies(all []string) []string {
	out := make([]string, 0, len(all))
	for _, f := range all {
		if f != schemas.ReservedFamily {
			out = append(out, f+".*")
		}
	}
	return out
}

func checkOrgIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		switch {
		case id == "":
			return nil, invalid("org_ids", "entries must not be empty")
		case len(id) > maxOrgIDLength:
			return nil, invalid("org_ids", "an entry is %d characters long; the limit is %d", len(id), maxOrgIDLength)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// reservedHeaders are set by the sender and cannot be overridden
// (canonical form). Names starting with "Webhook-" are reserved too.
var reservedHeaders = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding",
	"Host", "User-Agent", "Connection", "Traceparent", "Tracestate",
}

// checkHeaders validates the custom headers and returns them with canonical
// names.
func checkHeaders(headers map[string]string, sig schemas.SignatureConfig) (map[string]string, error) {
	if len(headers) == 0 {
		return nil, nil
	}
	if len(headers) > maxHeaders {
		return nil, invalid("headers", "has %d entries; the limit is %d", len(headers), maxHeaders)
	}
	reserved := slices.Clone(reservedHeaders)
	sigHeader := sig.Header
	if p, ok := signature.Presets[sig.Preset]; ok {
		sigHeader = p.Header
	}
	if sigHeader != "" {
		reserved = append(reserved, http.CanonicalHeaderKey(sigHeader))
	}
	reserved = append(reserved, http.CanonicalHeaderKey(signature.IVHeader(sig.Preset)))
	if sig.Preset == "trutac" {
		reserved = append(reserved, "Tt-Hook-Event")
	}
	out := make(map[string]string, len(headers))
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		value := headers[name]
		if !validHeaderName(name) {
			return nil, invalid("headers", "%q is not a valid header name", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if slices.Contains(reserved, canon) || strings.HasPrefix(canon, "Webhook-") {
			return nil, invalid("headers", "%q is set by Hookstream and cannot be overridden", name)
		}
		if _, dup := out[canon]; dup {
			return nil, invalid("headers", "%q is given twice", canon)
		}
		if len(value) > maxHeaderValue || !validHeaderValue(value) {
			return nil, invalid("headers", "the value of %q is not a valid header value (printable, at most %d bytes)", name, maxHeaderValue)
		}
		out[canon] = value
	}
	return out, nil
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// listWebhooks handles GET /v1/webhooks.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, tenantID string) error {
	hooks, err := s.store.List(r.Context(), tenantID)
	if err != nil {
		return err
	}
	resp := listWebhooksResponse{Data: make([]webhookResponse, 0, len(hooks))}
	for _, h := range hooks {
		resp.Data = append(resp.Data, newWebhookResponse(h))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getWebhook handles GET /v1/webhooks/{id}.
func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, tenantID string) error {
	wh, err := s.webhook(r.Context(), tenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newWebhookResponse(wh))
	return nil
}

// deleteWebhook handles DELETE /v1/webhooks/{id}.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, tenantID string) error {
	id := r.PathValue("id")
	if err := s.store.Delete(r.Context(), tenantID, id); err != nil {
		if errors.Is(err, subscription.ErrNotFound) {
			return notFound("webhook")
		}
		return err
	}
	s.logger.Info("webhook deleted", "tenant", tenantID, "webhook", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// webhook returns the tenant's webhook, or a 404 *Error.
func (s *Server) webhook(ctx context.Context, tenantID, id string) (*schemas.Webhook, error) {
	wh, err := s.store.Get(ctx, tenantID, id)
	if errors.Is(err, subscription.ErrNotFound) {
		return nil, notFound("webhook")
	}
	return wh, err
}

// pingTimeout bounds queueing the ping of a new webhook.
const pingTimeout = 5 * time.Second

// pingMessage is the message of the webhook.ping sent to a new webhook.
const pingMessage = "Hookstream will deliver events to this URL. This ping checks that it answers."

// ping queues a webhook.ping delivery for wh alone: straight to DELIVERIES,
// not through EVENTS, where it would reach every "*" subscriber.
func (s *Server) ping(ctx context.Context, wh *schemas.Webhook) error {
	data, err := json.Marshal(schemas.PingData{WebhookID: wh.ID, Message: pingMessage})
	if err != nil {
		return err
	}
	now := s.now().UTC()
	ev := schemas.Event{
		ID:         schemas.NewEventID(),
		Type:       schemas.TypeWebhookPing,
		TenantID:   wh.TenantID,
		OccurredAt: now,
		Data:       data,
	}
	d := schemas.Delivery{
		ID:        schemas.DeliveryID(ev.ID, wh.ID),
		EventID:   ev.ID,
		EventType: ev.Type,
		TenantID:  wh.TenantID,
		WebhookID: wh.ID,
		CreatedAt: now,
		Payload:   schemas.AppendJSON(nil, &ev, true),
	}
	b, err := schemas.Marshal(nil, &d)
	if err != nil {
		return err
	}
	_, err = s.broker.JS.PublishMsg(ctx, &nats.Msg{
		Subject: broker.DeliverySubject(wh.TenantID, wh.ID),
		Data:    b,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{d.ID}},
	})
	if err != nil {
		return fmt.Errorf("api: publish ping: %w", err)
	}
	return nil
}
