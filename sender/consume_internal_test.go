package sender

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/schemas"
)

// stallProxy forwards TCP connections to a NATS server and can hold
// everything in both directions, as a starved process or a congested
// network does.
type stallProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	cond  *sync.Cond
	held  bool
	conns []net.Conn
	wg    sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{ln: ln}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Go(func() { p.copy(s, c) })
			p.wg.Go(func() { p.copy(c, s) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.resume()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *stallProxy) URL() string { return "nats://" + p.ln.Addr().String() }

func (p *stallProxy) copy(dst io.WriteCloser, src io.ReadCloser) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.held {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) hold() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

func (p *stallProxy) resume() {
	p.mu.Lock()
	p.held = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// gatedWebhooks resolves one webhook, waiting while its gate is closed.
type gatedWebhooks struct {
	oneWebhook
	gate atomic.Pointer[chan struct{}]
}

func (g *gatedWebhooks) Webhook(ctx context.Context, tenantID, id string) (*schemas.Webhook, bool, error) {
	if gate := g.gate.Load(); gate != nil {
		select {
		case <-*gate:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	return g.oneWebhook.Webhook(ctx, tenantID, id)
}

// A sender whose connection to NATS stalls for longer than two pull
// heartbeats asks for deliveries again while its earlier request still
// stands, so the server sends it up to twice what it asked for. None of
// them may be dropped in the client: a dropped delivery would wait out the
// consumer's ack wait (a minute by default) before anyone delivered it.
func TestAStalledConnectionDropsNoDelivery(t *testing.T) {
	t.Parallel()
	srv := brokertest.Server(t, "")
	b := brokertest.Open(t, srv, broker.Topology{SenderAckWait: 10 * time.Minute})
	proxy := newStallProxy(t, srv.Addr().String())
	nc, err := nats.Connect(proxy.URL(), nats.MaxReconnects(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	wh, got := countingReceiver(t, nil)
	hooks := &gatedWebhooks{oneWebhook: oneWebhook{wh}}
	const workers = 2 // the sender asks for fetchAhead×workers at a time
	s, err := New(Config{JS: js, Webhooks: hooks, Workers: workers,
		Client: NewClient(ClientConfig{Egress: egress.Policy{AllowLoopback: true}})})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	// Idle, waiting on its pull request; then the connection stalls past
	// two heartbeats (but not past the request's expiry), so the client
	// asks again while the first request stands.
	time.Sleep(300 * time.Millisecond)
	proxy.hold()
	time.Sleep(3 * broker.PullHeartbeat)

	// Deliveries arrive for both requests, and the sender is slow to take
	// them: the first waits on its webhook's lookup.
	gate := make(chan struct{})
	hooks.gate.Store(&gate)
	n := 4 * fetchAhead * workers
	want := map[string]int{}
	for i := range n {
		d, data := testDelivery(t, wh, i, time.Now())
		_, err := b.JS.Publish(context.Background(), broker.DeliverySubject(d.TenantID, d.WebhookID), data)
		require.NoError(t, err)
		want[d.ID] = 1
	}
	proxy.resume()
	time.Sleep(500 * time.Millisecond) // what the server sends arrives
	close(gate)

	require.Eventually(t, func() bool { return len(got()) == n }, 20*time.Second, 20*time.Millisecond,
		"every delivery made long before the ack wait")
	require.Equal(t, want, got())
}

// A sender whose consumer is deleted under it stops with an error that says
// so (its process exits, and the restart declares the consumer again)
// rather than stay up delivering nothing.
func TestRunEndsWhenItsConsumerIsDeleted(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx := context.Background()
	wh, _ := countingReceiver(t, nil)
	s, err := New(Config{JS: b.JS, Webhooks: oneWebhook{wh},
		Client: NewClient(ClientConfig{Egress: egress.Policy{AllowLoopback: true}})})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	brokertest.WaitConsumer(t, b.JS, broker.StreamDeliveries, broker.ConsumerSender, "the sender waits on a pull request",
		func(info *jetstream.ConsumerInfo) bool { return info.NumWaiting > 0 })
	require.NoError(t, b.JS.DeleteConsumer(ctx, broker.StreamDeliveries, broker.ConsumerSender))
	select {
	case err := <-done:
		require.ErrorContains(t, err, "consuming "+broker.ConsumerSender+" ended")
		require.ErrorIs(t, err, jetstream.ErrConsumerDeleted)
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after its consumer was deleted")
	}
}
