package cli_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// `hookstream dev --demo` serves the console and sets up the demo: its two
// webhooks, the receiver getting deliveries, the failing endpoint's dead
// letters.
func TestDevDemo(t *testing.T) {
	t.Parallel()
	d := startDev(t, t.TempDir(), "--demo")

	resp, err := http.Get(d.api + "/console/")
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), "Hookstream")

	var hooks struct {
		Data []struct{ ID, Name string }
	}
	require.Equal(t, http.StatusOK, d.call(t, http.MethodGet, "/v1/webhooks", "", &hooks))
	ids := map[string]string{}
	for _, w := range hooks.Data {
		ids[w.Name] = w.ID
	}
	require.Contains(t, ids, "Demo: sample receiver")
	require.Contains(t, ids, "Demo: failing endpoint")

	require.Eventually(t, func() bool {
		var st struct {
			LastAttempt *struct{ Outcome string } `json:"last_attempt"`
		}
		d.call(t, http.MethodGet, "/v1/webhooks/"+ids["Demo: sample receiver"]+"/stats", "", &st)
		return st.LastAttempt != nil && st.LastAttempt.Outcome == "success"
	}, 30*time.Second, 50*time.Millisecond, "the sample receiver gets deliveries")
	require.Eventually(t, func() bool {
		var dl struct{ Data []struct{ ID string } }
		d.call(t, http.MethodGet, "/v1/dead-letters?webhook_id="+ids["Demo: failing endpoint"], "", &dl)
		return len(dl.Data) > 0
	}, 30*time.Second, 50*time.Millisecond, "the failing endpoint's deliveries are dead-lettered")
}
