package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/schemas"
)

var day = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// traceparent is a sampled W3C trace context, as a sender stores on a dead
// letter.
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestReplayReenqueuesWithAFreshBudget(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.hooks.put("acme", "wh_live", "")
	tb.hooks.put("acme", "wh_off", "410 Gone from the receiver")
	// wh_gone was never stored: deleted.

	var want []string
	var kept []uint64
	for i := range 9 {
		at := day.Add(time.Duration(i) * time.Minute)
		switch i % 3 {
		case 0:
			_, id := tb.deadLetterWithHeader(t, "acme", "wh_live", at, map[string]string{"traceparent": traceparent})
			want = append(want, id)
		case 1:
			seq, _ := tb.deadLetter(t, "acme", "wh_off", at)
			kept = append(kept, seq)
		case 2:
			seq, _ := tb.deadLetter(t, "acme", "wh_gone", at)
			kept = append(kept, seq)
		}
	}

	res, err := tb.replayer.Replay(ctx, scheduler.Filter{TenantID: "acme", Origin: "test"})
	require.NoError(t, err)
	require.Equal(t, scheduler.Result{Replayed: 3, Kept: 6, KeptReasons: map[string]int{
		"webhook disabled: 410 Gone from the receiver": 3,
		scheduler.ReasonWebhookDeleted:                 3,
	}}, res)
	require.Equal(t, "3 replayed, 6 kept (webhook deleted: 3; webhook disabled: 410 Gone from the receiver: 3)", res.String())

	q := tb.queued(t)
	require.Equal(t, want, tb.queuedIDs(t), "re-enqueued in the order dead-lettered")
	for i, d := range q {
		require.Zero(t, d.Attempts, "a fresh attempt budget")
		require.Nil(t, d.History)
		require.True(t, d.NotBefore.IsZero())
		require.Equal(t, 1, d.Replays)
		require.Equal(t, "acme", d.TenantID)
		require.Equal(t, "wh_live", d.WebhookID)
		require.Equal(t, `{"id":"`+d.EventID+`"}`, string(d.Payload))
		require.Equal(t, fmt.Sprintf("%s:r%d", want[i], 1+3*i), d.MsgID)
		require.Equal(t, traceparent[:36], d.Traceparent[:36], "the replay continues the dead letter's trace")
	}
	require.Equal(t, kept, tb.remaining(t), "kept dead letters stay")

	audit := tb.audits(t, schemas.AuditReplayRun)
	require.Len(t, audit, 1)
	require.Equal(t, "acme", audit[0].TenantID)
	require.Equal(t, 3, audit[0].Count)
	require.Equal(t, "test: "+res.String(), audit[0].Reason)

	// Once re-enabled, the rest goes too; a second replay finds nothing.
	tb.hooks.put("acme", "wh_off", "")
	res, err = tb.replayer.Replay(ctx, scheduler.Filter{TenantID: "acme", WebhookID: "wh_off"})
	require.NoError(t, err)
	require.Equal(t, 3, res.Replayed)
	require.Zero(t, res.Kept)
	res, err = tb.replayer.Replay(ctx, scheduler.Filter{TenantID: "acme", WebhookID: "wh_off"})
	require.NoError(t, err)
	require.Equal(t, scheduler.Result{}, res)
	require.Len(t, tb.queued(t), 6)
}

func TestReplayFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// setupFour writes dead letters 1–4 for acme (wh_a, wh_b, wh_a, wh_b, an
	// hour apart) and 5 for globex.
	setupFour := func(t *testing.T) *bundle {
		tb := setup(t)
		for _, id := range []string{"wh_a", "wh_b"} {
			tb.hooks.put("acme", id, "")
		}
		tb.hooks.put("globex", "wh_g", "")
		for i, wh := range []string{"wh_a", "wh_b", "wh_a", "wh_b"} {
			tb.deadLetter(t, "acme", wh, day.Add(time.Duration(i)*time.Hour))
		}
		tb.deadLetter(t, "globex", "wh_g", day)
		return tb
	}

	for name, tc := range map[string]struct {
		filter   scheduler.Filter
		replayed []uint64 // sequences
		notFound int
	}{
		"tenant":               {filter: scheduler.Filter{TenantID: "acme"}, replayed: []uint64{1, 2, 3, 4}},
		"webhook":              {filter: scheduler.Filter{TenantID: "acme", WebhookID: "wh_b"}, replayed: []uint64{2, 4}},
		"since":                {filter: scheduler.Filter{TenantID: "acme", Since: day.Add(time.Hour)}, replayed: []uint64{2, 3, 4}},
		"until, inclusive":     {filter: scheduler.Filter{TenantID: "acme", Until: day.Add(time.Hour)}, replayed: []uint64{1, 2}},
		"window and webhook":   {filter: scheduler.Filter{TenantID: "acme", WebhookID: "wh_a", Since: day.Add(time.Minute), Until: day.Add(3 * time.Hour)}, replayed: []uint64{3}},
		"up to":                {filter: scheduler.Filter{TenantID: "acme", UpTo: 3}, replayed: []uint64{1, 2, 3}},
		"every tenant":         {filter: scheduler.Filter{}, replayed: []uint64{1, 2, 3, 4, 5}},
		"ids":                  {filter: scheduler.Filter{TenantID: "acme", Seqs: []uint64{4, 2, 4}}, replayed: []uint64{2, 4}},
		"ids of other tenants": {filter: scheduler.Filter{TenantID: "acme", Seqs: []uint64{1, 5, 99}}, replayed: []uint64{1}, notFound: 2},
		"ids and webhook":      {filter: scheduler.Filter{TenantID: "acme", WebhookID: "wh_a", Seqs: []uint64{1, 2}}, replayed: []uint64{1}, notFound: 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := setupFour(t)
			res, err := tb.replayer.Replay(ctx, tc.filter)
			require.NoError(t, err)
			require.Equal(t, len(tc.replayed), res.Replayed)
			require.Equal(t, tc.notFound, res.NotFound)
			var left []uint64
			for seq := uint64(1); seq <= 5; seq++ {
				replayed := false
				for _, r := range tc.replayed {
					replayed = replayed || r == seq
				}
				if !replayed {
					left = append(left, seq)
				}
			}
			require.Equal(t, left, tb.remaining(t))
		})
	}

	t.Run("bad filters", func(t *testing.T) {
		t.Parallel()
		tb := setup(t)
		for _, f := range []scheduler.Filter{
			{TenantID: "a.b"}, {TenantID: "acme", WebhookID: "*"}, {WebhookID: "wh_a"},
			{TenantID: "acme", Since: day, Until: day.Add(-time.Second)},
		} {
			_, err := tb.replayer.Replay(ctx, f)
			require.ErrorIs(t, err, scheduler.ErrBadFilter, "%+v", f)
		}
	})
}

