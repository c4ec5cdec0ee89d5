package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// consoleFiles are the web console's assets: plain HTML, CSS and JavaScript
// modules, no build step. GET /console/ serves them.
//
//go:embed console
var consoleFiles embed.FS

// consoleCSP allows the page nothing but its own origin: its scripts, its
// styles, its images and the API calls it makes. No inline script or style,
// no framing.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// consoleAsset is one embedded file, ready to serve.
type consoleAsset struct {
	body        []byte
	contentType string
	etag        string
}

// consoleAssets maps a path under /console/ ("index.html", "app.js") to its
// file; built once from consoleFiles.
var consoleAssets = func() map[string]consoleAsset {
	m := map[string]consoleAsset{}
	err := fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		m[strings.TrimPrefix(p, "console/")] = consoleAsset{
			body:        body,
			contentType: consoleContentType(p),
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic("api: embedded console: " + err.Error()) // the build embeds it; cannot fail
	}
	return m
}()

// consoleContentType is the Content-Type of an asset, by extension (the
// console ships only these kinds).
func consoleContentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// consoleRedirect handles GET /console: the console lives at /console/.
func (s *Server) consoleRedirect(w http.ResponseWriter, r *http.Request) error {
	target := "/console/"
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
	return nil
}

// console handles GET /console/ and the assets under it. The page is public;
// every call it makes to the API carries the tenant token the user signs in
// with. index.html is never cached (it names the assets); assets are
// revalidated by ETag.
func (s *Server) console(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(r.URL.Path, "/console/")
	if name == "" {
		name = "index.html"
	}
	a, ok := consoleAssets[name]
	if !ok || !fs.ValidPath(name) {
		return notFound("console file " + path.Base(name))
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("ETag", a.etag)
	if name == "index.html" {
		h.Set("Cache-Control", "no-store")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	return nil
}
