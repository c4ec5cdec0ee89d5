package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/scheduler/schedulertest"
	"github.com/hookstream/hookstream/schemas"
)

// running is a Scheduler running in the background.
type running struct {
	s       *scheduler.Scheduler
	reports chan scheduler.Report
	cancel  context.CancelFunc
	done    chan error
}

// startScheduler runs a scheduler (23:59 in Berlin, lease 1 minute) named
// owner on clock; opts adjust its Config. cancel, when not nil, receives
// the function that stops it, for hooks.
func (tb *bundle) startScheduler(t *testing.T, clock *schedulertest.Clock, owner string, opts ...func(*scheduler.Config, context.CancelFunc)) *running {
	t.Helper()
	replayer, err := scheduler.NewReplayer(scheduler.ReplayerConfig{JS: tb.b.JS, Webhooks: tb.hooks, Clock: clock, Logger: tb.logger})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rn := &running{reports: make(chan scheduler.Report, 100), cancel: cancel, done: make(chan error, 1)}
	cfg := scheduler.Config{
		JS: tb.b.JS, Runs: tb.b.Scheduler, Replayer: replayer, At: "23:59", Location: zone(t, "Europe/Berlin"),
		LeaseTTL: time.Minute, Owner: owner, Clock: clock, Logger: tb.logger.With("owner", owner),
		OnRun: func(r scheduler.Report) { rn.reports <- r },
	}
	for _, o := range opts {
		o(&cfg, cancel)
	}
	rn.s, err = scheduler.New(cfg)
	require.NoError(t, err)
	go func() { rn.done <- rn.s.Run(ctx) }()
	t.Cleanup(func() { rn.stop(t) })
	return rn
}

// stop cancels the scheduler and waits for Run to return nil.
func (rn *running) stop(t *testing.T) {
	t.Helper()
	rn.cancel()
	select {
	case err, ok := <-rn.done:
		if ok {
			require.NoError(t, err, "Run returns nil when cancelled")
			close(rn.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("scheduler did not stop within 30s")
	}
}

// wait waits for Run to return nil after a hook cancelled it.
func (rn *running) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-rn.done:
		require.NoError(t, err, "Run returns nil when cancelled")
		close(rn.done)
	case <-time.After(30 * time.Second):
		t.Fatal("scheduler did not stop within 30s")
	}
}