// TestConcurrentReplaysEnqueueOnce races replays over the same dead
// letters: each is re-enqueued once, and the results add up.
func TestConcurrentReplaysEnqueueOnce(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.hooks.put("acme", "wh_a", "")
	const n = 150
	var want []string
	for i := range n {
		_, id := tb.deadLetter(t, "acme", "wh_a", day.Add(time.Duration(i)*time.Second))
		want = append(want, id)
	}

	const replayers = 3
	results := make([]scheduler.Result, replayers)
	var wg sync.WaitGroup
	for i := range replayers {
		wg.Go(func() {
			res, err := tb.replayer.Replay(ctx, scheduler.Filter{TenantID: "acme"})
			require.NoError(t, err)
			results[i] = res
		})
	}
	wg.Wait()
	total := 0
	for _, r := range results {
		total += r.Replayed
	}
	require.Equal(t, n, total)
	require.ElementsMatch(t, want, tb.queuedIDs(t))
	require.Empty(t, tb.remaining(t))
}

// TestReplayStoppedBetweenPublishAndRemove is a replay that dies after
// re-enqueuing a delivery and before removing its dead letter: run again,
// it finishes without queuing that delivery twice.
func TestReplayStoppedBetweenPublishAndRemove(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.hooks.put("acme", "wh_a", "")
	var want []string
	for i := range 6 {
		_, id := tb.deadLetter(t, "acme", "wh_a", day.Add(time.Duration(i)*time.Second))
		want = append(want, id)
	}
	crash := errors.New("killed")
	res, err := tb.replayer.ReplayStoppingAfterPublish(ctx, scheduler.Filter{TenantID: "acme"}, func(n int) error {
		if n == 3 {
			return crash
		}
		return nil
	})
	require.ErrorIs(t, err, crash)
	require.Equal(t, 2, res.Replayed, "the third was published, not removed")
	require.Equal(t, []uint64{3, 4, 5, 6}, tb.remaining(t))
	require.Equal(t, want[:3], tb.queuedIDs(t))

	res, err = tb.replayer.Replay(ctx, scheduler.Filter{TenantID: "acme"})
	require.NoError(t, err)
	require.Equal(t, 3, res.Replayed, "the third is dropped as a duplicate, not counted twice")
	require.Equal(t, want, tb.queuedIDs(t), "each once, in order")
	require.Empty(t, tb.remaining(t))
}

func TestReplayExpiresOldDeadLetters(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.hooks.put("acme", "wh_a", "")
	old, oldID := tb.deadLetter(t, "acme", "wh_a", day.Add(-8*24*time.Hour))
	_, newID := tb.deadLetter(t, "acme", "wh_a", day)
	tb.deadLetter(t, "acme", "wh_gone", day.Add(-9*24*time.Hour)) // expired although kept

	res, err := tb.replayer.Replay(ctx, scheduler.Filter{ExpireBefore: day.Add(-7 * 24 * time.Hour)})
	require.NoError(t, err)
	require.Equal(t, scheduler.Result{Replayed: 1, Expired: 2}, res)
	require.Equal(t, []string{newID}, tb.queuedIDs(t))
	require.Empty(t, tb.remaining(t))

	expired := tb.audits(t, schemas.AuditDeadLetterExpired)
	require.Len(t, expired, 2)
	require.Equal(t, oldID, expired[0].DeliveryID)
	require.Equal(t, "wh_a", expired[0].WebhookID)
	require.Equal(t, "acme", expired[0].TenantID)
	require.Contains(t, expired[0].Reason, "2026-11-16T09:00:00Z")
	require.Contains(t, expired[0].Reason, "connection refused")
	require.Equal(t, "wh_gone", expired[1].WebhookID)
	require.NotContains(t, tb.remaining(t), old)
}

