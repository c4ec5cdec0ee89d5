package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/pipeline"
)

// A backlog of large events (here 400 of 200 KB, 80 MB, waiting before the
// router starts) reaches the router and then the sender in pulls of a
// bounded size: all at once it would be more than the server buffers for
// one client (max_pending), and the server would close the connection as a
// slow consumer, again after every reconnect, each time failing the
// deliveries being stored and leaving the events for the ack wait.
func TestABacklogOfLargeEventsKeepsTheConnection(t *testing.T) {
	t.Parallel()
	skipShort(t)
	const n = 400
	// The server buffers 32 MiB per client here, half its default, so that
	// a backlog the race detector's slower server still sends faster than
	// it flushes is small enough to write quickly.
	conf := filepath.Join(t.TempDir(), "nats.conf")
	require.NoError(t, os.WriteFile(conf, []byte("listen: 127.0.0.1:-1\nmax_payload: 8MB\nmax_pending: 32MB\n"), 0o600))
	srv := brokertest.Start(t, broker.EmbeddedConfig{ConfigFile: conf})
	b := brokertest.Open(t, srv, broker.Topology{})
	evs := newEvents(n)
	pad := make([]byte, 100<<10)
	for i := range evs {
		_, _ = rand.Read(pad) // incompressible: S2 cannot shrink it
		evs[i].Data = json.RawMessage(`{"sync_session_id":"ss_1","hrms":"darwinbox","padding":"` + hex.EncodeToString(pad) + `"}`)
	}
	rc := newReceiver(t, 0)
	p := runPipeline(t, pipeline.Config{Broker: b, Roles: pipeline.Roles{Sender: true}, Egress: egress.Policy{AllowLoopback: true}})
	storeWebhook(t, p, "wh_large", rc.URL)
	require.NoError(t, publish(context.Background(), p.Producer, evs, 50, nil).err)
	// The router starts with the whole backlog waiting.
	runPipeline(t, pipeline.Config{Broker: b, Roles: pipeline.Roles{Router: true}, Egress: egress.Policy{AllowLoopback: true}})
	state := brokerState(b, p)
	waitFor(t, rc.reached(n), 2*time.Minute, "every event delivered", rc.String, state)
	rc.requireAll(t, "/", "wh_large", evs)
	require.Zero(t, b.Conn.Stats().Reconnects, "the server never closed the connection")
}
