package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/schemas"
)

// Token cache bounds: a revoked or replaced token keeps working on other API
// replicas for at most tokenCacheTTL.
const (
	tokenCacheSize = 4096
	tokenCacheTTL  = 10 * time.Second
)

// tokenPrefix starts every generated token.
const tokenPrefix = "hs_"

// newToken returns a fresh API token: "hs_" + 32 random bytes, base64url.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is the hex SHA-256 of a token, the only form that is stored.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokenKey is the tenants-bucket key that maps a token hash to its tenant.
func tokenKey(hash string) string { return "token." + hash }

var (
	errNoToken = &Error{Status: http.StatusUnauthorized, Code: codeUnauthorized,
		Message: "missing bearer token: send Authorization: Bearer <token>"}
	errBadToken     = &Error{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: "invalid token"}
	errAdminOff     = &Error{Status: http.StatusForbidden, Code: codeForbidden, Message: "admin routes are disabled: the API runs without an admin token"}
	errTokenUnknown = errors.New("api: unknown token")
)

// bearer returns the token of the Authorization header.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func unauthorized(w http.ResponseWriter, e *Error) error {
	w.Header().Set("WWW-Authenticate", `Bearer realm="hookstream"`)
	return e
}

// authTenant resolves the tenant of the request's token and calls h with it.
func (s *Server) authTenant(h tenantHandlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		token, ok := bearer(r)
		if !ok {
			return unauthorized(w, errNoToken)
		}
		tenantID, err := s.tenantOf(r.Context(), token)
		if errors.Is(err, errTokenUnknown) {
			return unauthorized(w, errBadToken)
		}
		if err != nil {
			return err
		}
		return h(w, r, tenantID)
	}
}

// authAdmin lets h run only for the admin token.
func (s *Server) authAdmin(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.adminToken == "" {
			return errAdminOff
		}
		token, ok := bearer(r)
		if !ok {
			return unauthorized(w, errNoToken)
		}
		// Compare fixed-size hashes so neither the content nor the length of
		// the admin token leaks through timing.
		want, got := sha256.Sum256([]byte(s.adminToken)), sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
			return unauthorized(w, errBadToken)
		}
		return h(w, r)
	}
}

// tokenRereads are the waits before reading an unknown token's key again.
var tokenRereads = []time.Duration{20 * time.Millisecond, 80 * time.Millisecond}

// tenantOf returns the tenant whose token this is, or errTokenUnknown. The
// token key must point at a tenant whose current token hash it is, so a
// replaced token stops working even if its key was left behind.
func (s *Server) tenantOf(ctx context.Context, token string) (string, error) {
	hash := tokenHash(token)
	if id, ok := s.tokens.get(hash, time.Now()); ok {
		return id, nil
	}
	kv := s.broker.Tenants
	e, err := kv.Get(ctx, tokenKey(hash))
	for i := 0; errors.Is(err, jetstream.ErrKeyNotFound) && i < len(tokenRereads); i++ {
		// In a cluster a replica may answer the read before it has a token
		// just created through another API: look again, briefly.
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(tokenRereads[i]):
		}
		e, err = kv.Get(ctx, tokenKey(hash))
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", errTokenUnknown
	}
	if err != nil {
		return "", fmt.Errorf("api: look up token: %w", err)
	}
	id := string(e.Value())
	t, _, err := s.getTenant(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", errTokenUnknown
	}
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(t.TokenHash), []byte(hash)) != 1 {
		return "", errTokenUnknown
	}
	s.tokens.put(hash, id, time.Now())
	return id, nil
}

// getTenant reads a tenant and its KV revision; jetstream.ErrKeyNotFound when
// there is none.
func (s *Server) getTenant(ctx context.Context, id string) (*schemas.Tenant, uint64, error) {
	if !schemas.ValidKey(id) {
		return nil, 0, jetstream.ErrKeyNotFound
	}
	e, err := s.broker.Tenants.Get(ctx, id)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("api: get tenant: %w", err)
	}
	t := new(schemas.Tenant)
	if err := schemas.Unmarshal(e.Value(), t); err != nil {
		return nil, 0, fmt.Errorf("api: tenant %s: %w", id, err)
	}
	return t, e.Revision(), nil
}

// tokenCache remembers token hash → tenant id for a short while, bounded in
// size. It is safe for concurrent use.
type tokenCache struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	entries map[string]tokenEntry
}

type tokenEntry struct {
	tenantID string
	expires  time.Time
}

func newTokenCache(size int, ttl time.Duration) *tokenCache {
	return &tokenCache{max: size, ttl: ttl, entries: make(map[string]tokenEntry)}
}

func (c *tokenCache) get(hash string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok {
		return "", false
	}
	if !now.Before(e.expires) {
		delete(c.entries, hash)
		return "", false
	}
	return e.tenantID, true
}

func (c *tokenCache) put(hash, tenantID string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Drop the expired entries, and if that frees nothing, an arbitrary one.
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[hash] = tokenEntry{tenantID: tenantID, expires: now.Add(c.ttl)}
}

// forgetTenant drops every cached token of a tenant.
func (c *tokenCache) forgetTenant(tenantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.tenantID == tenantID {
			delete(c.entries, k)
		}
	}
}
