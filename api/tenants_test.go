package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/schemas"
)

func TestAuthRequiresATenantToken(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/v1/webhooks"},
		{http.MethodPost, "/v1/webhooks"},
		{http.MethodGet, "/v1/webhooks/wh_1"},
		{http.MethodDelete, "/v1/webhooks/wh_1"},
		{http.MethodGet, "/v1/webhooks/wh_1/attempts"},
		{http.MethodPost, "/v1/events"},
		{http.MethodGet, "/v1/dead-letters"},
		{http.MethodPost, "/v1/dead-letters/replay"},
	}
	for _, rt := range routes {
		for _, token := range []string{"", "hs_wrong", adminToken} {
			r := tb.do(t, rt.method, rt.path, token, nil)
			require.Equal(t, http.StatusUnauthorized, r.status, "%s %s with %q", rt.method, rt.path, token)
			require.Equal(t, "unauthorized", r.errorOf(t).Code)
			require.NotEmpty(t, r.header.Get("WWW-Authenticate"))
		}
	}

	// Only the Bearer scheme counts.
	req, err := http.NewRequest(http.MethodGet, tb.http.URL+"/v1/webhooks", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+tokenA)
	resp, err := tb.client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/v1/webhooks", tokenA, nil).status)
}

// TestTenantsAreIsolated calls every documented route that takes a webhook
// id with another tenant's token: each answers 404 and changes nothing.
func TestTenantsAreIsolated(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tokenB := tb.newTenant(t, "globex")
	w := tb.createWebhook(t, tokenA, nil)

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	tb.do(t, http.MethodGet, "/v1/openapi.json", "", nil).json(t, &doc)
	tried := 0
	for path, ops := range doc.Paths {
		if !strings.Contains(path, "{id}") {
			continue
		}
		for method := range ops {
			if method == "parameters" {
				continue
			}
			p := strings.ReplaceAll(path, "{id}", w.ID)
			r := tb.do(t, strings.ToUpper(method), p, tokenB, map[string]any{})
			require.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", method, p, r.body)
			require.Equal(t, "not_found", r.errorOf(t).Code)
			require.NotContains(t, string(r.body), w.URL)
			tried++
		}
	}
	require.GreaterOrEqual(t, tried, 6, "every route with a webhook id was tried")

	r := tb.do(t, http.MethodGet, "/v1/webhooks", tokenB, nil)
	require.JSONEq(t, `{"data":[]}`, string(r.body))

	// A's webhook is unchanged: B's PATCH, rotation and delete did nothing.
	var after webhook
	got := tb.do(t, http.MethodGet, "/v1/webhooks/"+w.ID, tokenA, nil)
	require.Equal(t, http.StatusOK, got.status)
	got.json(t, &after)
	w.Secret = ""
	require.Equal(t, w, after)

	// B's own webhook is B's.
	wb := tb.createWebhook(t, tokenB, nil)
	require.Equal(t, "globex", wb.TenantID)
	require.Equal(t, http.StatusNotFound, tb.do(t, http.MethodGet, "/v1/webhooks/"+wb.ID, tokenA, nil).status)
	// An attempt of tenant A's, asked for by number through tenant B's own
	// webhook: not found, never shown or resent.
	rc := newRecorder(t, http.StatusOK)
	wA := tb.createWebhook(t, tokenA, map[string]any{"url": rc.URL + "/hooks", "enabled": false})
	var a attempt
	tb.do(t, http.MethodPost, "/v1/webhooks/"+wA.ID+"/test", tokenA, nil).json(t, &a)
	require.NotZero(t, a.Seq)
	wB := tb.createWebhook(t, tokenB, map[string]any{"url": rc.URL + "/b", "enabled": false})
	seq := strconv.FormatUint(a.Seq, 10)
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/v1/webhooks/" + wB.ID + "/attempts/" + seq},
		{http.MethodPost, "/v1/webhooks/" + wB.ID + "/attempts/" + seq + "/resend"},
		{http.MethodGet, "/v1/webhooks/" + wA.ID + "/attempts/" + seq},
	} {
		r := tb.do(t, req.method, req.path, tokenB, nil)
		require.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", req.method, req.path, r.body)
		require.NotContains(t, string(r.body), a.DeliveryID)
	}
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/v1/webhooks/"+wA.ID+"/attempts/"+seq, tokenA, nil).status,
		"tenant A sees its own")
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()

	for _, token := range []string{"", tokenA, "admin-secret-tokenX"} {
		r := tb.do(t, http.MethodPost, "/v1/tenants", token, map[string]any{"name": "x"})
		require.Equal(t, http.StatusUnauthorized, r.status, token)
		require.Equal(t, "unauthorized", r.errorOf(t).Code)
	}

	r := tb.do(t, http.MethodPost, "/v1/tenants", adminToken, map[string]any{"name": "Initech"})
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var tn struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Token     string `json:"token"`
		CreatedAt string `json:"created_at"`
	}
	r.json(t, &tn)
	require.True(t, schemas.ValidKey(tn.ID), tn.ID)
	require.Equal(t, "Initech", tn.Name)
	require.NotEmpty(t, tn.CreatedAt)
	require.True(t, strings.HasPrefix(tn.Token, "hs_"), tn.Token)
	require.Len(t, tn.Token, len("hs_")+43, "32 bytes in unpadded base64url")

	// The token works and belongs to the new tenant.
	w := tb.createWebhook(t, tn.Token, nil)
	require.Equal(t, tn.ID, w.TenantID)

	// Only the hash is stored.
	sum := sha256.Sum256([]byte(tn.Token))
	e, err := tb.b.Tenants.Get(ctx, "token."+hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	require.Equal(t, tn.ID, string(e.Value()))
	e, err = tb.b.Tenants.Get(ctx, tn.ID)
	require.NoError(t, err)
	require.NotContains(t, string(e.Value()), tn.Token)
	var stored schemas.Tenant
	require.NoError(t, schemas.Unmarshal(e.Value(), &stored))
	require.Equal(t, hex.EncodeToString(sum[:]), stored.TokenHash)

	// Explicit ids: taken → 409, malformed → 400.
	require.Equal(t, http.StatusCreated, tb.do(t, http.MethodPost, "/v1/tenants", adminToken, map[string]any{"name": "Hooli", "id": "hooli"}).status)
	r = tb.do(t, http.MethodPost, "/v1/tenants", adminToken, map[string]any{"name": "Hooli again", "id": "hooli"})
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, "conflict", r.errorOf(t).Code)
	r = tb.do(t, http.MethodPost, "/v1/tenants", adminToken, map[string]any{"name": "Dots", "id": "a.b"})
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "id", r.errorOf(t).Field)
	r = tb.do(t, http.MethodPost, "/v1/tenants", adminToken, map[string]any{"id": "noname"})
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "name", r.errorOf(t).Field)
}

