package schemas

import "time"

// Delivery is one event bound for one webhook: the router publishes one per
// matching subscription to the DELIVERIES stream and a sender consumes it.
//
// Payload is the JSON body as rendered by the router (the full event, or the
// thin envelope when the webhook has include_payload off), so senders do no
// JSON work. Signing, encryption and the URL are looked up from the webhook at
// send time, so a changed URL or a rotated secret applies to pending deliveries.
type Delivery struct {
	// ID is the receiver's idempotency key (the webhook-id header): the same
	// across retries and replays of this event to this webhook.
	ID        string    `json:"id" msgpack:"id"`
	EventID   string    `json:"event_id" msgpack:"event_id"`
	EventType string    `json:"event_type" msgpack:"event_type"`
	TenantID  string    `json:"tenant_id" msgpack:"tenant_id"`
	OrgID     string    `json:"org_id,omitempty" msgpack:"org_id,omitempty"`
	WebhookID string    `json:"webhook_id" msgpack:"webhook_id"`
	CreatedAt time.Time `json:"created_at" msgpack:"created_at"`
	// Replays counts how many times this delivery was re-enqueued from the
	// dead letters; each replay gets a fresh attempt budget.
	Replays int `json:"replays,omitempty" msgpack:"replays,omitempty"`
	// Attempts is how many attempts were made before this message: a retry
	// is a new message carrying the count (and History) forward.
	Attempts int `json:"attempts,omitempty" msgpack:"attempts,omitempty"`
	// NotBefore is the earliest time of the next attempt (a retry's delay).
	NotBefore time.Time `json:"not_before,omitzero" msgpack:"not_before,omitempty"`
	// WaitingSince is when a sender first sent the delivery back unattempted
	// (its receiver busy or broken); an attempt clears it.
	WaitingSince time.Time `json:"waiting_since,omitzero" msgpack:"waiting_since,omitempty"`
	// History summarises the attempts of this round, oldest first.
	History []AttemptSummary `json:"history,omitempty" msgpack:"history,omitempty"`
	// Payload is the body to send. A large fan-out leaves it empty: a
	// sender renders the event at EventSeq for the webhook (full or thin)
	// when it sends, so one event to a hundred webhooks is stored once, and
	// inlines it in any retry or dead letter it writes.
	Payload []byte `json:"-" msgpack:"payload,omitempty"`
	// EventSeq is the event's sequence in EVENTS (zero for Hookstream's own
	// pings and tests).
	EventSeq uint64 `json:"-" msgpack:"event_seq,omitempty"`
}

// AttemptSummary is the outcome of one attempt, carried with a delivery
// across retries and kept in its dead letter.
type AttemptSummary struct {
	Attempt    int       `json:"attempt" msgpack:"attempt"`
	At         time.Time `json:"at" msgpack:"at"`
	Outcome    Outcome   `json:"outcome" msgpack:"outcome"`
	StatusCode int       `json:"status_code,omitempty" msgpack:"status_code,omitempty"`
	Error      string    `json:"error,omitempty" msgpack:"error,omitempty"`
}

// DeliveryID is the id of the delivery of an event to a webhook. The router
// uses it as the Nats-Msg-Id, so a redelivered event never queues twice.
func DeliveryID(eventID, webhookID string) string { return eventID + ":" + webhookID }

// Outcome classifies one attempt.
type Outcome string

// Attempt outcomes.
const (
	OutcomeSuccess Outcome = "success" // 2xx
	OutcomeFailed  Outcome = "failed"  // non-2xx answer
	OutcomeError   Outcome = "error"   // no answer: timeout, refused, TLS, DNS, refused destination
)

