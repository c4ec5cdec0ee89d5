package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/signature"
)

// A tenant's signing key is organisation-wide, as Bindbee's is: the webhooks
// that ask for it (signing_key: tenant) sign with it, it can be read again
// (each read is kept in AUDIT), and rotated with a grace period during which
// both the old and the new key sign. A webhook's own secret can be read
// again the same way.

// signingKeyResponse is GET /v1/signing-key and its rotation's answer.
type signingKeyResponse struct {
	Secret string `json:"secret"`
	// PreviousSecretExpiresAt is when the key replaced by the last
	// rotation stops signing; null when only the current key signs.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	RotatedAt               *time.Time `json:"rotated_at"`
}

func (s *Server) signingKeyResponse(k *schemas.SigningKey) signingKeyResponse {
	r := signingKeyResponse{Secret: k.Secrets.Current(), CreatedAt: k.CreatedAt}
	if t := k.Secrets.PreviousExpireAt(s.now()); !t.IsZero() {
		r.PreviousSecretExpiresAt = &t
	}
	if !k.RotatedAt.IsZero() {
		r.RotatedAt = &k.RotatedAt
	}
	return r
}

// newTenantKey is a fresh signing key: a Standard Webhooks secret, which
// every scheme can sign with (the HMAC presets use it as it is written).
func newTenantKey() string {
	sg, _ := signature.New(signature.Config{Preset: "standard"})
	return sg.NewSecret()
}

// errNoKeys answers when the API has no signing_keys bucket.
var errNoKeys = &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable,
	Message: "signing keys are not available: the signing_keys bucket is not bound"}

// tenantKey returns the tenant's current signing key for the answer to a
// webhook's creation or change, creating it the first time; a key that
// existed before is a reveal, and audited as one.
func (s *Server) tenantKey(ctx context.Context, tenantID, webhookID string) (string, error) {
	if s.keys == nil {
		return "", errNoKeys
	}
	k, created, err := s.keys.Ensure(ctx, tenantID, newTenantKey, s.now())
	if err != nil {
		return "", err
	}
	if created {
		s.logger.Info("tenant signing key created", "tenant", tenantID)
	} else if err := s.audit(ctx, schemas.AuditSecretRevealed, tenantID, webhookID,
		"the tenant's signing key was returned to a webhook moved onto it"); err != nil {
		return "", err
	}
	return k.Secrets.Current(), nil
}

// audit records what a tenant read or changed of its secrets; the answer
// waits for the record, so nothing is revealed unrecorded.
func (s *Server) audit(ctx context.Context, kind schemas.AuditKind, tenantID, webhookID, reason string) error {
	m, err := broker.AuditMsg(&schemas.AuditRecord{Kind: kind, TenantID: tenantID, WebhookID: webhookID, Reason: reason, At: s.now().UTC()})
	if err != nil {
		return err
	}
	if _, err := s.broker.JS.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("api: audit: %w", err)
	}
	return nil
}

// getSigningKey handles GET /v1/signing-key: the tenant's signing key,
// created the first time it is asked for. Each read is audited.
func (s *Server) getSigningKey(w http.ResponseWriter, r *http.Request, tenantID string) error {
	if s.keys == nil {
		return errNoKeys
	}
	k, _, err := s.keys.Ensure(r.Context(), tenantID, newTenantKey, s.now())
	if err != nil {
		return err
	}
	if err := s.audit(r.Context(), schemas.AuditSecretRevealed, tenantID, "", "the tenant's signing key was read (GET /v1/signing-key)"); err != nil {
		return err
	}
	s.logger.Info("tenant signing key read", "tenant", tenantID)
	writeJSON(w, http.StatusOK, s.signingKeyResponse(k))
	return nil
}

