package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The console is served from the binary: its page, never cached, with a CSP
// that allows only the page's own origin; its assets with their types.
func TestConsoleServesPageAndAssets(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	r := tb.do(t, http.MethodGet, "/console/", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	csp := r.header.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'self'")
	require.Contains(t, csp, "script-src 'self';")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, csp, "unsafe-inline")
	require.NotContains(t, csp, "http")
	require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	page := string(r.body)
	require.Contains(t, page, `<script type="module" src="app.js"></script>`)

	// Every asset the page and the modules name is served, with its type.
	assets := map[string]string{}
	for _, m := range regexp.MustCompile(`(?:src|href)="([a-z]+\.(?:js|css|svg))"`).FindAllStringSubmatch(page, -1) {
		assets[m[1]] = ""
	}
	require.Contains(t, assets, "app.js")
	require.Contains(t, assets, "style.css")
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	imports := regexp.MustCompile(`from '\./([a-z]+\.js)'`)
	for len(assets) > 0 {
		for name := range assets {
			delete(assets, name)
			r := tb.do(t, http.MethodGet, "/console/"+name, "", nil)
			require.Equal(t, http.StatusOK, r.status, name)
			require.Equal(t, types[name[strings.LastIndex(name, "."):]], r.header.Get("Content-Type"), name)
			require.Equal(t, "no-cache", r.header.Get("Cache-Control"), name)
			require.NotEmpty(t, r.header.Get("ETag"), name)
			require.NotEmpty(t, r.header.Get("Content-Security-Policy"), name)
			for _, m := range imports.FindAllStringSubmatch(string(r.body), -1) {
				if !strings.Contains(page, m[1]) {
					page += m[1] // visited
					assets[m[1]] = ""
				}
			}
		}
	}

	// index.html is the page too.
	r = tb.do(t, http.MethodGet, "/console/index.html", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
}

func TestConsoleRedirectsAndRefusesUnknownFiles(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	r := tb.do(t, http.MethodGet, "/console", "", nil)
	require.Equal(t, http.StatusMovedPermanently, r.status)
	require.Equal(t, "/console/", r.header.Get("Location"))

	for _, path := range []string{"/console/nope.js", "/console/app.js/x", "/console/.hidden", "/console/%2e%2e/openapi.go", "/console/console.go"} {
		r := tb.do(t, http.MethodGet, path, "", nil)
		require.Equal(t, http.StatusNotFound, r.status, path)
		require.Equal(t, "not_found", r.errorOf(t).Code, path)
	}
	r = tb.do(t, http.MethodPost, "/console/", "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
}

// An asset's ETag answers a revalidation with 304.
func TestConsoleRevalidates(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.do(t, http.MethodGet, "/console/style.css", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	req, err := http.NewRequest(http.MethodGet, tb.http.URL+"/console/style.css", nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", r.header.Get("ETag"))
	resp, err := tb.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
}
