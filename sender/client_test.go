package sender_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
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

	res := c.Send(ctx, testWebhook(srv.URL+"/huge"), testDelivery(), time.Now())
	require.Equal(t, schemas.OutcomeSuccess, res.Outcome)
	require.Len(t, res.Response, 1024, "only the start of a response is kept")

	res = c.Send(ctx, testWebhook(srv.URL+"/redirect"), testDelivery(), time.Now())
	require.Equal(t, schemas.OutcomeFailed, res.Outcome, "a redirect is not success")
	require.Equal(t, http.StatusFound, res.StatusCode)

	res = c.Send(ctx, testWebhook(srv.URL+"/busy"), testDelivery(), time.Now())
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
		res := strict.Send(t.Context(), testWebhook(url), testDelivery(), time.Now())
		require.Equal(t, schemas.OutcomeError, res.Outcome, url)
		require.Contains(t, res.Error, "destination not allowed", url)
	}
}

// A proxy from the environment would make the dial-time check see the
// proxy's address instead of the receiver's: the sender never uses one.
func TestClientIgnoresProxiesFromTheEnvironment(t *testing.T) {
	t.Parallel()
	tr, ok := sender.NewHTTPClient(8, egress.Policy{}).Transport.(*http.Transport)
	require.True(t, ok)
	require.Nil(t, tr.Proxy)
}

func TestClientTimesOut(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	c := sender.NewClient(sender.ClientConfig{Timeout: 100 * time.Millisecond, Egress: egress.Policy{AllowLoopback: true}})
	res := c.Send(t.Context(), testWebhook(srv.URL), testDelivery(), time.Now())
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
	res := c.Send(t.Context(), testWebhook(srv.URL), testDelivery(), time.Now())
	require.Less(t, time.Since(start), 5*time.Second, "bounded by the timeout, not by the receiver")
	require.Equal(t, 200, res.StatusCode)
	require.LessOrEqual(t, len(res.Response), 1024)
}
