package sender

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/schemas"
)

// loggedMessages returns every ATTEMPTS message on subject, oldest first,
// each as its attempts.
func loggedMessages(t *testing.T, js jetstream.JetStream, subject string) [][]schemas.Attempt {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, broker.StreamAttempts)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	var out [][]schemas.Attempt
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		require.NoError(t, err)
		if m.Subject != subject {
			continue
		}
		require.LessOrEqual(t, len(m.Data), maxLogMessage, "message %d", seq)
		var as []schemas.Attempt
		require.NoError(t, schemas.UnmarshalAttempts(m.Data, func(i int, a *schemas.Attempt) error {
			require.Equal(t, len(as), i)
			as = append(as, *a)
			return nil
		}))
		require.LessOrEqual(t, len(as), maxLoggedTogether, "message %d", seq)
		out = append(out, as)
	}
	return out
}

// A sender logs a webhook's attempts of the last moment together, a few
// messages for hundreds of attempts, and a sender that stops has logged
// every attempt it made by the time Run returns.
func TestAttemptsAreLoggedTogether(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx := context.Background()
	wh, got := countingReceiver(t, nil)
	const n = 300
	for i := range n {
		_, data := testDelivery(t, wh, i, time.Time{})
		_, err := b.JS.Publish(ctx, broker.DeliverySubject("t1", wh.ID), data)
		require.NoError(t, err)
	}
	s, err := New(Config{JS: b.JS, Webhooks: oneWebhook{wh}, Workers: 16,
		Client: NewClient(ClientConfig{Egress: egress.Policy{AllowLoopback: true}})})
	require.NoError(t, err)
	s.log.linger = time.Hour // only full messages, and what Run flushes as it stops
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	require.Eventually(t, func() bool { return len(got()) == n }, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return s.Stats().Attempts == n }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	// No waiting: what Run made is logged when it returns.
	msgs := loggedMessages(t, b.JS, broker.AttemptSubject("t1", wh.ID))
	logged := map[string]int{}
	for _, m := range msgs {
		for _, a := range m {
			logged[a.DeliveryID]++
			require.Equal(t, schemas.OutcomeSuccess, a.Outcome)
			require.Equal(t, wh.URL, a.URL)
		}
	}
	require.Equal(t, n, len(logged), "every attempt logged")
	for id, k := range logged {
		require.Equal(t, 1, k, id)
	}
	require.Len(t, msgs, (n+maxLoggedTogether-1)/maxLoggedTogether, "logged together")
}

// A message is written when it holds maxLoggedTogether attempts or would
// pass maxLogMessage bytes, and a webhook's attempts stay in order.
func TestAttemptLogSplitsByCountAndSize(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	l := newAttemptLog(b.JS, slog.New(slog.DiscardHandler))
	attempt := func(i int, response string) *schemas.Attempt {
		return &schemas.Attempt{DeliveryID: fmt.Sprintf("d%03d", i), TenantID: "t1", WebhookID: "wh_1", Attempt: 1,
			Outcome: schemas.OutcomeFailed, StatusCode: 500, Response: response, At: time.Now().UTC()}
	}
	// Small attempts: full at maxLoggedTogether.
	for i := range maxLoggedTogether + 5 {
		l.add(attempt(i, "oops"))
	}
	// Attempts of 12 KiB each (a long response excerpt): two to a message.
	big := strings.Repeat("x", 12<<10)
	for i := range 7 {
		l.add(attempt(100+i, big))
	}
	l.flush()
	select {
	case <-b.JS.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		t.Fatal("writes not confirmed")
	}

	msgs := loggedMessages(t, b.JS, broker.AttemptSubject("t1", "wh_1"))
	var sizes []int
	var ids []string
	for _, m := range msgs {
		sizes = append(sizes, len(m))
		for _, a := range m {
			ids = append(ids, a.DeliveryID)
		}
	}
	// The 5 small ones left over share a message with the first two big
	// ones; a third would pass the size limit.
	require.Equal(t, []int{maxLoggedTogether, 7, 2, 2, 1}, sizes)
	require.Len(t, ids, maxLoggedTogether+5+7)
	for i := 1; i < len(ids); i++ {
		require.Less(t, ids[i-1], ids[i], "in the order logged")
	}
}
