package sender_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
)

func testWebhook(url string) *schemas.Webhook {
	return &schemas.Webhook{ID: "wh_1", TenantID: "t", URL: url, Enabled: true,
		Secrets: []schemas.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}
}

func testDelivery() *schemas.Delivery {
	return &schemas.Delivery{ID: "evt_1:wh_1", EventID: "evt_1", EventType: "sync.started", TenantID: "t", WebhookID: "wh_1",
		Payload: []byte(`{"id":"evt_1"}`)}
}

// testOut is what testDelivery sends to testWebhook.
func testOut() sender.Outgoing {
	return sender.Outgoing{Body: testDelivery().Payload, EventName: "sync.started",
		Secrets: testWebhook("").ActiveSecrets(time.Now())}
}

var loopback = sender.ClientConfig{Timeout: 2 * time.Second, Egress: egress.Policy{AllowLoopback: true}}

func TestClientCapsTheResponseAndDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 10<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/huge":
			_, _ = w.Write([]byte(huge))
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			t.Errorf("unexpected request to %s", r.URL.Path)
		}
	}))
	defer srv.Close()
	c := sender.NewClient(loopback)
	ctx := t.Context()

	res := c.Send(ctx, testWebhook(srv.URL+"/huge"), testDelivery(), time.Now(), testOut())
	require.Equal(t, schemas.OutcomeSuccess, res.Outcome)
	require.Len(t, res.Response, 1024, "only the start of a response is kept")

	res = c.Send(ctx, testWebhook(srv.URL+"/redirect"), testDelivery(), time.Now(), testOut())
	require.Equal(t, schemas.OutcomeFailed, res.Outcome, "a redirect is not success")
	require.Equal(t, http.StatusFound, res.StatusCode)

	res = c.Send(ctx, testWebhook(srv.URL+"/busy"), testDelivery(), time.Now(), testOut())
	require.Equal(t, schemas.OutcomeFailed, res.Outcome)
	require.Equal(t, 7*time.Second, res.RetryAfter)
}

func TestClientRefusesPrivateAddressesWhenDialing(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the request must not arrive")
	}))
	defer srv.Close()
	strict := sender.NewClient(sender.ClientConfig{Timeout: 2 * time.Second})
	// "localhost" is how a DNS answer that turned private looks to the dialer.
	for _, url := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		res := strict.Send(t.Context(), testWebhook(url), testDelivery(), time.Now(), testOut())
		require.Equal(t, schemas.OutcomeError, res.Outcome, url)
		require.Contains(t, res.Error, "destination not allowed", url)
	}
}

// A proxy from the environment would make the dial-time check see the
// proxy's address instead of the receiver's: the sender never uses one.
// (Not parallel: it sets the environment.)
func TestClientIgnoresProxiesFromTheEnvironment(t *testing.T) {
	proxied := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied <- r.URL.String()
		w.WriteHeader(http.StatusOK)
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	// A name that does not resolve: through a proxy it would arrive there.
	res := sender.NewClient(loopback).Send(t.Context(), testWebhook("http://receiver.invalid/hook"), testDelivery(), time.Now(), testOut())
	require.Equal(t, schemas.OutcomeError, res.Outcome)
	select {
	case u := <-proxied:
		t.Fatalf("the request went through the proxy: %s", u)
	default:
	}
}

// A kept-alive connection the receiver closed while it was idle fails the
// next request on it before any response; the client retries that once on
// a fresh connection, as net/http does.
func TestClientRetriesAStaleConnectionOnce(t *testing.T) {
	t.Parallel()
	// It answers one request as if keeping the connection alive, then
	// closes it.
	url, conns := rawReceiver(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	c := sender.NewClient(loopback)
	for i := range 3 {
		res := c.Send(t.Context(), testWebhook(url), testDelivery(), time.Now(), testOut())
		require.Equal(t, schemas.OutcomeSuccess, res.Outcome, "request %d: %s", i, res.Error)
		require.Equal(t, "ok", res.Response)
		time.Sleep(20 * time.Millisecond) // the receiver closes the connection
	}
	require.Equal(t, int32(3), conns.Load(), "one connection per request")
}

// The request goes out as the webhook's URL says: the path untouched,
// credentials in the URL as basic authentication; a response whose headers
// are too large is an error that says so.
func TestClientSendsTheURLAsGiven(t *testing.T) {
	t.Parallel()
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("big") != "" {
			w.Header().Set("X-Big", strings.Repeat("b", 20<<10))
			return
		}
		got <- r
	}))
	defer srv.Close()
	c := sender.NewClient(loopback)
	u := strings.Replace(srv.URL, "http://", "http://user:p%40ss@", 1) + "/a//b%2Fc/../d?token=x%2By"
	res := c.Send(t.Context(), testWebhook(u), testDelivery(), time.Now(), testOut())
	require.Equal(t, schemas.OutcomeSuccess, res.Outcome, res.Error)
	r := <-got
	require.Equal(t, "/a//b%2Fc/../d?token=x%2By", r.RequestURI)
	user, pass, ok := r.BasicAuth()
	require.True(t, ok)
	require.Equal(t, "user", user)
	require.Equal(t, "p@ss", pass)
	require.Equal(t, "Hookstream/"+sender.Version, r.UserAgent())
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))

	for _, bad := range []string{"ftp://example.com/", "example.com/hook", "http://"} {
		res = c.Send(t.Context(), testWebhook(bad), testDelivery(), time.Now(), testOut())
		require.Equal(t, "bad webhook URL", res.Error, bad)
	}

	res = c.Send(t.Context(), testWebhook(srv.URL+"/?big=1"), testDelivery(), time.Now(), testOut())
	require.Equal(t, schemas.OutcomeError, res.Outcome)
	require.Equal(t, "the response's headers exceed 16 KiB", res.Error)
}

