package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// Event is the envelope every producer publishes. Data holds the event type's
// payload as raw JSON: the router never needs to look inside it, and the sender
// writes it to the receiver as it is.
type Event struct {
	// ID identifies the event. Publishing the same ID twice within the
	// deduplication window is reported as a duplicate and delivered once.
	ID string `json:"id" msgpack:"id"`
	// Type is one of the catalog's types, for example "sync.completed".
	Type string `json:"type" msgpack:"type"`
	// TenantID is the Hookstream tenant (the vendor receiving webhooks).
	TenantID string `json:"tenant_id" msgpack:"tenant_id"`
	// OrgID is the tenant's connected organisation whose HRMS was synced.
	OrgID string `json:"org_id" msgpack:"org_id"`
	// OccurredAt is when the change happened at the source, in UTC.
	OccurredAt time.Time `json:"occurred_at" msgpack:"occurred_at"`
	// Data is the type-specific payload, a JSON object.
	Data json.RawMessage `json:"data,omitempty" msgpack:"data,omitempty"`
}

// NewEventID returns a fresh, time-ordered event id of the form evt_<32 hex>.
func NewEventID() string { return newID("evt_") }

// NewWebhookID returns a fresh webhook id of the form wh_<32 hex>.
func NewWebhookID() string { return newID("wh_") }

func newID(prefix string) string {
	u := uuid.Must(uuid.NewV7())
	b := make([]byte, len(prefix)+32)
	copy(b, prefix)
	hex.Encode(b[len(prefix):], u[:])
	return string(b)
}

var (
	// keyPattern is what tenant and webhook ids look like: they are NATS
	// subject tokens and KV keys, so no dots, wildcards, spaces or colons.
	keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// eventIDPattern: event ids travel in the Nats-Msg-Id header and the
	// webhook-id header, so printable ASCII without spaces.
	eventIDPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// ValidKey reports whether s can be a tenant or webhook id.
func ValidKey(s string) bool { return keyPattern.MatchString(s) }

// ValidEventID reports whether s can be an event id.
func ValidEventID(s string) bool { return eventIDPattern.MatchString(s) }

// SubjectToken turns any id (event ids may hold dots or wildcards) into a
// NATS subject token: 32 hex digits of its SHA-256.
func SubjectToken(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}
