package schemas

import (
	"slices"
	"strings"
	"time"
)

// Webhook is a tenant's subscription: where to POST which events, and how to
// sign them. It is stored in the webhooks KV bucket (msgpack) and watched by the
// router and the senders. Secret material never leaves as JSON: Secrets and
// EncryptionKey are excluded from the API representation.
type Webhook struct {
	ID       string `json:"id" msgpack:"id"`
	TenantID string `json:"tenant_id" msgpack:"tenant_id"`
	Name     string `json:"name" msgpack:"name"`
	URL      string `json:"url" msgpack:"url"`
	// Events holds exact types ("sync.completed"), families ("sync.*") or the
	// single entry "*" (every current and future type).
	Events []string `json:"events" msgpack:"events"`
	// OrgIDs limits the webhook to events of these organisations; empty = all.
	OrgIDs         []string          `json:"org_ids" msgpack:"org_ids"`
	Signature      SignatureConfig   `json:"signature" msgpack:"signature"`
	Secrets        Secrets           `json:"-" msgpack:"secrets"`
	EncryptionKey  string            `json:"-" msgpack:"encryption_key,omitempty"`
	IncludePayload bool              `json:"include_payload" msgpack:"include_payload"`
	Headers        map[string]string `json:"headers,omitempty" msgpack:"headers,omitempty"`
	Enabled        bool              `json:"enabled" msgpack:"enabled"`
	DisabledReason string            `json:"disabled_reason,omitempty" msgpack:"disabled_reason,omitempty"`
	// DeadLetterClientErrors sends a delivery answered with a 4xx (other
	// than 408, 425 and 429) straight to the dead letters instead of
	// retrying it; by default 4xx answers are retried, since receivers
	// misconfigure.
	DeadLetterClientErrors bool `json:"dead_letter_client_errors" msgpack:"dead_letter_client_errors,omitempty"`
	// Profile names the vendor dialect the webhook speaks ("tartan",
	// "bindbee", "trutac", "teal"; see package dialect): its transform,
	// event names and retry schedule apply where the webhook sets none.
	Profile string `json:"profile,omitempty" msgpack:"profile,omitempty"`
	// Transform is a jq program whose output is the body sent; empty
	// sends the event itself (or the profile's transform).
	Transform string `json:"transform,omitempty" msgpack:"transform,omitempty"`
	// Filter is a jq expression: the webhook gets only the events for
	// which it yields true. Empty lets every subscribed event through.
	Filter string `json:"filter,omitempty" msgpack:"filter,omitempty"`
	// EventNames maps catalog types to the names the receiver expects,
	// over the profile's: they go in the event-type header and to the
	// transform.
	EventNames map[string]string `json:"event_names,omitempty" msgpack:"event_names,omitempty"`
	// RetrySchedule is the wait before each retry, instead of the
	// sender's (or the profile's); nil keeps those.
	RetrySchedule []time.Duration `json:"-" msgpack:"retry_schedule,omitempty"`
	// SigningKey says whose secrets sign its deliveries: "webhook" (its
	// own Secrets; empty means the same) or "tenant" (the tenant's
	// organisation-wide signing key).
	SigningKey string    `json:"signing_key,omitempty" msgpack:"signing_key,omitempty"`
	CreatedAt  time.Time `json:"created_at" msgpack:"created_at"`
	UpdatedAt  time.Time `json:"updated_at" msgpack:"updated_at"`
}

// Encrypted reports whether deliveries to w are encrypted; the API shows this
// instead of the key.
func (w *Webhook) Encrypted() bool { return w.EncryptionKey != "" }

// SignatureConfig chooses how deliveries are signed. Preset names a scheme
// ("standard", the default); the explicit fields describe an HMAC over the
// body for receivers with their own convention.
type SignatureConfig struct {
	Preset    string `json:"preset,omitempty" msgpack:"preset,omitempty"`
	Algorithm string `json:"algorithm,omitempty" msgpack:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty" msgpack:"encoding,omitempty"`
	Header    string `json:"header,omitempty" msgpack:"header,omitempty"`
	Prefix    string `json:"prefix,omitempty" msgpack:"prefix,omitempty"`
}

// Secret is one signing secret. The current secret has a zero ExpiresAt; a
// rotated-out secret keeps signing beside it until ExpiresAt.
type Secret struct {
	Value     string    `msgpack:"value"`
	ExpiresAt time.Time `msgpack:"expires_at,omitempty"`
}

// Secrets are the secrets of a webhook or of a tenant's signing key: the
// current one first, then rotated-out ones until they expire.
type Secrets []Secret

// Active returns the secrets that sign at time now, current first.
func (ss Secrets) Active(now time.Time) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s.Value)
		}
	}
	return out
}

// Current returns the current secret, or "" when there is none.
func (ss Secrets) Current() string {
	for _, s := range ss {
		if s.ExpiresAt.IsZero() {
			return s.Value
		}
	}
	return ""
}

