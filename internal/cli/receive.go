package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hookstream/hookstream/signature"
)

const receiveUsage = `Usage: hookstream receive [flags]

A webhook receiver for trying Hookstream out: it answers every POST with 204
and prints one line per delivery — time, webhook-id, event type, whether the
signature verified (when it knows the secret) — and the body. Point a webhook
at http://<host>:<port>/anything; give the webhook's secret (shown when you
created it) to check signatures. With the secret empty it prints unverified.
A webhook with a profile signs with that profile's preset (--preset tartan,
bindbee, trutac or teal); its body is the profile's, which this prints as it
came.`

func runReceive(ctx context.Context, args []string, stdio IO) error {
	var listen, secret, preset, key string
	var status int
	f := newFlags("receive", receiveUsage, stdio.Stderr)
	f.str(&listen, "listen", "HOOKSTREAM_RECEIVE_LISTEN", "127.0.0.1:9000", "address to listen on")
	f.str(&secret, "secret", "HOOKSTREAM_RECEIVE_SECRET", "", "the webhook's signing secret, to verify signatures (optional)")
	f.str(&preset, "preset", "HOOKSTREAM_RECEIVE_PRESET", "standard", "the webhook's signature preset")
	f.str(&key, "encryption-key", "HOOKSTREAM_RECEIVE_ENCRYPTION_KEY", "", "the webhook's encryption key, to decrypt bodies (optional)")
	f.integer(&status, "status", "HOOKSTREAM_RECEIVE_STATUS", http.StatusNoContent, "status to answer with (e.g. 503 to see retries)")
	if err := f.parse(args); err != nil {
		return err
	}
	if status < 200 || status > 599 {
		return badUsage("--status %d: want an HTTP status", status)
	}
	var rcv *signature.Receiver
	if secret != "" {
		var err error
		rcv, err = signature.NewReceiver(signature.ReceiverConfig{Scheme: signature.Config{Preset: preset}, Secrets: []string{secret}, EncryptionKey: key})
		if err != nil {
			return badUsage("%v", err)
		}
	}
	var mu sync.Mutex // one delivery's lines together
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		verdict := "unverified (no --secret)"
		if rcv != nil {
			if opened, err := rcv.Open(r.Header, body); err != nil {
				verdict = "SIGNATURE REJECTED: " + err.Error()
			} else {
				verdict, body = "verified", opened
			}
		}
		var pretty bytes.Buffer
		if err := json.Compact(&pretty, body); err != nil {
			pretty.Reset()
			pretty.Write(body)
		}
		mu.Lock()
		fmt.Fprintf(stdio.Stdout, "%s %s %s %s %s\n  %s\n", time.Now().UTC().Format(time.RFC3339), r.URL.Path,
			r.Header.Get("webhook-id"), r.Header.Get("webhook-event-type"), verdict, pretty.String())
		mu.Unlock()
		w.WriteHeader(status)
	})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdio.Stdout, "Hookstream %s receiver on http://%s, answering %d.\n", Version, ln.Addr(), status)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

const healthcheckUsage = `Usage: hookstream healthcheck [flags]

Exits 0 when the role's /healthz answers 200, 1 otherwise: the container
HEALTHCHECK of the image (which has no shell and no curl).`

func runHealthcheck(ctx context.Context, args []string, stdio IO) error {
	var url string
	var timeout time.Duration
	f := newFlags("healthcheck", healthcheckUsage, stdio.Stderr)
	f.str(&url, "url", "HOOKSTREAM_HEALTHCHECK_URL", "", "URL to check (default: /healthz on HOOKSTREAM_OPS_ADDR, else on HOOKSTREAM_HTTP_ADDR)")
	f.duration(&timeout, "timeout", "", 3*time.Second, "give up after this long")
	if err := f.parse(args); err != nil {
		return err
	}
	if url == "" {
		url = "http://" + loopback(firstEnv("HOOKSTREAM_OPS_ADDR", "HOOKSTREAM_HTTP_ADDR", "127.0.0.1:8080")) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return badUsage("--url %q: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %d", url, resp.StatusCode)
	}
	return nil
}

// loopback turns a listen address (":9090", "0.0.0.0:9090") into one to dial.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// firstEnv returns the first of the variables that is set, or def.
func firstEnv(names ...string) string {
	def := names[len(names)-1]
	for _, n := range names[:len(names)-1] {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return def
}
