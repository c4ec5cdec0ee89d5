package api

import (
	"cmp"
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

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
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
	// IncludePayload defaults to true (the profile's default under a
	// profile); Teal's requests may send it as "true" or "false".
	IncludePayload json.RawMessage   `json:"include_payload"`
	Headers        map[string]string `json:"headers"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled"`
	// DeadLetterClientErrors sends 4xx answers (but 408, 410, 425, 429)
	// to the dead letters at once instead of retrying them.
	DeadLetterClientErrors bool `json:"dead_letter_client_errors"`
	// Profile sets, in one word, a vendor's dialect (GET /v1/profiles).
	Profile string `json:"profile"`
	// Transform is a jq program whose output is the body sent.
	Transform string `json:"transform"`
	// Filter is a jq expression that must yield true for an event.
	Filter string `json:"filter"`
	// EventNames maps catalog types to the receiver's names.
	EventNames map[string]string `json:"event_names"`
	// RetrySchedule replaces the sender's, as --retry-schedule is written.
	RetrySchedule *string `json:"retry_schedule"`
	// SigningKey is "webhook" (its own secret, the default) or "tenant".
	SigningKey string `json:"signing_key"`
	// SigningSecret is Teal's name for secret, taken with profile teal.
	SigningSecret string `json:"signing_secret"`
}

// webhookResponse is a webhook as the API shows it: never its secrets or
// encryption key, only whether it encrypts and until when a rotated-out
// secret still signs. Secret is set only in the answer to its creation, to a
// rotation, or to a change of scheme that needed a new secret.
type webhookResponse struct {
	*schemas.Webhook
	Encrypted bool `json:"encrypted"`
	// PreviousSecretExpiresAt is when the secret replaced by the last
	// rotation stops signing; null when only the current secret signs
	// (always, for the schemes that carry one signature).
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	Secret                  string     `json:"secret,omitempty"`
	// DeadLetters, set in the answer to a PATCH that re-enabled the
	// webhook, is how many of its dead letters wait for a replay, and
	// ReplayHint says how to replay them now.
	DeadLetters *int   `json:"dead_letters,omitempty"`
	ReplayHint  string `json:"replay_hint,omitempty"`
	// EventTypes are the subscriptions in the catalog's types; Events shows
	// them in the receiver's names where the webhook's dialect has them.
	EventTypes []string `json:"event_types"`
	// RetrySchedule is the webhook's own; null keeps the sender's (or the
	// profile's, EffectiveRetrySchedule).
	RetrySchedule          *string `json:"retry_schedule"`
	EffectiveRetrySchedule *string `json:"effective_retry_schedule,omitempty"`
}

