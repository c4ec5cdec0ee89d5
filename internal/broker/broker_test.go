package broker_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/testproc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A role declares the topology; a tool opening with CreateOnly leaves it as
// the role set it, where Ensure would reset it.
func TestCreateOnlyLeavesTheTopologyAlone(t *testing.T) {
	t.Parallel()
	srv := brokertest.Server(t, "")
	ctx := context.Background()
	role := brokertest.Open(t, srv, broker.Topology{DeadLetterRetention: 30 * 24 * time.Hour})
	maxAge := func() time.Duration {
		s, err := role.JS.Stream(ctx, broker.StreamDeadLetters)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		return info.Config.MaxAge
	}
	require.Equal(t, 31*24*time.Hour, maxAge(), "kept a day past the retention")

	tool, err := broker.Open(ctx, broker.Config{URLs: srv.ClientURL(), CreateOnly: true})
	require.NoError(t, err)
	tool.Close()
	require.Equal(t, 31*24*time.Hour, maxAge(), "a tool with default settings changed nothing")

	require.NoError(t, broker.Ensure(ctx, role.JS, broker.Topology{}))
	require.Equal(t, 8*24*time.Hour, maxAge(), "Ensure applies the topology it is given")
}

// Asynchronous connection errors go to the logger, in its format, not as
// bare lines on stderr.
func TestAsyncErrorsAreLogged(t *testing.T) {
	t.Parallel()
	srv := brokertest.Server(t, "")
	var logs testproc.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{URLs: srv.ClientURL(), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)
	defer b.Close()

	release := make(chan struct{})
	sub, err := b.Conn.Subscribe("slow", func(*nats.Msg) { <-release })
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(1, -1))
	for range 10 {
		require.NoError(t, b.Conn.Publish("slow", []byte("x")))
	}
	require.NoError(t, b.Conn.Flush())
	require.Eventually(t, func() bool {
		return bytes.Contains(logs.Bytes(), []byte(`"msg":"nats async error","err":"nats: slow consumer, messages dropped","subject":"slow"`))
	}, 10*time.Second, 10*time.Millisecond, "logged: %s", logs.Bytes())
	close(release)
	require.NoError(t, sub.Unsubscribe())
}

// An asynchronous publish that nobody answers fails after the timeout
// instead of waiting forever: a stream leader that stops before answering
// must not wedge whoever waits for the ack.
func TestAsyncPublishWithoutAnAckTimesOut(t *testing.T) {
	t.Parallel()
	srv := brokertest.Server(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{URLs: srv.ClientURL(), PublishAsyncTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer b.Close()

	// A plain subscriber that never replies: the publish gets no ack, as
	// when a leader dies with it in flight.
	sub, err := b.Conn.SubscribeSync("silent")
	require.NoError(t, err)
	defer func() { require.NoError(t, sub.Unsubscribe()) }()
	f, err := b.JS.PublishMsgAsync(&nats.Msg{Subject: "silent", Data: []byte("x")})
	require.NoError(t, err)
	select {
	case <-f.Ok():
		t.Fatal("acknowledged by nobody")
	case err := <-f.Err():
		require.ErrorIs(t, err, jetstream.ErrAsyncPublishTimeout)
	case <-time.After(10 * time.Second):
		t.Fatal("the publish still waits for its ack")
	}
	require.Zero(t, b.JS.PublishAsyncPending(), "and no longer counts against the pending limit")
}

// A role started before its NATS server waits for it (WaitForServers); a
// tool without it fails at once.
func TestWaitForServers(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	url := "nats://" + addr

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = broker.Open(ctx, broker.Config{URLs: url})
	require.ErrorIs(t, err, nats.ErrNoServers)

	short, cancelShort := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancelShort()
	_, err = broker.Open(short, broker.Config{URLs: url, WaitForServers: true, Logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, nats.ErrNoServers, "gives up when its context ends")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	opened := make(chan error, 1)
	go func() {
		b, err := broker.Open(ctx, broker.Config{URLs: url, WaitForServers: true, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			b.Close()
		}
		opened <- err
	}()
	time.Sleep(time.Second) // the role is waiting
	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: t.TempDir(), Listen: addr})
	require.NoError(t, err)
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	require.NoError(t, <-opened)
}

// Settle publishes an open batch as one message scheduled for its last
// delivery's time and reports it stored; a batch the stream refuses is
// reported as not stored each time it is settled, so every message it
// replaces is redelivered.
func TestHeldBatchesSettleStoresOrReports(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	var hb broker.HeldBatches
	var batch *broker.OpenBatch
	for i, id := range []string{"d1", "d2", "d3"} {
		entry, ok := broker.AppendHeldEntry(nil, &broker.HeldDelivery{ID: id, Data: []byte(id)})
		require.True(t, ok)
		batch, _ = hb.Add(broker.HeldEntry{TenantID: "t1", WebhookID: "wh_1", ID: id,
			At: now.Add(time.Duration(i+1) * time.Hour), Since: now, Data: entry})
	}
	require.NoError(t, hb.Settle(b.JS, batch))
	require.NoError(t, hb.Settle(b.JS, batch), "settled again for the next message it replaces")
	st, err := b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	msg, err := st.GetLastMsgForSubject(ctx, "retries.t1.wh_1.*")
	require.NoError(t, err)
	require.Equal(t, "3", msg.Header.Get(broker.HeaderHeld))
	require.Equal(t, "@at "+now.Add(3*time.Hour).UTC().Format(time.RFC3339), msg.Header.Get(jetstream.ScheduleHeader),
		"due when its last delivery is")
	ds, err := broker.DecodeHeld(msg.Data, 3)
	require.NoError(t, err)
	require.Equal(t, "d3", ds[2].ID)

	require.NoError(t, b.JS.DeleteStream(ctx, broker.StreamDeliveries))
	entry, _ := broker.AppendHeldEntry(nil, &broker.HeldDelivery{ID: "d4", Data: []byte("d4")})
	refused, _ := hb.Add(broker.HeldEntry{TenantID: "t1", WebhookID: "wh_1", ID: "d4", At: now, Since: now, Data: entry})
	require.Error(t, hb.Settle(b.JS, refused))
	require.Error(t, hb.Settle(b.JS, refused), "every message it replaces is redelivered")
}
