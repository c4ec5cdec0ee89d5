package subscription

import (
	"context"
	"errors"

	"github.com/hookstream/hookstream/schemas"
)

// Errors returned by a Store.
var (
	// ErrNotFound means no webhook has this id for this tenant.
	ErrNotFound = errors.New("subscription: not found")
	// ErrConflict means a webhook with this id already exists.
	ErrConflict = errors.New("subscription: already exists")
)

// Store keeps webhooks. Every method is scoped to a tenant: a webhook of
// another tenant is ErrNotFound. Implementations are safe for concurrent use.
type Store interface {
	// Create saves a new webhook; ErrConflict if its id is taken.
	Create(ctx context.Context, w *schemas.Webhook) error
	// Get returns one webhook or ErrNotFound.
	Get(ctx context.Context, tenantID, id string) (*schemas.Webhook, error)
	// List returns the tenant's webhooks, oldest first.
	List(ctx context.Context, tenantID string) ([]*schemas.Webhook, error)
	// Update loads the webhook, applies fn and saves the result atomically,
	// retrying fn if another writer got there first. fn's error aborts the
	// update and is returned as is.
	Update(ctx context.Context, tenantID, id string, fn func(*schemas.Webhook) error) (*schemas.Webhook, error)
	// Delete removes the webhook or returns ErrNotFound.
	Delete(ctx context.Context, tenantID, id string) error
}