// report waits for the report of run id.
func (rn *running) report(t *testing.T, id string) scheduler.Report {
	t.Helper()
	for {
		select {
		case r := <-rn.reports:
			if r.ID == id {
				return r
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no report of run %s within 30s", id)
		}
	}
}

// runRecord is the run's record in the scheduler bucket.
type runRecord struct {
	Owner      string    `json:"owner"`
	LeaseUntil time.Time `json:"lease_until"`
	UpTo       uint64    `json:"up_to"`
	Done       bool      `json:"done"`
	Replayed   int       `json:"replayed"`
	Kept       int       `json:"kept"`
	Expired    int       `json:"expired"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Resumes    int       `json:"resumes"`
}

func (tb *bundle) record(t *testing.T, id string) (runRecord, uint64) {
	t.Helper()
	e, err := tb.b.Scheduler.Get(context.Background(), "run."+id)
	require.NoError(t, err)
	var r runRecord
	require.NoError(t, json.Unmarshal(e.Value(), &r))
	return r, e.Revision()
}

func berlin(t *testing.T, month time.Month, d, h, m int) time.Time {
	return time.Date(2026, month, d, h, m, 0, 0, zone(t, "Europe/Berlin"))
}

// TestReceiverDownAllDayGetsEverythingAtTheEndOfTheDay: what was
// dead-lettered during the day is re-enqueued by the 23:59 run, once each,
// in the order it was dead-lettered, with a fresh attempt budget.
func TestReceiverDownAllDayGetsEverythingAtTheEndOfTheDay(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.hooks.put("acme", "wh_1", "")
	tb.hooks.put("acme", "wh_2", "")
	tb.hooks.put("globex", "wh_3", "")
	clock := schedulertest.NewClock(berlin(t, 11, 24, 8, 0))
	rn := tb.startScheduler(t, clock, "a")

	// On start it catches up on yesterday's run: nothing to do.
	r := rn.report(t, "2026-11-23")
	require.True(t, r.Acted)
	require.NoError(t, r.Err)
	require.Equal(t, scheduler.Result{}, r.Result)
	eod := berlin(t, 11, 24, 23, 59)
	require.True(t, eod.Equal(rn.s.Next()), "next run %s", rn.s.Next())
	clock.WaitForTimer(t, eod)

	// The receivers are down all day.
	var want []string
	for i := range 12 {
		tenant, wh := "acme", []string{"wh_1", "wh_2"}[i%2]
		if i%3 == 2 {
			tenant, wh = "globex", "wh_3"
		}
		_, id := tb.deadLetter(t, tenant, wh, berlin(t, 11, 24, 9, 0).Add(time.Duration(i)*40*time.Minute))
		want = append(want, id)
	}
	clock.Set(eod)

	r = rn.report(t, "2026-11-24")
	require.True(t, r.Acted)
	require.NoError(t, r.Err)
	require.Equal(t, 12, r.Result.Replayed)
	require.Equal(t, want, tb.queuedIDs(t), "once each, in the order dead-lettered")
	for _, q := range tb.queued(t) {
		require.Zero(t, q.Attempts)
		require.Equal(t, 1, q.Replays)
	}
	require.Empty(t, tb.remaining(t))

	rec, _ := tb.record(t, "2026-11-24")
	require.Equal(t, runRecord{Owner: "a", LeaseUntil: eod.UTC(), UpTo: 12, Done: true, Replayed: 12,
		StartedAt: eod.UTC(), FinishedAt: eod.UTC()}, normalize(rec))

	var tenants []string
	for _, a := range tb.audits(t, schemas.AuditReplayRun) {
		require.True(t, strings.HasPrefix(a.Reason, "end-of-day replay 2026-11-24: "), a.Reason)
		tenants = append(tenants, a.TenantID)
	}
	require.Equal(t, []string{"acme", "globex"}, tenants, "one record per tenant touched")

	// Then it waits for tomorrow's.
	clock.WaitForTimer(t, berlin(t, 11, 25, 23, 59))
}

// normalize puts a record's times in UTC for comparison.
func normalize(r runRecord) runRecord {
	r.LeaseUntil, r.StartedAt, r.FinishedAt = r.LeaseUntil.UTC(), r.StartedAt.UTC(), r.FinishedAt.UTC()
	return r
}

// TestSchedulersRacingTheRunReplayEachDeadLetterOnce: three replicas, one
// acts; the others find the run done.
func TestSchedulersRacingTheRunReplayEachDeadLetterOnce(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.hooks.put("acme", "wh_1", "")
	clock := schedulertest.NewClock(berlin(t, 11, 24, 8, 0))
	var replicas []*running
	for _, owner := range []string{"a", "b", "c"} {
		replicas = append(replicas, tb.startScheduler(t, clock, owner))
	}
	for _, rn := range replicas {
		rn.report(t, "2026-11-23")
	}
	eod := berlin(t, 11, 24, 23, 59)
	clock.WaitForTimers(t, eod, len(replicas))

	var want []string
	for i := range 60 {
		_, id := tb.deadLetter(t, "acme", "wh_1", berlin(t, 11, 24, 9, 0).Add(time.Duration(i)*time.Minute))
		want = append(want, id)
	}
	clock.Set(eod)

	acted := 0
	for _, rn := range replicas {
		r := rn.report(t, "2026-11-24")
		require.NoError(t, r.Err)
		if r.Acted {
			acted++
			require.Equal(t, 60, r.Result.Replayed)
		}
	}
	require.Equal(t, 1, acted, "exactly one replica acts")
	require.Equal(t, want, tb.queuedIDs(t))
	require.Empty(t, tb.remaining(t))
}

// TestKilledMidRunResumesWithoutLossOrDuplicate kills the owner right after
// it re-enqueued a delivery and before it removed the dead letter; another
// replica takes over once the lease lapses and finishes the run with the
// same up_to.
func TestKilledMidRunResumesWithoutLossOrDuplicate(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.hooks.put("acme", "wh_1", "")
	tb.hooks.put("acme", "wh_2", "")
	var want []string
	for i := range 10 {
		_, id := tb.deadLetter(t, "acme", []string{"wh_1", "wh_2"}[i%2], berlin(t, 11, 24, 9, i))
		want = append(want, id)
	}
	start := berlin(t, 11, 24, 23, 59).Add(30 * time.Second) // the run is due
	clock := schedulertest.NewClock(start)

	killed := errors.New("killed")
	a := tb.startScheduler(t, clock, "a", func(cfg *scheduler.Config, cancel context.CancelFunc) {
		scheduler.SetAfterPublish(cfg, func(n int) error {
			if n == 4 {
				cancel() // the process dies here: no release, no cleanup
				return killed
			}
			return nil
		})
	})
	a.wait(t)
	require.Equal(t, want[:4], tb.queuedIDs(t))
	require.Equal(t, []uint64{4, 5, 6, 7, 8, 9, 10}, tb.remaining(t), "the 4th was queued, not removed")
	rec, _ := tb.record(t, "2026-11-24")
	require.False(t, rec.Done)
	require.Equal(t, "a", rec.Owner)
	require.Equal(t, uint64(10), rec.UpTo)
	require.True(t, rec.LeaseUntil.Equal(start.Add(time.Minute)))

	// Dead-lettered after the run started: for tomorrow's run.
	late, _ := tb.deadLetter(t, "acme", "wh_1", start)

	b := tb.startScheduler(t, clock, "b")
	clock.WaitForTimer(t, rec.LeaseUntil) // b waits for a's lease
	clock.Set(rec.LeaseUntil)
	r := b.report(t, "2026-11-24")
	require.True(t, r.Acted)
	require.NoError(t, r.Err)
	require.Equal(t, 6, r.Result.Replayed, "5–10; the 4th is dropped as a duplicate")
	require.Equal(t, want, tb.queuedIDs(t), "no loss, no duplicate, in order")
	require.Equal(t, []uint64{late}, tb.remaining(t))

	rec, _ = tb.record(t, "2026-11-24")
	require.True(t, rec.Done)
	require.Equal(t, "b", rec.Owner)
	require.Equal(t, uint64(10), rec.UpTo, "up_to is kept across the takeover")
	require.Equal(t, 1, rec.Resumes)
}

// TestStoppedRunIsReleasedAndResumedAtOnce: an owner stopped by its context
// lets go of the lease, so the next start resumes without waiting.
func TestStoppedRunIsReleasedAndResumedAtOnce(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.hooks.put("acme", "wh_1", "")
	var want []string
	for i := range 8 {
		_, id := tb.deadLetter(t, "acme", "wh_1", berlin(t, 11, 24, 9, i))
		want = append(want, id)
	}
	clock := schedulertest.NewClock(berlin(t, 11, 24, 23, 59).Add(time.Second))
	a := tb.startScheduler(t, clock, "a", func(cfg *scheduler.Config, cancel context.CancelFunc) {
		scheduler.SetAfterItem(cfg, func(n int) error {
			if n == 3 {
				cancel() // SIGTERM
				return context.Canceled
			}
			return nil
		})
	})
	a.wait(t)
	rec, _ := tb.record(t, "2026-11-24")
	require.False(t, rec.Done)
	require.True(t, rec.LeaseUntil.IsZero(), "released")
	require.Equal(t, 3, rec.Replayed, "progress saved on the way out")
	require.Len(t, tb.remaining(t), 5)

	b := tb.startScheduler(t, clock, "b") // the clock has not moved
	r := b.report(t, "2026-11-24")
	require.True(t, r.Acted)
	require.Equal(t, 5, r.Result.Replayed)
	require.Equal(t, want, tb.queuedIDs(t))
	rec, _ = tb.record(t, "2026-11-24")
	require.True(t, rec.Done)
	require.Equal(t, 8, rec.Replayed)
}

// TestOwnerRenewsItsLeaseAndStopsWhenItLosesIt: while the owner works its
// lease is renewed; when another replica takes the run over, the owner
// stops at its next renewal.
func TestOwnerRenewsItsLeaseAndStopsWhenItLosesIt(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.hooks.put("acme", "wh_1", "")
	for i := range 10 {
		tb.deadLetter(t, "acme", "wh_1", berlin(t, 11, 24, 9, i))
	}
	start := berlin(t, 11, 24, 23, 59)
	clock := schedulertest.NewClock(start)
	a := tb.startScheduler(t, clock, "a", func(cfg *scheduler.Config, _ context.CancelFunc) {
		scheduler.SetAfterItem(cfg, func(n int) error {
			switch n {
			case 1:
				clock.Advance(25 * time.Second) // past a third of the lease: renew
			case 2:
				rec, rev := tb.record(t, "2026-11-24")
				require.Equal(t, "a", rec.Owner)
				require.True(t, rec.LeaseUntil.Equal(start.Add(25*time.Second+time.Minute)), "renewed: %s", rec.LeaseUntil)
				require.Equal(t, 1, rec.Replayed, "progress saved with the renewal")
				// Another replica takes the run over.
				rec.Owner, rec.LeaseUntil = "intruder", clock.Now().Add(time.Hour)
				raw, err := json.Marshal(rec)
				require.NoError(t, err)
				_, err = tb.b.Scheduler.Update(ctx, "run.2026-11-24", raw, rev)
				require.NoError(t, err)
				clock.Advance(25 * time.Second)
			}
			return nil
		})
	})
	r := a.report(t, "2026-11-24")
	require.ErrorContains(t, r.Err, "lease lost")
	require.Equal(t, 2, r.Result.Replayed)
	require.Len(t, tb.queuedIDs(t), 2, "it stopped at once")
	require.Len(t, tb.remaining(t), 8)
	// It now waits for the intruder's lease.
	clock.WaitForTimer(t, start.Add(25*time.Second+time.Hour))
}

// TestDeadLettersOfDeletedAndDisabledWebhooksAreKeptAndReported.
func TestDeadLettersOfDeletedAndDisabledWebhooksAreKeptAndReported(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.hooks.put("acme", "wh_live", "")
	tb.hooks.put("acme", "wh_off", "410 Gone")
	tb.deadLetter(t, "acme", "wh_live", berlin(t, 11, 24, 9, 0))
	off, _ := tb.deadLetter(t, "acme", "wh_off", berlin(t, 11, 24, 9, 1))
	gone, _ := tb.deadLetter(t, "acme", "wh_deleted", berlin(t, 11, 24, 9, 2))
	clock := schedulertest.NewClock(berlin(t, 11, 24, 23, 59))
	rn := tb.startScheduler(t, clock, "a")

	r := rn.report(t, "2026-11-24")
	require.Equal(t, scheduler.Result{Replayed: 1, Kept: 2, KeptReasons: map[string]int{
		"webhook disabled: 410 Gone": 1, "webhook deleted": 1,
	}}, r.Result)
	require.Equal(t, []uint64{off, gone}, tb.remaining(t))
	rec, _ := tb.record(t, "2026-11-24")
	require.Equal(t, 2, rec.Kept)
	require.Equal(t, 1, rec.Replayed)

	// Re-enabled the next day, the webhook gets its dead letter at that
	// day's run; the deleted one's stays.
	tb.hooks.put("acme", "wh_off", "")
	clock.Set(berlin(t, 11, 25, 23, 59))
	r = rn.report(t, "2026-11-25")
	require.Equal(t, 1, r.Result.Replayed)
	require.Equal(t, []uint64{gone}, tb.remaining(t))
}

// TestRunRemovesDeadLettersPastTheRetention, each with an audit record.
func TestRunRemovesDeadLettersPastTheRetention(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	eod := berlin(t, 11, 24, 23, 59)
	_, old := tb.deadLetter(t, "acme", "wh_deleted", eod.Add(-49*time.Hour))
	tb.deadLetter(t, "acme", "wh_deleted", eod.Add(-47*time.Hour))
	clock := schedulertest.NewClock(eod)
	rn := tb.startScheduler(t, clock, "a", func(cfg *scheduler.Config, _ context.CancelFunc) { cfg.Retention = 48 * time.Hour })

	r := rn.report(t, "2026-11-24")
	require.Equal(t, 1, r.Result.Expired)
	require.Equal(t, 1, r.Result.Kept)
	require.Equal(t, []uint64{2}, tb.remaining(t))
	expired := tb.audits(t, schemas.AuditDeadLetterExpired)
	require.Len(t, expired, 1)
	require.Equal(t, old, expired[0].DeliveryID)
	require.True(t, eod.Equal(expired[0].At), "dated by the scheduler's clock")
	rec, _ := tb.record(t, "2026-11-24")
	require.Equal(t, 1, rec.Expired)
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ok := scheduler.Config{JS: tb.b.JS, Runs: tb.b.Scheduler, Replayer: tb.replayer}
	_, err := scheduler.New(ok)
	require.NoError(t, err)
	for name, change := range map[string]func(*scheduler.Config){
		"no JS":              func(c *scheduler.Config) { c.JS = nil },
		"no bucket":          func(c *scheduler.Config) { c.Runs = nil },
		"no replayer":        func(c *scheduler.Config) { c.Replayer = nil },
		"bad time":           func(c *scheduler.Config) { c.At = "25:00" },
		"negative lease":     func(c *scheduler.Config) { c.LeaseTTL = -time.Second },
		"negative retention": func(c *scheduler.Config) { c.Retention = -time.Hour },
	} {
		cfg := ok
		change(&cfg)
		_, err := scheduler.New(cfg)
		require.Error(t, err, name)
	}
	_, err = scheduler.NewReplayer(scheduler.ReplayerConfig{JS: tb.b.JS})
	require.Error(t, err)
}