func TestList(t *testing.T) {
	t.Parallel()
	// List reads from the stream's own timestamps on for Since: keep the
	// dead letters' times in the past of the real clock.
	day := time.Now().UTC().Truncate(time.Hour).Add(-12 * time.Hour)
	tb := setup(t)
	ctx := context.Background()
	tb.hooks.put("acme", "wh_a", "")
	tb.hooks.put("acme", "wh_b", "failing since Monday")
	for i, wh := range []string{"wh_a", "wh_b", "wh_a", "wh_c", "wh_a"} {
		tb.deadLetter(t, "acme", wh, day.Add(time.Duration(i)*time.Hour))
	}
	tb.deadLetter(t, "globex", "wh_a", day)

	list := func(t *testing.T, q scheduler.Query) scheduler.LetterPage {
		t.Helper()
		q.TenantID = "acme"
		p, err := tb.replayer.List(ctx, q)
		require.NoError(t, err)
		return p
	}
	seqs := func(p scheduler.LetterPage) []uint64 {
		var out []uint64
		for _, l := range p.Letters {
			out = append(out, l.Seq)
		}
		return out
	}

	p := list(t, scheduler.Query{Limit: 50})
	require.Equal(t, []uint64{5, 4, 3, 2, 1}, seqs(p), "newest first, only acme's")
	require.Zero(t, p.Next)
	require.Equal(t, "", p.Letters[0].KeptReason)
	require.Equal(t, scheduler.ReasonWebhookDeleted, p.Letters[1].KeptReason)
	require.Equal(t, "webhook disabled: failing since Monday", p.Letters[3].KeptReason)
	require.Equal(t, "connection refused", p.Letters[0].LastError)
	require.Len(t, p.Letters[0].Delivery.History, 2)

	p = list(t, scheduler.Query{Limit: 2})
	require.Equal(t, []uint64{5, 4}, seqs(p))
	p = list(t, scheduler.Query{Limit: 2, Before: p.Next})
	require.Equal(t, []uint64{3, 2}, seqs(p))
	p = list(t, scheduler.Query{Limit: 2, Before: p.Next})
	require.Equal(t, []uint64{1}, seqs(p))
	require.Zero(t, p.Next)

	require.Equal(t, []uint64{5, 3, 1}, seqs(list(t, scheduler.Query{Limit: 9, WebhookID: "wh_a"})))
	require.Equal(t, []uint64{4, 3, 2}, seqs(list(t, scheduler.Query{Limit: 9, Since: day.Add(time.Hour), Until: day.Add(3 * time.Hour)})))
	require.Empty(t, seqs(list(t, scheduler.Query{Limit: 9, WebhookID: "wh_nothing"})))

	_, err := tb.replayer.List(ctx, scheduler.Query{Limit: 1})
	require.ErrorIs(t, err, scheduler.ErrBadFilter, "no tenant")
	_, err = tb.replayer.List(ctx, scheduler.Query{TenantID: "acme", WebhookID: ">", Limit: 1})
	require.ErrorIs(t, err, scheduler.ErrBadFilter)
}

// BenchmarkReplay measures how fast a replay moves dead letters back to
// DELIVERIES (publish, then delete, one at a time) on an embedded server.
func BenchmarkReplay(b *testing.B) {
	const letters = 2000
	tb := setup(b)
	tb.hooks.put("acme", "wh_a", "")
	ctx := context.Background()
	var elapsed time.Duration
	rounds := 0
	for b.Loop() {
		rounds++
		b.StopTimer()
		for i := range letters {
			eventID := fmt.Sprintf("evt_%d_%d", rounds, i)
			dl := schemas.DeadLetter{At: day, Reason: "gave up", Delivery: schemas.Delivery{
				ID: schemas.DeliveryID(eventID, "wh_a"), EventID: eventID, TenantID: "acme", WebhookID: "wh_a",
				Payload: make([]byte, 1024),
			}}
			msg, err := broker.DeadLetterMsg(&dl, dl.Delivery.ID+":dl")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tb.b.JS.PublishMsgAsync(msg); err != nil {
				b.Fatal(err)
			}
		}
		<-tb.b.JS.PublishAsyncComplete()
		b.StartTimer()
		start := time.Now()
		res, err := tb.replayer.Replay(ctx, scheduler.Filter{TenantID: "acme"})
		elapsed += time.Since(start)
		if err != nil || res.Replayed != letters {
			b.Fatalf("replayed %d: %v", res.Replayed, err)
		}
		b.StopTimer()
		// Empty the work queue for the next round.
		s, err := tb.b.JS.Stream(ctx, broker.StreamDeliveries)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Purge(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(letters*rounds)/elapsed.Seconds(), "dead_letters/s")
}
