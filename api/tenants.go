package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/schemas"
)

// createTenantRequest is the body of POST /v1/tenants.
type createTenantRequest struct {
	Name string `json:"name"`
	// ID is the tenant id; generated ("tn_" + 24 hex) when empty.
	ID string `json:"id"`
}

// tenantResponse answers POST /v1/tenants; Token is shown only then.
type tenantResponse struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
}

func newTenantID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "tn_" + hex.EncodeToString(b)
}

func checkName(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case strings.TrimSpace(name) == "":
		return invalid("name", "is required")
	case n > 200:
		return invalid("name", "is %d characters long; the limit is 200", n)
	case !utf8.ValidString(name):
		return invalid("name", "is not valid UTF-8")
	}
	return nil
}

// createTenant handles POST /v1/tenants (admin token).
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	var req createTenantRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkName(req.Name); err != nil {
		return err
	}
	if req.ID == "" {
		req.ID = newTenantID()
	} else if !schemas.ValidKey(req.ID) {
		return invalid("id", "must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
	}
	token := newToken()
	t := &schemas.Tenant{ID: req.ID, Name: req.Name, TokenHash: tokenHash(token), CreatedAt: s.now().UTC()}
	if err := s.insertTenant(r.Context(), t); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return &Error{Status: http.StatusConflict, Code: codeConflict, Field: "id", Message: "a tenant with this id exists"}
		}
		return err
	}
	s.logger.Info("tenant created", "tenant", t.ID)
	writeJSON(w, http.StatusCreated, tenantResponse{ID: t.ID, Name: t.Name, Token: token, CreatedAt: t.CreatedAt})
	return nil
}

// insertTenant stores a new tenant and its token key; jetstream.ErrKeyExists
// when the id is taken.
func (s *Server) insertTenant(ctx context.Context, t *schemas.Tenant) error {
	kv := s.broker.Tenants
	b, err := schemas.Marshal(nil, t)
	if err != nil {
		return err
	}
	if _, err := kv.Create(ctx, t.ID, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		return fmt.Errorf("api: create tenant: %w", err)
	}
	if err := s.putTokenKey(ctx, t.TokenHash, t.ID); err != nil {
		_ = kv.Delete(context.WithoutCancel(ctx), t.ID)
		return err
	}
	// This API knows the token at once, whatever replica answers its reads.
	s.tokens.put(t.TokenHash, t.ID, time.Now())
	return nil
}

// putTokenKey maps a token hash to a tenant, refusing to take a token of
// another tenant.
func (s *Server) putTokenKey(ctx context.Context, hash, tenantID string) error {
	kv := s.broker.Tenants
	_, err := kv.Create(ctx, tokenKey(hash), []byte(tenantID))
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := kv.Get(ctx, tokenKey(hash))
		if gerr != nil {
			return fmt.Errorf("api: read token key: %w", gerr)
		}
		if string(e.Value()) == tenantID {
			return nil
		}
		return errors.New("api: this token belongs to another tenant")
	}
	if err != nil {
		return fmt.Errorf("api: store token key: %w", err)
	}
	return nil
}

// EnsureTenant makes sure tenant id exists and that token authenticates it:
// it creates the tenant (created is true) or, when the tenant exists with
// another token, replaces that token with this one. It is idempotent;
// `hookstream dev` calls it at every start for tenant "default".
func (s *Server) EnsureTenant(ctx context.Context, id, name, token string) (created bool, err error) {
	if !schemas.ValidKey(id) {
		return false, fmt.Errorf("api: tenant id %q: want 1 to 64 characters of A-Z, a-z, 0-9, _ and -", id)
	}
	if strings.TrimSpace(token) == "" || strings.ContainsAny(token, " \t\r\n") {
		return false, errors.New("api: tenant token is empty or contains white space")
	}
	hash := tokenHash(token)
	for {
		t, rev, err := s.getTenant(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			t = &schemas.Tenant{ID: id, Name: name, TokenHash: hash, CreatedAt: s.now().UTC()}
			err = s.insertTenant(ctx, t)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // created meanwhile: take the update path
			}
			return err == nil, err
		}
		if err != nil {
			return false, err
		}
		if t.TokenHash == hash {
			// Repair a missing token key (a crash between the two writes).
			return false, s.putTokenKey(ctx, hash, id)
		}
		if err := s.putTokenKey(ctx, hash, id); err != nil {
			return false, err
		}
		old := t.TokenHash
		t.TokenHash = hash
		b, err := schemas.Marshal(nil, t)
		if err != nil {
			return false, err
		}
		if _, err := s.broker.Tenants.Update(ctx, id, b, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				continue // changed meanwhile: read it again
			}
			return false, fmt.Errorf("api: update tenant: %w", err)
		}
		s.tokens.forgetTenant(id)
		if old != "" {
			if err := s.broker.Tenants.Delete(ctx, tokenKey(old)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				// Harmless: tenantOf checks the hash against the tenant.
				s.logger.Warn("could not delete a replaced token key", "tenant", id, "err", err)
			}
		}
		s.logger.Info("tenant token replaced", "tenant", id)
		return false, nil
	}
}