func TestAdminRoutesOffWithoutAdminToken(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(c *api.Config) { c.AdminToken = "" })
	for _, token := range []string{"", "anything", tokenA} {
		r := tb.do(t, http.MethodPost, "/v1/tenants", token, map[string]any{"name": "x"})
		require.Equal(t, http.StatusForbidden, r.status)
		require.Equal(t, "forbidden", r.errorOf(t).Code)
	}
}

func TestEnsureTenant(t *testing.T) {
	t.Parallel()
	tb := setup(t) // has created "acme" with tokenA
	ctx := context.Background()

	created, err := tb.srv.EnsureTenant(ctx, tenantA, "Acme", tokenA)
	require.NoError(t, err)
	require.False(t, created, "idempotent")
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/v1/webhooks", tokenA, nil).status)

	// Another token replaces the old one.
	const next = "hs_the_next_token_of_acme"
	created, err = tb.srv.EnsureTenant(ctx, tenantA, "Acme", next)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/v1/webhooks", next, nil).status)
	require.Equal(t, http.StatusUnauthorized, tb.do(t, http.MethodGet, "/v1/webhooks", tokenA, nil).status)

	// A token cannot be shared by two tenants.
	_, err = tb.srv.EnsureTenant(ctx, "other", "Other", next)
	require.Error(t, err)

	_, err = tb.srv.EnsureTenant(ctx, "bad.id", "Bad", "hs_x")
	require.Error(t, err)
	_, err = tb.srv.EnsureTenant(ctx, "empty", "Empty", "")
	require.Error(t, err)
}