func (s *Server) webhookResponse(w *schemas.Webhook) webhookResponse {
	c := *w
	if c.Events == nil {
		c.Events = []string{}
	}
	if c.OrgIDs == nil {
		c.OrgIDs = []string{}
	}
	if c.SigningKey == "" {
		c.SigningKey = defaultSigningKey
	}
	settings := dialect.SettingsOf(w)
	resp := webhookResponse{Webhook: &c, Encrypted: w.Encrypted(), EventTypes: c.Events}
	c.Events = displayEvents(c.Events, settings.Names)
	if w.RetrySchedule != nil {
		rs := sender.FormatRetrySchedule(w.RetrySchedule)
		resp.RetrySchedule = &rs
	}
	if settings.RetrySchedule != nil {
		rs := sender.FormatRetrySchedule(settings.RetrySchedule)
		resp.EffectiveRetrySchedule = &rs
	}
	if t := w.PreviousSecretsExpireAt(s.now()); !t.IsZero() && signsWithSeveral(w.Signature) {
		resp.PreviousSecretExpiresAt = &t
	}
	return resp
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
	if wh.SigningKey == dialect.SigningKeyTenant {
		if secret, err = s.tenantKey(r.Context(), tenantID, wh.ID); err != nil {
			return err
		}
	}
	if err := s.store.Create(r.Context(), wh); err != nil {
		return fmt.Errorf("api: create webhook: %w", err)
	}
	s.logger.Info("webhook created", "tenant", tenantID, "webhook", wh.ID)
	s.syncIndex(r.Context())
	if wh.Enabled {
		// The webhook exists now: queue its ping even if the client hangs up.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), pingTimeout)
		defer cancel()
		if err := s.ping(ctx, wh); err != nil {
			// The webhook exists; a lost ping is not worth failing the request.
			s.logger.Warn("could not queue webhook.ping", "tenant", tenantID, "webhook", wh.ID, "err", err)
		}
	}
	resp := s.webhookResponse(wh)
	resp.Secret = secret
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// newWebhook validates req and returns the webhook to store with its
// signing secret. Errors are *Error naming the field at fault.
func (s *Server) newWebhook(ctx context.Context, req *createWebhookRequest, tenantID string) (*schemas.Webhook, string, error) {
	prof, err := profile(req.Profile)
	if err != nil {
		return nil, "", err
	}
	teal := req.Profile == profileTeal
	if req.SigningSecret != "" {
		if !teal {
			return nil, "", invalid("signing_secret", "is Teal's name for secret: use secret (or profile teal)")
		}
		if req.Secret != "" && req.Secret != req.SigningSecret {
			return nil, "", invalid("signing_secret", "and secret differ: give one of them")
		}
		req.Secret = req.SigningSecret
	}
	include, err := includePayload(req.IncludePayload, teal)
	if err != nil {
		return nil, "", err
	}
	if err := checkName(req.Name); err != nil {
		return nil, "", err
	}
	if err := s.checkWebhookURL(ctx, req.URL); err != nil {
		return nil, "", err
	}
	d, err := s.checkDialect(req.Transform, req.Filter, req.EventNames, req.RetrySchedule)
	if err != nil {
		return nil, "", err
	}
	wh := &schemas.Webhook{Profile: req.Profile, Transform: req.Transform, Filter: req.Filter, EventNames: d.names,
		RetrySchedule: d.schedule}
	events, err := checkEvents(resolveEvents(req.Events, dialect.SettingsOf(wh).Names))
	if err != nil {
		return nil, "", err
	}
	orgIDs, err := checkOrgIDs(req.OrgIDs)
	if err != nil {
		return nil, "", err
	}
	sigReq, signingKey := req.Signature, req.SigningKey
	if prof != nil {
		if sigReq == (schemas.SignatureConfig{}) {
			sigReq.Preset = prof.Signature
		}
		if include == nil {
			include = &prof.IncludePayload
		}
		signingKey = cmp.Or(signingKey, prof.SigningKey)
	}
	sig, signer, err := checkSignature(sigReq)
	if err != nil {
		return nil, "", err
	}
	if wh.SigningKey, err = checkSigningKey(signingKey); err != nil {
		return nil, "", err
	}
	secret := req.Secret
	switch {
	case wh.SigningKey == dialect.SigningKeyTenant && secret != "":
		return nil, "", invalid("secret", "the webhook signs with the tenant's signing key (signing_key: tenant): give no secret")
	case wh.SigningKey == dialect.SigningKeyTenant:
	case secret == "":
		secret = signer.NewSecret()
	default:
		if err := checkSecret(signer, secret); err != nil {
			return nil, "", err
		}
	}
	if err := checkEncryptionKey(req.EncryptionKey); err != nil {
		return nil, "", err
	}
	headers, err := checkHeaders(req.Headers, sig)
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC()
	wh.ID, wh.TenantID, wh.Name, wh.URL = schemas.NewWebhookID(), tenantID, req.Name, req.URL
	wh.Events, wh.OrgIDs, wh.Signature = events, orgIDs, sig
	if secret != "" {
		wh.Secrets = schemas.Secrets{{Value: secret}}
	}
	wh.EncryptionKey = req.EncryptionKey
	wh.IncludePayload = include == nil || *include
	wh.Headers = headers
	wh.Enabled = req.Enabled == nil || *req.Enabled
	wh.CreatedAt, wh.UpdatedAt = now, now
	wh.DeadLetterClientErrors = req.DeadLetterClientErrors
	return wh, secret, nil
}

// dialectSettings are a request's dialect settings, checked; the compiled
// programs are held so that a preview shapes with them, not a new copy.
type dialectSettings struct {
	transform, filter *dialect.Program
	names             map[string]string
	schedule          []time.Duration
}

// checkDialect checks the dialect settings of a request (nil schedule:
// none given or "").
func (s *Server) checkDialect(transform, filter string, names map[string]string, schedule *string) (dialectSettings, error) {
	var (
		d   dialectSettings
		err error
	)
	if d.transform, err = s.checkProgram("transform", dialect.KindTransform, transform); err != nil {
		return d, err
	}
	if d.filter, err = s.checkProgram("filter", dialect.KindFilter, filter); err != nil {
		return d, err
	}
	if d.names, err = checkEventNames(names); err != nil {
		return d, err
	}
	if schedule != nil {
		if d.schedule, err = checkRetrySchedule(*schedule); err != nil {
			return d, err
		}
	}
	return d, nil
}

// checkSignature validates a signature configuration and returns it as
// stored (the default spelled out as preset "standard") with its signer.
func checkSignature(sig schemas.SignatureConfig) (schemas.SignatureConfig, *signature.Signer, error) {
	if sig.Preset != "" && (sig.Algorithm != "" || sig.Encoding != "" || sig.Header != "" || sig.Prefix != "") {
		return sig, nil, invalid("signature", "give either a preset or explicit options (algorithm, encoding, header, prefix), not both")
	}
	if sig.Preset == "" && sig.Algorithm == "" && sig.Header == "" && (sig.Encoding != "" || sig.Prefix != "") {
		return sig, nil, invalid("signature", "explicit options need at least a header (and an algorithm, default sha256)")
	}
	signer, err := signature.New(signature.Config(sig))
	if err != nil {
		return sig, nil, invalid("signature", "%s", strings.TrimPrefix(err.Error(), "signature: "))
	}
	if sig == (schemas.SignatureConfig{}) {
		sig.Preset = signer.Preset()
	}
	return sig, signer, nil
}

func checkSecret(signer *signature.Signer, secret string) error {
	if len(secret) > maxSecretLength {
		return invalid("secret", "is longer than %d characters", maxSecretLength)
	}
	if err := signer.CheckSecret(secret); err != nil {
		return invalid("secret", "%s", strings.TrimPrefix(err.Error(), "signature: "))
	}
	return nil
}

func checkEncryptionKey(key string) error {
	if key == "" {
		return nil
	}
	if _, err := signature.NewCipher(key); err != nil {
		return invalid("encryption_key", "must be base64 (standard encoding) of exactly 32 bytes")
	}
	return nil
}

// patchWebhookRequest is the body of PATCH /v1/webhooks/{id}: each field
// given replaces the stored one; absent fields are kept.
type patchWebhookRequest struct {
	Name      *string                  `json:"name"`
	URL       *string                  `json:"url"`
	Events    *[]string                `json:"events"`
	OrgIDs    *[]string                `json:"org_ids"`
	Signature *schemas.SignatureConfig `json:"signature"`
	// EncryptionKey "" turns encryption off.
	EncryptionKey  *string            `json:"encryption_key"`
	IncludePayload *bool              `json:"include_payload"`
	Headers        *map[string]string `json:"headers"`
	Enabled        *bool              `json:"enabled"`

	DeadLetterClientErrors *bool `json:"dead_letter_client_errors"`

	// Profile "" removes the profile. A new profile brings its signature
	// preset, include_payload and signing key (unless given too) and
	// clears the webhook's own transform, event names and retry schedule
	// (unless given too), so the profile's apply.
	Profile   *string `json:"profile"`
	Transform *string `json:"transform"`
	Filter    *string `json:"filter"`
	// EventNames replaces the webhook's own names (an empty object
	// removes them).
	EventNames *map[string]string `json:"event_names"`
	// RetrySchedule "" goes back to the sender's (or the profile's).
	RetrySchedule *string `json:"retry_schedule"`
	SigningKey    *string `json:"signing_key"`
}

// patch is a checked PATCH request: what to set.
type patch struct {
	req                  *patchWebhookRequest
	next                 schemas.Webhook // the webhook's dialect settings after the patch
	dialect              bool            // next's dialect settings change
	events, orgIDs       []string
	sig                  schemas.SignatureConfig
	sigChanged           bool
	includePayload       *bool
	signingKey           string
	signingKeyChanged    bool
	headers              map[string]string
	headersChanged       bool
	newSecret, tenantKey string
}

// checkPatch validates req against the stored webhook wh, before the
// update, so a retry of the update function (on a concurrent write) does
// no I/O and cannot fail.
func (s *Server) checkPatch(ctx context.Context, wh *schemas.Webhook, req *patchWebhookRequest) (*patch, error) {
	p := &patch{req: req, next: *wh, sig: wh.Signature, includePayload: req.IncludePayload, signingKey: wh.SigningKey}
	if req.Name != nil {
		if err := checkName(*req.Name); err != nil {
			return nil, err
		}
	}
	if req.URL != nil {
		if err := s.checkWebhookURL(ctx, *req.URL); err != nil {
			return nil, err
		}
	}
	// The dialect: a new profile first, then the settings given over it.
	var prof *dialect.Profile
	profChanged := req.Profile != nil && *req.Profile != wh.Profile
	if req.Profile != nil {
		var err error
		if prof, err = profile(*req.Profile); err != nil {
			return nil, err
		}
	}
	if profChanged {
		p.dialect = true
		p.next.Profile = *req.Profile
		p.next.Transform, p.next.EventNames, p.next.RetrySchedule = "", nil, nil
	}
	given := func(v *string) string {
		if v == nil {
			return ""
		}
		return *v
	}
	var names map[string]string
	if req.EventNames != nil {
		names = *req.EventNames
	}
	d, err := s.checkDialect(given(req.Transform), given(req.Filter), names, req.RetrySchedule)
	if err != nil {
		return nil, err
	}
	if req.Transform != nil {
		p.dialect, p.next.Transform = true, *req.Transform
	}
	if req.Filter != nil {
		p.dialect, p.next.Filter = true, *req.Filter
	}
	if req.EventNames != nil {
		p.dialect, p.next.EventNames = true, d.names
	}
	if req.RetrySchedule != nil {
		p.dialect, p.next.RetrySchedule = true, d.schedule
	}
	if req.Events != nil {
		if p.events, err = checkEvents(resolveEvents(*req.Events, dialect.SettingsOf(&p.next).Names)); err != nil {
			return nil, err
		}
	}
	if req.OrgIDs != nil {
		if p.orgIDs, err = checkOrgIDs(*req.OrgIDs); err != nil {
			return nil, err
		}
	}
	// What a new profile brings, unless given too.
	sigReq := req.Signature
	if profChanged {
		preset, include, key := "standard", true, ""
		if prof != nil {
			preset, include, key = prof.Signature, prof.IncludePayload, prof.SigningKey
		}
		if sigReq == nil {
			sigReq = &schemas.SignatureConfig{Preset: preset}
		}
		if p.includePayload == nil {
			p.includePayload = &include
		}
		if req.SigningKey == nil {
			p.signingKey, p.signingKeyChanged = key, true
		}
	}
	if req.SigningKey != nil {
		if p.signingKey, err = checkSigningKey(*req.SigningKey); err != nil {
			return nil, err
		}
		p.signingKeyChanged = true
	}
	if p.signingKey == dialect.SigningKeyWebhook {
		p.signingKey = ""
	}
	signer := (*signature.Signer)(nil)
	if sigReq != nil {
		if p.sig, signer, err = checkSignature(*sigReq); err != nil {
			return nil, err
		}
		p.sigChanged = true
	}
	if req.EncryptionKey != nil {
		if err := checkEncryptionKey(*req.EncryptionKey); err != nil {
			return nil, err
		}
	}
	if req.Headers != nil || p.sigChanged {
		// A new scheme may reserve a header the webhook sets: check again.
		h := wh.Headers
		if req.Headers != nil {
			h = *req.Headers
		}
		if p.headers, err = checkHeaders(h, p.sig); err != nil {
			return nil, err
		}
		p.headersChanged = true
	}
	// Secrets: the tenant's key, or the webhook's own, which a scheme whose
	// secrets look different (whsec_… for Standard Webhooks) needs anew;
	// a new one is generated here and shown once.
	switch {
	case p.signingKey == dialect.SigningKeyTenant:
		if p.signingKeyChanged && wh.SigningKey != dialect.SigningKeyTenant {
			if p.tenantKey, err = s.tenantKey(ctx, wh.TenantID, wh.ID); err != nil {
				return nil, err
			}
		}
	case signer != nil || (p.signingKeyChanged && wh.SigningKey == dialect.SigningKeyTenant):
		if signer == nil {
			if _, signer, err = checkSignature(p.sig); err != nil {
				return nil, err
			}
		}
		// A webhook leaving its tenant's key gets a secret of its own anew,
		// shown in the answer: an old one from before it moved would sign
		// unseen.
		leaving := p.signingKeyChanged && wh.SigningKey == dialect.SigningKeyTenant
		if leaving || !secretsFit(signer, wh.Secrets) {
			p.newSecret = signer.NewSecret()
		}
	}
	return p, nil
}

// apply sets the patch on c, the stored webhook (again, after a concurrent
// write), and reports whether it enabled the webhook.
func (p *patch) apply(c *schemas.Webhook, now time.Time) (reenabled bool) {
	req := p.req
	if req.Name != nil {
		c.Name = *req.Name
	}
	if req.URL != nil {
		c.URL = *req.URL
	}
	if req.Events != nil {
		c.Events = p.events
	}
	if req.OrgIDs != nil {
		c.OrgIDs = p.orgIDs
	}
	if p.dialect {
		c.Profile, c.Transform, c.Filter = p.next.Profile, p.next.Transform, p.next.Filter
		c.EventNames, c.RetrySchedule = p.next.EventNames, p.next.RetrySchedule
	}
	if p.sigChanged {
		c.Signature = p.sig
	}
	if p.signingKeyChanged {
		c.SigningKey = p.signingKey
	}
	if p.newSecret != "" {
		c.Secrets = schemas.Secrets{{Value: p.newSecret}}
	}
	if req.EncryptionKey != nil {
		c.EncryptionKey = *req.EncryptionKey
	}
	if p.includePayload != nil {
		c.IncludePayload = *p.includePayload
	}
	if req.DeadLetterClientErrors != nil {
		c.DeadLetterClientErrors = *req.DeadLetterClientErrors
	}
	if p.headersChanged {
		c.Headers = p.headers
	}
	if req.Enabled != nil && *req.Enabled != c.Enabled {
		reenabled = *req.Enabled
		c.Enabled = *req.Enabled
		c.DisabledReason = ""
		if !c.Enabled {
			c.DisabledReason = "disabled through the API"
		}
	}
	c.UpdatedAt = now
	return reenabled
}

// patchWebhook handles PATCH /v1/webhooks/{id}.
func (s *Server) patchWebhook(w http.ResponseWriter, r *http.Request, tenantID string) error {
	wh, err := s.webhook(r.Context(), tenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	var req patchWebhookRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := s.checkPatch(r.Context(), wh, &req)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	reenabled := false
	updated, err := s.store.Update(r.Context(), tenantID, wh.ID, func(c *schemas.Webhook) error {
		reenabled = p.apply(c, now) // fn runs again after a concurrent write
		return nil
	})
	if errors.Is(err, subscription.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return err
	}
	s.logger.Info("webhook updated", "tenant", tenantID, "webhook", wh.ID)
	s.syncIndex(r.Context())
	resp := s.webhookResponse(updated)
	resp.Secret = cmp.Or(p.newSecret, p.tenantKey)
	if reenabled {
		// Re-enabling offers to replay what the webhook missed meanwhile.
		s.reenabledNotice(r.Context(), &resp)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// secretsFit reports whether every secret can sign with signer's scheme.
func secretsFit(signer *signature.Signer, secrets []schemas.Secret) bool {
	for _, sec := range secrets {
		if signer.CheckSecret(sec.Value) != nil {
			return false
		}
	}
	return len(secrets) > 0
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
		case e == schemas.TypeWebhookPing || e == schemas.TypeWebhookTest:
			return nil, invalid("events", "%q goes to each webhook on its own (on creation, and from the test button) and cannot be subscribed to", e)
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
		out = append(out, f+".*")
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
		resp.Data = append(resp.Data, s.webhookResponse(h))
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
	writeJSON(w, http.StatusOK, s.webhookResponse(wh))
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
	s.syncIndex(r.Context())
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