// rotateSigningKey handles POST /v1/signing-key/rotate: a new key (given,
// or generated) becomes current; the replaced one keeps signing beside it
// for the grace period (default 24 h, at most 7 days).
func (s *Server) rotateSigningKey(w http.ResponseWriter, r *http.Request, tenantID string) error {
	if s.keys == nil {
		return errNoKeys
	}
	var req rotateSecretRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	grace, err := gracePeriod(req.GracePeriod)
	if err != nil {
		return err
	}
	if req.Secret == "" {
		req.Secret = newTenantKey()
	} else if err := checkTenantKey(req.Secret); err != nil {
		return err
	}
	k, err := s.keys.Rotate(r.Context(), tenantID, req.Secret, s.now(), grace)
	if err != nil {
		return err
	}
	if err := s.audit(r.Context(), schemas.AuditSigningKeyRotated, tenantID, "",
		fmt.Sprintf("the tenant's signing key was rotated; the old one signs for %s more", grace)); err != nil {
		return err
	}
	s.logger.Info("tenant signing key rotated", "tenant", tenantID, "grace_period", grace.String())
	writeJSON(w, http.StatusOK, s.signingKeyResponse(k))
	return nil
}

// checkTenantKey accepts a key every scheme can sign with: a Standard
// Webhooks secret (whsec_ and base64 of 16 to 64 bytes).
func checkTenantKey(secret string) error {
	sg, _ := signature.New(signature.Config{Preset: "standard"})
	if len(secret) > maxSecretLength || sg.CheckSecret(secret) != nil {
		return invalid("secret", "a tenant's signing key must be a Standard Webhooks secret (whsec_ and base64), which every scheme can sign with")
	}
	return nil
}

// webhookSecretResponse is GET /v1/webhooks/{id}/secret.
type webhookSecretResponse struct {
	// SigningKey says whose secret it is: "webhook" or "tenant".
	SigningKey string `json:"signing_key"`
	Secret     string `json:"secret"`
	// PreviousSecretExpiresAt is when the secret replaced by the last
	// rotation stops signing.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// getWebhookSecret handles GET /v1/webhooks/{id}/secret: the secret the
// webhook signs with now (its tenant's key, for signing_key: tenant). Each
// read is audited.
func (s *Server) getWebhookSecret(w http.ResponseWriter, r *http.Request, tenantID string) error {
	wh, err := s.webhook(r.Context(), tenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	resp := webhookSecretResponse{SigningKey: dialect.SigningKeyWebhook}
	secrets := wh.Secrets
	if wh.SigningKey == dialect.SigningKeyTenant {
		if s.keys == nil {
			return errNoKeys
		}
		k, found, err := s.keys.SigningKey(r.Context(), tenantID)
		if err != nil {
			return err
		}
		if !found {
			return &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "the tenant has no signing key yet (GET /v1/signing-key creates it)"}
		}
		resp.SigningKey, secrets = dialect.SigningKeyTenant, k.Secrets
	}
	resp.Secret = secrets.Current()
	if t := secrets.PreviousExpireAt(s.now()); !t.IsZero() && signsWithSeveral(wh.Signature) {
		resp.PreviousSecretExpiresAt = &t
	}
	if err := s.audit(r.Context(), schemas.AuditSecretRevealed, tenantID, wh.ID,
		"the webhook's secret was read (GET /v1/webhooks/{id}/secret)"); err != nil {
		return err
	}
	s.logger.Info("webhook secret read", "tenant", tenantID, "webhook", wh.ID)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// signsWithSeveral reports whether sig's scheme carries several signatures
// (Standard Webhooks), so that a rotated-out secret keeps signing beside the
// new one; the vendor presets carry one, made with the newest.
func signsWithSeveral(sig schemas.SignatureConfig) bool {
	sg, err := signature.New(signature.Config(sig))
	return err == nil && sg.Standard()
}

// gracePeriod reads a rotation's grace period ("24h"): default 24 h, at
// most 7 days.
func gracePeriod(v string) (time.Duration, error) {
	if v == "" {
		return defaultGracePeriod, nil
	}
	grace, err := time.ParseDuration(v)
	if err != nil || grace < 0 || grace > maxGracePeriod {
		return 0, invalid("grace_period", "must be a duration from 0s to %s, such as 24h", "168h")
	}
	return grace, nil
}
