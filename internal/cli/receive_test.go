package cli_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/cli"
	"github.com/hookstream/hookstream/signature"
)

// `hookstream receive` verifies and prints what it gets; `healthcheck`
// reports a role's /healthz.
func TestReceiveAndHealthcheck(t *testing.T) {
	t.Parallel()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Main(ctx, []string{"receive", "--listen", addr, "--secret", secret}, cli.IO{Stdout: pw, Stderr: io.Discard})
		_ = pw.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	require.Contains(t, <-lines, "receiver on http://"+addr)

	post := func(sign bool) int {
		body := `{"id":"evt_1","type":"sync.started"}`
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("webhook-event-type", "sync.started")
		if sign {
			s, _ := signature.New(signature.Config{})
			require.NoError(t, s.Sign(req.Header, "evt_1:wh_1", time.Now(), []byte(body), []string{secret}))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusNoContent, post(true))
	require.Contains(t, <-lines, "evt_1:wh_1 sync.started verified")
	<-lines // the body
	post(false)
	require.Contains(t, <-lines, "SIGNATURE REJECTED")

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
