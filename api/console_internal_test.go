package api

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The console's code never parses HTML built from data, and fetches nothing
// from outside its own origin.
func TestConsoleAssetsAreSelfContained(t *testing.T) {
	t.Parallel()
	require.Contains(t, consoleAssets, "index.html")
	require.Contains(t, consoleAssets, "app.js")
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	unsafeDOM := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|setAttribute\(['"]on|localStorage|document\.cookie`)
	err := fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := consoleFiles.ReadFile(p)
		require.NoError(t, err)
		text := string(body)
		for _, m := range external.FindAllString(text, -1) {
			// The SVG namespace, and a placeholder URL in the form.
			require.Contains(t, []string{"http://www.w3.org", "https://example.com"}, m, "%s refers to another origin", p)
		}
		if strings.HasSuffix(p, ".js") {
			// The one mention of innerHTML refuses it.
			clean := strings.ReplaceAll(text, `k === 'innerHTML'`, "")
			require.Empty(t, unsafeDOM.FindAllString(clean, -1), "%s", p)
		}
		if strings.HasSuffix(p, ".html") {
			require.NotContains(t, text, "<script>", "%s: no inline script (the CSP forbids it)", p)
			require.NotContains(t, text, "style=", "%s: no inline style (the CSP forbids it)", p)
		}
		return nil
	})
	require.NoError(t, err)
}
