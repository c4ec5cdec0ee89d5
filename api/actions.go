package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
	"github.com/hookstream/hookstream/subscription"
)

// Messages of Hookstream's own events.
const (
	pingMessage = "Hookstream will deliver events to this URL. This ping checks that it answers."
	testMessage = "This is a test event sent from Hookstream."
)

// pingTimeout bounds queueing the ping of a new webhook.
const pingTimeout = 5 * time.Second

// ownDelivery builds a delivery of one of Hookstream's own events
// (webhook.ping, webhook.test) for wh alone.
func (s *Server) ownDelivery(wh *schemas.Webhook, typ, message string) (schemas.Delivery, error) {
	data, err := json.Marshal(schemas.PingData{WebhookID: wh.ID, Message: message})
	if err != nil {
		return schemas.Delivery{}, err
	}
	now := s.now().UTC()
	ev := schemas.Event{ID: schemas.NewEventID(), Type: typ, TenantID: wh.TenantID, OccurredAt: now, Data: data}
	return schemas.Delivery{
		ID:        schemas.DeliveryID(ev.ID, wh.ID),
		EventID:   ev.ID,
		EventType: ev.Type,
		TenantID:  wh.TenantID,
		WebhookID: wh.ID,
		CreatedAt: now,
		Payload:   schemas.AppendJSON(nil, &ev, wh.IncludePayload),
	}, nil
}