func TestClientTimesOut(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	c := sender.NewClient(sender.ClientConfig{Timeout: 100 * time.Millisecond, Egress: egress.Policy{AllowLoopback: true}})
	res := c.Send(t.Context(), testWebhook(srv.URL), testDelivery(), time.Now(), testOut())
	require.Equal(t, schemas.OutcomeError, res.Outcome)
	require.Equal(t, "timeout", res.Error)
}

// A receiver that answers 200 and then trickles its body a byte at a time
// cannot hold an attempt past the timeout.
func TestClientBoundsATricklingReceiver(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
				_, _ = w.Write([]byte("x"))
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer srv.Close()
	defer close(stop)
	c := sender.NewClient(sender.ClientConfig{Timeout: 200 * time.Millisecond, Egress: egress.Policy{AllowLoopback: true}})
	start := time.Now()
	res := c.Send(t.Context(), testWebhook(srv.URL), testDelivery(), time.Now(), testOut())
	require.Less(t, time.Since(start), 5*time.Second, "bounded by the timeout, not by the receiver")
	require.Equal(t, 200, res.StatusCode)
	require.LessOrEqual(t, len(res.Response), 1024)
}

// HTTPS checks the receiver's certificate: one no authority signed fails
// the attempt, and the request never arrives.
func TestClientVerifiesCertificates(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the request must not arrive")
	}))
	defer srv.Close()
	res := sender.NewClient(loopback).Send(t.Context(), testWebhook(srv.URL), testDelivery(), time.Now(), testOut())
	require.Equal(t, schemas.OutcomeError, res.Outcome)
	require.Contains(t, res.Error, "certificate")
}

// rawReceiver answers every request with the bytes of answer, then closes
// the connection: what a broken or hostile receiver might send. It returns
// its URL and a count of the connections it accepted.
func rawReceiver(t *testing.T, answer string) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	conns := new(atomic.Int32)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = conn.Write([]byte(answer))
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/", conns
}

// Whatever a receiver answers, the attempt ends with an outcome that says
// what happened, never a hang or a crash.
func TestClientReadsBrokenAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, answer string
		outcome      schemas.Outcome
		status       int
		response     string
		err          string
	}{
		{"HTTP/1.0, body to the close", "HTTP/1.0 200 OK\r\n\r\nuntil the end", schemas.OutcomeSuccess, 200, "until the end", ""},
		{"interim 100 first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", schemas.OutcomeSuccess, 204, "", ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", schemas.OutcomeSuccess, 200, "hello", ""},
		{"body shorter than its length", "HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\nshort", schemas.OutcomeSuccess, 202, "short", ""},
		{"unknown status", "HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n", schemas.OutcomeFailed, 599, "", ""},
		{"not HTTP", "hello there\r\n\r\n", schemas.OutcomeError, 0, "", "the response's status line or headers are malformed"},
		{"a bad header", "HTTP/1.1 200 OK\r\nX: \x00\r\n\r\n", schemas.OutcomeError, 0, "", "the response's status line or headers are malformed"},
		{"nothing", "", schemas.OutcomeError, 0, "", "the connection closed before a response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, _ := rawReceiver(t, tc.answer)
			res := sender.NewClient(loopback).Send(t.Context(), testWebhook(url), testDelivery(), time.Now(), testOut())
			require.Equal(t, tc.outcome, res.Outcome, res.Error)
			require.Equal(t, tc.status, res.StatusCode)
			require.Equal(t, tc.response, res.Response)
			require.Equal(t, tc.err, res.Error)
		})
	}
}