// MaxPreviousSecrets bounds the rotated-out secrets a webhook keeps signing
// with at once.
const MaxPreviousSecrets = 10

// Rotate returns the secrets with secret current. The secret it replaces
// keeps signing beside it until now+grace (not at all when grace is zero);
// secrets already expired are dropped, and at most MaxPreviousSecrets old
// ones kept.
func (ss Secrets) Rotate(secret string, now time.Time, grace time.Duration) Secrets {
	out := Secrets{{Value: secret}}
	for _, s := range ss {
		if s.ExpiresAt.IsZero() {
			if grace <= 0 {
				continue
			}
			s.ExpiresAt = now.Add(grace)
		}
		if now.Before(s.ExpiresAt) && s.Value != secret && len(out) <= MaxPreviousSecrets {
			out = append(out, s)
		}
	}
	return out
}

// PreviousExpireAt is when the last rotated-out secret stops signing, or
// the zero time when only the current secret signs.
func (ss Secrets) PreviousExpireAt(now time.Time) time.Time {
	var last time.Time
	for _, s := range ss {
		if !s.ExpiresAt.IsZero() && now.Before(s.ExpiresAt) && s.ExpiresAt.After(last) {
			last = s.ExpiresAt
		}
	}
	return last
}

// ActiveSecrets returns the secrets that sign at time now, current first.
func (w *Webhook) ActiveSecrets(now time.Time) []string { return w.Secrets.Active(now) }

// RotateSecret makes secret the current one (see Secrets.Rotate).
func (w *Webhook) RotateSecret(secret string, now time.Time, grace time.Duration) {
	w.Secrets = w.Secrets.Rotate(secret, now, grace)
}

// PreviousSecretsExpireAt is when the last rotated-out secret stops signing,
// or the zero time when only the current secret signs.
func (w *Webhook) PreviousSecretsExpireAt(now time.Time) time.Time {
	return w.Secrets.PreviousExpireAt(now)
}

// SigningKey is a tenant's organisation-wide signing key (KV signing_keys,
// key: the tenant id): the secrets of the webhooks whose SigningKey is
// "tenant". It is rotated like a webhook's secret.
type SigningKey struct {
	TenantID  string    `msgpack:"tenant_id"`
	Secrets   Secrets   `msgpack:"secrets"`
	CreatedAt time.Time `msgpack:"created_at"`
	RotatedAt time.Time `msgpack:"rotated_at,omitempty"`
}

// Wildcard is the subscription entry that matches every event type.
const Wildcard = "*"

// MatchesType reports whether pattern (an exact type, "family.*" or "*")
// matches eventType.
func MatchesType(pattern, eventType string) bool {
	switch {
	case pattern == Wildcard:
		return true
	case strings.HasSuffix(pattern, ".*"):
		fam := pattern[:len(pattern)-1] // keep the dot
		return strings.HasPrefix(eventType, fam)
	default:
		return pattern == eventType
	}
}

// Matches reports whether w wants ev: enabled or not, the type and the org
// filter must match. Callers decide what to do with disabled webhooks.
func (w *Webhook) Matches(eventType, orgID string) bool {
	if len(w.OrgIDs) > 0 && !slices.Contains(w.OrgIDs, orgID) {
		return false
	}
	for _, p := range w.Events {
		if MatchesType(p, eventType) {
			return true
		}
	}
	return false
}

// WebhookHealth is what the senders share about a webhook's recent outcomes
// (KV webhook_health): since when every attempt has failed, if they do,
// whether a sender's circuit breaker holds its deliveries back, and until
// when the senders send its deliveries back for later.
type WebhookHealth struct {
	FailingSince time.Time `json:"failing_since,omitzero" msgpack:"failing_since,omitempty"`
	// CircuitOpenUntil is when the last circuit that opened lets a probe
	// through; zero or past when no circuit is open.
	CircuitOpenUntil time.Time `json:"circuit_open_until,omitzero" msgpack:"circuit_open_until,omitempty"`
	// HoldUntil is until when a sender last found the webhook busy: its
	// circuit open, its receiver asking to wait with Retry-After, or its
	// queue keeping a slow or silent receiver busy. The routers schedule
	// the webhook's new deliveries for then rather than hand them to
	// senders that would only queue them or send them back. Zero or past
	// when deliveries flow.
	HoldUntil time.Time `json:"hold_until,omitzero" msgpack:"hold_until,omitempty"`
}

// Tenant is one customer of the platform. Only the SHA-256 of its token is
// stored.
type Tenant struct {
	ID        string    `json:"id" msgpack:"id"`
	Name      string    `json:"name" msgpack:"name"`
	TokenHash string    `json:"-" msgpack:"token_hash"`
	CreatedAt time.Time `json:"created_at" msgpack:"created_at"`
}