// ping queues a webhook.ping delivery for wh alone: straight to DELIVERIES,
// not through EVENTS, where it would reach every "*" subscriber. It is
// retried and logged like any delivery.
func (s *Server) ping(ctx context.Context, wh *schemas.Webhook) error {
	d, err := s.ownDelivery(wh, schemas.TypeWebhookPing, pingMessage)
	if err != nil {
		return err
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

// testWebhook handles POST /v1/webhooks/{id}/test: it sends a webhook.test
// now, exactly as a sender would (signed, encrypted if the webhook is), logs
// the attempt, and answers with it. The test is not retried; a receiver's
// failure is a 200 whose outcome says so.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request, tenantID string) error {
	wh, err := s.webhook(r.Context(), tenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	a, err := s.sendTest(r.Context(), wh)
	if err != nil {
		return err
	}
	seq, err := sender.LogAttempt(r.Context(), s.broker.JS, &a)
	if err != nil {
		// The test ran; its answer matters more than the log line.
		s.logger.Warn("test attempt not logged", "tenant", tenantID, "webhook", wh.ID, "err", err)
	}
	writeJSON(w, http.StatusOK, newAttemptItem(attemptPos{seq: seq}, a))
	return nil
}

// testURLRequest is the body of POST /v1/webhooks/test: the "Test URL"
// button of a webhook not created yet. Fields are as in POST /v1/webhooks.
type testURLRequest struct {
	URL            string                  `json:"url"`
	Signature      schemas.SignatureConfig `json:"signature"`
	Secret         string                  `json:"secret"`
	EncryptionKey  string                  `json:"encryption_key"`
	IncludePayload *bool                   `json:"include_payload"`
	Headers        map[string]string       `json:"headers"`
	// Profile, Transform and EventNames shape the test as they would the
	// webhook's deliveries.
	Profile    string            `json:"profile"`
	Transform  string            `json:"transform"`
	EventNames map[string]string `json:"event_names"`
}

// testURL handles POST /v1/webhooks/test: it sends a webhook.test to a URL
// with the given settings (a throwaway secret when none is given) and answers
// with the attempt. Nothing is stored.
func (s *Server) testURL(w http.ResponseWriter, r *http.Request, tenantID string) error {
	var req testURLRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.checkWebhookURL(r.Context(), req.URL); err != nil {
		return err
	}
	prof, err := profile(req.Profile)
	if err != nil {
		return err
	}
	d, err := s.checkDialect(req.Transform, "", req.EventNames, nil)
	if err != nil {
		return err
	}
	if prof != nil {
		if req.Signature == (schemas.SignatureConfig{}) {
			req.Signature.Preset = prof.Signature
		}
		if req.IncludePayload == nil {
			req.IncludePayload = &prof.IncludePayload
		}
	}
	sig, signer, err := checkSignature(req.Signature)
	if err != nil {
		return err
	}
	if req.Secret == "" {
		req.Secret = signer.NewSecret()
	} else if err := checkSecret(signer, req.Secret); err != nil {
		return err
	}
	if err := checkEncryptionKey(req.EncryptionKey); err != nil {
		return err
	}
	headers, err := checkHeaders(req.Headers, sig)
	if err != nil {
		return err
	}
	wh := &schemas.Webhook{
		ID: "wh_test", TenantID: tenantID, URL: req.URL, Signature: sig, Headers: headers,
		Secrets: schemas.Secrets{{Value: req.Secret}}, EncryptionKey: req.EncryptionKey,
		IncludePayload: req.IncludePayload == nil || *req.IncludePayload, Enabled: true,
		Profile: req.Profile, Transform: req.Transform, EventNames: d.names,
	}
	a, err := s.sendTest(r.Context(), wh)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newAttemptItem(attemptPos{}, a))
	return nil
}

// sendTest POSTs a webhook.test to wh now and returns the attempt.
func (s *Server) sendTest(ctx context.Context, wh *schemas.Webhook) (schemas.Attempt, error) {
	d, err := s.ownDelivery(wh, schemas.TypeWebhookTest, testMessage)
	if err != nil {
		return schemas.Attempt{}, err
	}
	at := s.now().UTC()
	// The attempt runs to completion even if the client hangs up, so that
	// what the receiver saw is logged.
	ctx = context.WithoutCancel(ctx)
	out, err := s.shaper.Shape(ctx, wh, &d, 1, at)
	if err != nil {
		// Nothing could be sent: the attempt says why, as the delivery log
		// does for a delivery whose transform fails.
		res := sender.Result{Outcome: schemas.OutcomeError, Error: err.Error()}
		return sender.NewAttempt(&d, wh, 1, at, &res), nil
	}
	res := s.client.Send(ctx, wh, &d, at, out)
	return sender.NewAttempt(&d, wh, 1, at, &res), nil
}

// rotateSecretRequest is the optional body of POST /v1/webhooks/{id}/rotate-secret.
type rotateSecretRequest struct {
	// Secret is the new secret; generated when empty.
	Secret string `json:"secret"`
	// GracePeriod is how long the replaced secret keeps signing beside the
	// new one, as a Go duration ("24h", "30m", "0s"). Default 24h, at most 7
	// days.
	GracePeriod string `json:"grace_period"`
}

// Bounds of a rotation's grace period.
const (
	defaultGracePeriod = 24 * time.Hour
	maxGracePeriod     = 7 * 24 * time.Hour
)

// rotateSecret handles POST /v1/webhooks/{id}/rotate-secret: a new secret
// becomes current and is shown once; the replaced one keeps signing beside
// it (where the scheme carries several signatures) for the grace period.
func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request, tenantID string) error {
	wh, err := s.webhook(r.Context(), tenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if wh.SigningKey == dialect.SigningKeyTenant {
		return &Error{Status: http.StatusConflict, Code: codeConflict,
			Message: "the webhook signs with its tenant's signing key: rotate that with POST /v1/signing-key/rotate"}
	}
	var req rotateSecretRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	grace, err := gracePeriod(req.GracePeriod)
	if err != nil {
		return err
	}
	_, signer, err := checkSignature(wh.Signature)
	if err != nil {
		return err
	}
	if req.Secret == "" {
		req.Secret = signer.NewSecret()
	} else if err := checkSecret(signer, req.Secret); err != nil {
		return err
	}
	now := s.now().UTC()
	updated, err := s.store.Update(r.Context(), tenantID, wh.ID, func(c *schemas.Webhook) error {
		c.RotateSecret(req.Secret, now, grace)
		c.UpdatedAt = now
		return nil
	})
	if err != nil {
		if errors.Is(err, subscription.ErrNotFound) {
			return notFound("webhook")
		}
		return err
	}
	s.logger.Info("webhook secret rotated", "tenant", tenantID, "webhook", wh.ID, "grace_period", grace.String())
	s.syncIndex(r.Context())
	resp := s.webhookResponse(updated)
	resp.Secret = req.Secret
	writeJSON(w, http.StatusOK, resp)
	return nil
}
