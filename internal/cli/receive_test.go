package cli_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/cli"
	"github.com/hookstream/hookstream/internal/testproc"
	"github.com/hookstream/hookstream/signature"
)

// `hookstream receive` verifies and prints what it gets; `healthcheck`
// reports a role's /healthz.
func TestReceiveAndHealthcheck(t *testing.T) {
	t.Parallel()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The output goes to a buffer, not a pipe: a receiver must never wait
	// for the test to read.
	var out testproc.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Main(ctx, []string{"receive", "--listen", addr, "--secret", secret}, cli.IO{Stdout: &out, Stderr: &out})
	}()
	printed := func(s string) {
		t.Helper()
		require.Eventually(t, func() bool { return strings.Contains(out.String(), s) }, 10*time.Second, 10*time.Millisecond,
			"the receiver prints %q:\n%s", s, out.String())
	}
	printed("receiver on http://" + addr)

	client := &http.Client{Timeout: 10 * time.Second}
	post := func(id string, sign bool) int {
		body := `{"id":"evt_1","type":"sync.started"}`
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("webhook-event-type", "sync.started")
		req.Header.Set("webhook-id", id)
		if sign {
			s, _ := signature.New(signature.Config{})
			require.NoError(t, s.Sign(req.Header, id, time.Now(), []byte(body), []string{secret}))
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusNoContent, post("evt_1:wh_1", true))
	printed("evt_1:wh_1 sync.started verified")
	post("evt_2:wh_1", false)
	printed("evt_2:wh_1 sync.started SIGNATURE REJECTED")

	var quiet strings.Builder
	require.Equal(t, 1, cli.Main(context.Background(), []string{"healthcheck", "--url", "http://" + addr + "/healthz"},
		cli.IO{Stdout: &quiet, Stderr: &quiet}), "the receiver has no /healthz that answers 200")
	cancel()
	require.Equal(t, 0, <-exit)

	srv := freeAddr(t)
	line := role(t, "nats", "--data", t.TempDir(), "--listen", freeAddr(t), "--monitor", srv, "--log-level", "error")
	require.Contains(t, line, "standalone")
	require.Equal(t, 0, cli.Main(context.Background(), []string{"healthcheck", "--url", "http://" + srv + "/healthz"},
		cli.IO{Stdout: &quiet, Stderr: &quiet}), quiet.String())
}
