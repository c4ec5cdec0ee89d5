package sender

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/schemas"
)

// Outgoing is what one attempt sends, beyond the webhook's own settings.
type Outgoing struct {
	// Body is the request body before encryption: the event, or the
	// webhook's transform of it.
	Body []byte
	// EventName is the event's type as the receiver names it, for the
	// event-type header.
	EventName string
	// Secrets sign the request, current first.
	Secrets []string
}

// SigningKeys resolves tenants' organisation-wide signing keys;
// subscription.SigningKeys implements it. found is false when the tenant
// has none; err is for lookups that failed and may succeed later.
type SigningKeys interface {
	SigningKey(ctx context.Context, tenantID string) (key *schemas.SigningKey, found bool, err error)
}

// Errors of Shape.
var (
	// ErrNoSigningKey means a webhook signs with its tenant's signing key
	// and the tenant has none (or the process cannot look keys up).
	ErrNoSigningKey = errors.New("the webhook signs with its tenant's signing key, which does not exist")
)

// OverBudgetError means the tenant's transforms have used their share of
// this process's time: the delivery should wait Wait and try again, without
// an attempt counted.
type OverBudgetError = dialect.OverBudgetError

// ShaperConfig configures a Shaper.
type ShaperConfig struct {
	// Dialects compiles webhooks' programs. Optional; default a Compiler
	// of its own.
	Dialects *dialect.Compiler
	// Keys resolves tenants' signing keys. Optional; without it webhooks
	// that sign with their tenant's key fail with ErrNoSigningKey.
	Keys SigningKeys
	// Budget shares transform time among tenants. Optional; default
	// dialect.NewBudget with its defaults.
	Budget *dialect.Budget
	// RendererBytes bounds the transform outputs and decoded events kept
	// for other deliveries of an event. Optional; default
	// dialect.DefaultRendererBytes.
	RendererBytes int
}

// Shaper turns a delivery into what its receiver gets: the body (the event,
// or its webhook's transform of it), the event's name as the receiver
// knows it, and the secrets that sign. The senders and the API's test
// button share it, so both send the same. It is safe for concurrent use.
type Shaper struct {
	dialects *dialect.Compiler
	keys     SigningKeys
	budget   *dialect.Budget
	renderer *dialect.Renderer
}

// NewShaper returns a Shaper.
func NewShaper(cfg ShaperConfig) *Shaper {
	sh := &Shaper{dialects: cfg.Dialects, keys: cfg.Keys, budget: cfg.Budget}
	if sh.dialects == nil {
		sh.dialects = dialect.NewCompiler()
	}
	if sh.budget == nil {
		sh.budget = dialect.NewBudget(0, 0, nil)
	}
	if cfg.RendererBytes <= 0 {
		cfg.RendererBytes = dialect.DefaultRendererBytes
	}
	sh.renderer = dialect.NewRenderer(cfg.RendererBytes)
	return sh
}

// Dialect returns wh's compiled dialect.
func (sh *Shaper) Dialect(wh *schemas.Webhook) *dialect.Dialect { return sh.dialects.For(wh) }

// Program compiles src as a k program, or returns the copy the Shaper's
// webhooks already share; the API checks programs with it, so what it
// compiles once serves the deliveries too.
func (sh *Shaper) Program(k dialect.Kind, src string) (*dialect.Program, error) {
	return sh.dialects.Program(k, src)
}

// Shape returns what attempt number attempt of d to wh sends at time at.
// d.Payload must hold the event's body. A transform that fails is a
// *dialect.RunError (the delivery cannot be sent as it is: dead-letter it,
// unless the error is Transient); a tenant over its time share is an
// *OverBudgetError; a missing signing key is ErrNoSigningKey; other errors
// are lookups that may succeed later.
func (sh *Shaper) Shape(ctx context.Context, wh *schemas.Webhook, d *schemas.Delivery, attempt int, at time.Time) (Outgoing, error) {
	dl := sh.dialects.For(wh)
	if dl.Err != nil {
		kind, reason := dialect.KindTransform, dl.Err.Error()
		var de *dialect.Error
		if errors.As(dl.Err, &de) {
			kind, reason = de.Kind, strings.TrimPrefix(reason, de.Kind.String()+": ")
		}
		return Outgoing{}, &dialect.RunError{Kind: kind, Reason: "does not compile: " + reason}
	}
	out := Outgoing{Body: d.Payload, EventName: dl.Names.Of(d.EventType)}
	var err error
	if out.Secrets, err = sh.secrets(ctx, wh, at); err != nil {
		return Outgoing{}, err
	}
	if dl.Transform == nil {
		return out, nil
	}
	out.Body, err = sh.renderer.Render(ctx, dl.Transform, dialect.Source{Seq: d.EventSeq, Body: d.Payload}, dialect.Input{
		EventName: out.EventName,
		Webhook: dialect.WebhookInput{ID: wh.ID, Name: wh.Name, URL: wh.URL, OrgIDs: wh.OrgIDs,
			IncludePayload: wh.IncludePayload},
		Delivery: dialect.DeliveryInput{ID: d.ID, Attempt: attempt},
	}, sh.budget, wh.TenantID)
	if err != nil {
		var (
			re   *dialect.RunError
			over *OverBudgetError
		)
		if errors.As(err, &over) {
			return Outgoing{}, err
		}
		if !errors.As(err, &re) {
			// The body did not decode: not the program's fault, but no
			// attempt could send it either.
			err = &dialect.RunError{Kind: dialect.KindTransform, Reason: err.Error()}
		}
		return Outgoing{}, err
	}
	return out, nil
}

// secrets returns the secrets that sign wh's deliveries at time at.
func (sh *Shaper) secrets(ctx context.Context, wh *schemas.Webhook, at time.Time) ([]string, error) {
	if wh.SigningKey != dialect.SigningKeyTenant {
		return wh.ActiveSecrets(at), nil
	}
	if sh.keys == nil {
		return nil, ErrNoSigningKey
	}
	key, found, err := sh.keys.SigningKey(ctx, wh.TenantID)
	switch {
	case err != nil:
		return nil, fmt.Errorf("sender: signing key: %w", err)
	case !found:
		return nil, ErrNoSigningKey
	}
	return key.Secrets.Active(at), nil
}