// Attempt is one HTTP request to a receiver, kept in the ATTEMPTS stream as the
// delivery log.
type Attempt struct {
	DeliveryID string        `json:"delivery_id" msgpack:"delivery_id"`
	EventID    string        `json:"event_id" msgpack:"event_id"`
	EventType  string        `json:"event_type" msgpack:"event_type"`
	TenantID   string        `json:"tenant_id" msgpack:"tenant_id"`
	WebhookID  string        `json:"webhook_id" msgpack:"webhook_id"`
	Attempt    int           `json:"attempt" msgpack:"attempt"`
	URL        string        `json:"url" msgpack:"url"`
	Outcome    Outcome       `json:"outcome" msgpack:"outcome"`
	StatusCode int           `json:"status_code,omitempty" msgpack:"status_code,omitempty"`
	Latency    time.Duration `json:"-" msgpack:"latency"`
	LatencyMS  float64       `json:"latency_ms" msgpack:"-"`
	Error      string        `json:"error,omitempty" msgpack:"error,omitempty"`
	// Response is the start of the receiver's body, capped in size.
	Response string    `json:"response,omitempty" msgpack:"response,omitempty"`
	At       time.Time `json:"at" msgpack:"at"`
	// Final is set on the attempt after which the delivery was dead-lettered.
	Final bool `json:"final,omitempty" msgpack:"final,omitempty"`
	// EventSeq locates the event in EVENTS, to show the body sent.
	EventSeq uint64 `json:"-" msgpack:"event_seq,omitempty"`
	// Encrypted says the body went out encrypted.
	Encrypted bool `json:"encrypted,omitempty" msgpack:"encrypted,omitempty"`
}

// DeadLetter is a delivery that kept failing (or could not be sent: its
// webhook was disabled), kept in the DEADLETTERS stream until it is replayed
// or expires. Delivery.History holds every attempt's outcome.
type DeadLetter struct {
	Delivery   Delivery  `json:"delivery" msgpack:"delivery"`
	Reason     string    `json:"reason" msgpack:"reason"`
	Attempts   int       `json:"attempts" msgpack:"attempts"`
	LastStatus int       `json:"last_status,omitempty" msgpack:"last_status,omitempty"`
	LastError  string    `json:"last_error,omitempty" msgpack:"last_error,omitempty"`
	At         time.Time `json:"at" msgpack:"at"`
}

// AuditKind says what an AuditRecord records.
type AuditKind string

// Audit kinds.
const (
	AuditWebhookDisabled   AuditKind = "webhook.disabled"    // a sender disabled a webhook (410 Gone, failing too long)
	AuditDeadLetterExpired AuditKind = "dead_letter.expired" // a dead letter outlived the retention and was removed
	AuditReplayRun         AuditKind = "replay.run"          // an end-of-day or on-demand replay finished
	AuditSecretRevealed    AuditKind = "secret.revealed"     // a tenant read a webhook's secret or its signing key again
	AuditSigningKeyRotated AuditKind = "signing_key.rotated" // a tenant rotated its signing key
)

// AuditRecord keeps what Hookstream did on its own, and what tenants did
// with their secrets, kept in the AUDIT stream.
type AuditRecord struct {
	Kind       AuditKind `json:"kind" msgpack:"kind"`
	TenantID   string    `json:"tenant_id,omitempty" msgpack:"tenant_id,omitempty"`
	WebhookID  string    `json:"webhook_id,omitempty" msgpack:"webhook_id,omitempty"`
	DeliveryID string    `json:"delivery_id,omitempty" msgpack:"delivery_id,omitempty"`
	EventID    string    `json:"event_id,omitempty" msgpack:"event_id,omitempty"`
	Reason     string    `json:"reason" msgpack:"reason"`
	// Count is how many items a run handled (replayed), when it is a run.
	Count int       `json:"count,omitempty" msgpack:"count,omitempty"`
	At    time.Time `json:"at" msgpack:"at"`
}

// DeliveryStats counts one sender's attempts for one tenant over an
// interval, kept in the STATS stream for the console's live view.
type DeliveryStats struct {
	TenantID string    `json:"tenant_id" msgpack:"tenant_id"`
	Start    time.Time `json:"start" msgpack:"start"`
	Seconds  int       `json:"seconds" msgpack:"seconds"`
	// Attempts by outcome class: 2xx, 3xx, 4xx, 5xx, error.
	Attempts     map[string]uint64 `json:"attempts" msgpack:"attempts"`
	Retried      uint64            `json:"retried" msgpack:"retried"`
	DeadLettered uint64            `json:"dead_lettered" msgpack:"dead_lettered"`
	// Filtered counts, by webhook id, the events a router's filters kept
	// from the tenant's webhooks (a router writes these; senders do not).
	Filtered map[string]FilterCount `json:"filtered,omitempty" msgpack:"filtered,omitempty"`
}

// FilterCount is how many events a webhook's filter kept out, and of those
// how many because it failed (errored, ran out of time).
type FilterCount struct {
	Filtered uint64 `json:"filtered" msgpack:"filtered"`
	Errors   uint64 `json:"errors,omitempty" msgpack:"errors,omitempty"`
}
