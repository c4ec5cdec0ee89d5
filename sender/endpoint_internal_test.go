package sender

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEndpointCapQueueAndSendBack(t *testing.T) {
	t.Parallel()
	e := &endpoint{}
	now := time.Unix(1000, 0)
	jobs := make([]*job, 6)
	for i := range jobs {
		jobs[i] = &job{}
	}
	cfg := BreakerConfig{}.withDefaults()
	for _, j := range jobs[:2] {
		adm, _ := e.admit(j, now, 2, 2)
		require.Equal(t, admitNow, adm)
	}
	for _, j := range jobs[2:4] {
		adm, _ := e.admit(j, now, 2, 2)
		require.Equal(t, admitQueue, adm, "queued behind the cap")
	}
	adm, at := e.admit(jobs[4], now, 2, 2)
	require.Equal(t, admitLater, adm, "queue full: back later")
	require.True(t, at.Sub(now) >= time.Second, "at least a second later, so it waits as a scheduled message")

	v := e.done(false, time.Millisecond, now, 10, cfg)
	require.Same(t, jobs[2], v.next, "a finished attempt hands its slot to the next queued delivery")
	require.Empty(t, v.later)
	require.Equal(t, 2, e.inflight)
}

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	t.Parallel()
	cfg := BreakerConfig{Failures: 3, Cooldown: 10 * time.Second, MaxCooldown: 25 * time.Second}.withDefaults()
	e := &endpoint{}
	now := time.Unix(1000, 0)
	attempt := func(failed bool) {
		t.Helper()
		adm, _ := e.admit(&job{}, now, 10, 10)
		require.Equal(t, admitNow, adm)
		e.done(failed, time.Millisecond, now, 10, cfg)
	}
	attempt(true)
	attempt(true)
	attempt(false) // a success resets the count
	attempt(true)
	attempt(true)
	require.False(t, e.isOpen())

	// Three failures in a row open it, sending back what was queued.
	e.queue = []*job{{}, {}}
	e.inflight++ // the attempt whose outcome trips it
	v := e.done(true, time.Millisecond, now, 10, cfg)
	require.True(t, e.isOpen())
	require.True(t, v.opened, "reported, to be shared")
	require.Len(t, v.later, 2)
	require.True(t, !v.at.Before(now.Add(cfg.Cooldown)), "sent back to after the cooldown")

	adm, _ := e.admit(&job{}, now.Add(5*time.Second), 10, 10)
	require.Equal(t, admitLater, adm, "open: nothing goes through")

	// After the cooldown one probe goes; others wait for its verdict.
	now = now.Add(11 * time.Second)
	adm, _ = e.admit(&job{}, now, 10, 10)
	require.Equal(t, admitNow, adm, "the probe")
	adm, _ = e.admit(&job{}, now, 10, 10)
	require.Equal(t, admitLater, adm, "one probe at a time")
	e.done(true, time.Millisecond, now, 10, cfg)
	require.True(t, e.isOpen())
	require.Equal(t, 20*time.Second, e.cooldown, "a failed probe doubles the cooldown")

	now = now.Add(21 * time.Second)
	adm, _ = e.admit(&job{}, now, 10, 10)
	require.Equal(t, admitNow, adm)
	e.done(true, time.Millisecond, now, 10, cfg)
	require.Equal(t, 25*time.Second, e.cooldown, "capped")

	now = now.Add(26 * time.Second)
	adm, _ = e.admit(&job{}, now, 10, 10)
	require.Equal(t, admitNow, adm)
	require.True(t, e.done(false, time.Millisecond, now, 10, cfg).closed)
	require.False(t, e.isOpen(), "a successful probe closes it")
}

func TestBreakerFailureIgnoresClientErrors(t *testing.T) {
	t.Parallel()
	require.True(t, breakerFailure(&Result{Outcome: "error"}))
	require.True(t, breakerFailure(&Result{Outcome: "failed", StatusCode: 503}))
	require.True(t, breakerFailure(&Result{Outcome: "failed", StatusCode: 429}))
	require.False(t, breakerFailure(&Result{Outcome: "failed", StatusCode: 400}), "the receiver is up")
	require.False(t, breakerFailure(&Result{Outcome: "success", StatusCode: 200}))
}

// An endpoint starts with a few attempts in flight, doubles the limit with
// each round of successes up to the cap, and halves it on a failure: a
// receiver that never answers holds few workers from its first burst on.
func TestConcurrencyLimitGrowsAndShrinks(t *testing.T) {
	t.Parallel()
	e := &endpoint{}
	cfg := BreakerConfig{Failures: 100}.withDefaults()
	now := time.Unix(1000, 0)
	const cap = 32
	fill := func() int {
		n := 0
		for {
			adm, _ := e.admit(&job{}, now, cap, 1)
			if adm != admitNow {
				e.queue = nil
				return n
			}
			n++
		}
	}
	require.Equal(t, initialLimit, fill(), "a few at first")
	for range initialLimit {
		e.done(false, time.Millisecond, now, cap, cfg)
	}
	require.Equal(t, 2*initialLimit, fill(), "a round of successes doubles it")
	for range 2 * initialLimit {
		e.done(false, time.Millisecond, now, cap, cfg)
	}
	require.Equal(t, 16, fill())
	for range 16 {
		e.done(false, time.Millisecond, now, cap, cfg)
	}
	require.Equal(t, cap, fill(), "up to the cap")
	for range cap {
		e.done(false, time.Millisecond, now, cap, cfg)
	}
	require.Equal(t, cap, fill(), "never beyond")
	e.done(true, time.Millisecond, now, cap, cfg)
	require.Equal(t, cap/2, e.limit, "a failure halves it")
}

// A fast endpoint whose queue is full makes the fetcher wait for room (a
// round trip through the stream would cost more than the wait); a slow one,
// or one whose wait was in vain, sends back.
func TestFullQueueWaitsOnlyForFastEndpoints(t *testing.T) {
	t.Parallel()
	cfg := BreakerConfig{}.withDefaults()
	now := time.Now()
	fill := func(latency time.Duration) *endpoint {
		e := &endpoint{latency: latency, floor: latency}
		for _, want := range []admission{admitNow, admitQueue} {
			adm, _ := e.admit(&job{}, now, 1, 1)
			require.Equal(t, want, adm)
		}
		return e
	}

	fast := fill(5 * time.Millisecond)
	adm, deadline := fast.admit(&job{}, now, 1, 1)
	require.Equal(t, admitWait, adm)
	require.Equal(t, now.Add(maxRoomWait), deadline)
	go fast.done(false, 5*time.Millisecond, now, 1, cfg) // the attempt ends; the queued one starts
	require.True(t, fast.waitRoom(time.Now().Add(10*time.Second)), "room as the queue moves")
	adm, _ = fast.admit(&job{}, now, 1, 1)
	require.Equal(t, admitQueue, adm)

	// Nothing moves: the wait is in vain and waits stop for a while.
	adm, _ = fast.admit(&job{}, now, 1, 1)
	require.Equal(t, admitWait, adm)
	require.False(t, fast.waitRoom(time.Now().Add(10*time.Millisecond)))
	adm, _ = fast.admit(&job{}, time.Now(), 1, 1)
	require.Equal(t, admitLater, adm, "no more waiting on it for noWaitFor")

	slow := fill(2 * fastEndpoint)
	adm, _ = slow.admit(&job{}, now, 1, 1)
	require.Equal(t, admitLater, adm, "a slow endpoint cannot hold the fetcher")
	unknown := fill(0)
	adm, _ = unknown.admit(&job{}, now, 1, 1)
	require.Equal(t, admitLater, adm, "nor one that has not answered yet")
}

func TestQueueWaitLeavesRoomInTheAckWait(t *testing.T) {
	require.Equal(t, defaultQueueWait, queueWaitFor(60*time.Second, 15*time.Second), "the defaults")
	require.Equal(t, time.Second, queueWaitFor(5*time.Second, 3*time.Second))
	require.Equal(t, 100*time.Millisecond, queueWaitFor(2*time.Second, 2*time.Second), "never nothing")

	// A queue is as long as the endpoint serves within the wait.
	e := &endpoint{latency: 100 * time.Millisecond, queueWait: time.Second}
	require.Equal(t, 20, e.queueLimit(2), "2 at a time, 10 a second each: 20 in a second")
	e.queueWait = 0
	require.Equal(t, 400, e.queueLimit(2), "the default wait")
}

// A delivery that finds the queue full comes back when the queue should
// have drained, or, from a receiver that has not answered for a while,
// after as long again: never sooner than a second, never later than the
// queue wait (plus up to half again, spread).
func TestBusyForFollowsTheQueueAndTheSilence(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	later := func(e *endpoint, now time.Time) time.Duration {
		adm, at := e.admit(&job{}, now, 2, 2)
		require.Equal(t, admitLater, adm)
		return at.Sub(now)
	}
	within := func(d, lo time.Duration) {
		t.Helper()
		require.GreaterOrEqual(t, d, lo)
		require.LessOrEqual(t, d, lo+lo/2)
	}
	silent := &endpoint{queueWait: 20 * time.Second}
	for range 4 { // two attempts, two queued
		silent.admit(&job{}, t0, 2, 2)
	}
	within(later(silent, t0.Add(100*time.Millisecond)), time.Second)
	within(later(silent, t0.Add(8*time.Second)), 8*time.Second)
	within(later(silent, t0.Add(time.Minute)), 20*time.Second)

	// Answering in 4 s, two at a time, two queued: room in about 4 s.
	slow := &endpoint{queueWait: 20 * time.Second}
	for range 4 {
		slow.admit(&job{}, t0, 2, 2)
	}
	slow.done(false, 4*time.Second, t0.Add(4*time.Second), 2, BreakerConfig{}.withDefaults())
	slow.admit(&job{}, t0.Add(4*time.Second), 2, 2) // the queue is full again
	within(later(slow, t0.Add(4*time.Second)), 4*time.Second)

	// A receiver that has never answered, four attempts in flight (its
	// limit until it has) and 128 queued: each attempt takes at least the
	// half second it has waited, so the queue keeps it busy 16 s.
	never := &endpoint{queueWait: 20 * time.Second}
	for range 4 + 128 {
		never.admit(&job{}, t0, 32, 128)
	}
	adm, at := never.admit(&job{}, t0.Add(500*time.Millisecond), 32, 128)
	require.Equal(t, admitLater, adm)
	within(at.Sub(t0.Add(500*time.Millisecond)), 16*time.Second)
}

// A queue that keeps a slow or silent endpoint busy for a second or more
// is a hold to share, before any delivery is sent back; a fast endpoint's
// queue is not (a full one makes the fetcher wait for room).
func TestAQueueThatKeepsTheEndpointBusyIsAHold(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	never := &endpoint{queueWait: 20 * time.Second}
	for range 2 {
		adm, _ := never.admit(&job{}, t0, 2, 100)
		require.Equal(t, admitNow, adm)
	}
	adm, at := never.admit(&job{}, t0.Add(100*time.Millisecond), 2, 100)
	require.Equal(t, admitQueue, adm)
	require.Less(t, at.Sub(t0.Add(100*time.Millisecond)), time.Second, "one queued behind 100 ms of silence: no hold")
	for range 8 {
		never.admit(&job{}, t0.Add(time.Second), 2, 100)
	}
	now := t0.Add(2 * time.Second)
	adm, at = never.admit(&job{}, now, 2, 100)
	require.Equal(t, admitQueue, adm)
	require.Equal(t, 10*time.Second, at.Sub(now), "10 queued, 2 at a time, each at least 2 s")

	fast := &endpoint{latency: 5 * time.Millisecond, floor: 5 * time.Millisecond, queueWait: 20 * time.Second}
	for range 2 {
		fast.admit(&job{}, t0, 2, 4096)
	}
	for range 4000 {
		adm, at = fast.admit(&job{}, t0.Add(time.Second), 2, 4096)
		require.Equal(t, admitQueue, adm)
	}
	require.True(t, at.IsZero(), "a fast endpoint's queue is no hold")
}

// A hold shared while the endpoint had not answered ends sooner once it
// does: when its queue drains within the hold less a holdStep, the hold is
// shortened to the drain, or lifted when that is under a second.
func TestAnAnswerShortensTheHold(t *testing.T) {
	t.Parallel()
	cfg := BreakerConfig{}.withDefaults()
	t0 := time.Unix(1000, 0)
	e := &endpoint{queueWait: 20 * time.Second}
	for range 2 + 10 {
		e.admit(&job{}, t0, 2, 100)
	}
	now := t0.Add(2 * time.Second)
	_, at := e.admit(&job{}, now, 2, 100)
	require.True(t, e.holdToShare(at, now)) // shared: 11 queued at 2 s each, 2 at a time = 11 s

	v := e.done(false, 400*time.Millisecond, now, 2, cfg) // it answers: 400 ms
	require.True(t, v.shorten)
	require.Equal(t, now.Add(2200*time.Millisecond), v.hold, "11 queued at 400 ms, 2 at a time")
	v = e.done(false, 400*time.Millisecond, now.Add(100*time.Millisecond), 2, cfg)
	require.False(t, v.shorten, "within a holdStep of the hold shortened")

	e.queue = e.queue[:1]
	v = e.done(false, 400*time.Millisecond, now.Add(200*time.Millisecond), 2, cfg)
	require.True(t, v.shorten)
	require.True(t, v.hold.IsZero(), "drained within a second: lifted")
	require.True(t, e.holdToShare(now.Add(5*time.Second), now.Add(200*time.Millisecond)), "a later hold is shared again")

	v = e.done(true, 5*time.Second, now.Add(5*time.Second), 2, cfg)
	require.False(t, v.shorten, "a failure says nothing of a shorter drain")
}

// A busy endpoint sends deliveries back every few milliseconds; the hold
// is shared again only when it moves on by holdStep, or after it ended.
func TestHoldToShareCoalesces(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	e := &endpoint{}
	require.True(t, e.holdToShare(now.Add(2*time.Second), now))
	require.False(t, e.holdToShare(now.Add(2500*time.Millisecond), now), "within holdStep of the shared hold")
	require.True(t, e.holdToShare(now.Add(3*time.Second), now))
	require.True(t, e.holdToShare(now.Add(4*time.Second), now.Add(3500*time.Millisecond)), "the last one ended")

	// A probe that succeeds closes the circuit and lifts the hold.
	e.state = halfOpen
	e.inflight = 1
	v := e.done(false, time.Millisecond, now, 2, BreakerConfig{}.withDefaults())
	require.True(t, v.closed)
	require.True(t, e.holdToShare(now.Add(2*time.Second), now), "a new hold after the circuit closed is shared")
}

// An endpoint is fast by the least latency it showed lately, not by the
// average: when the sender is short of CPU every attempt's latency grows
// with the wait for it, while a slow receiver is slow every time.
func TestFastGoesByTheLeastRecentLatency(t *testing.T) {
	t.Parallel()
	cfg := BreakerConfig{}.withDefaults()
	t0 := time.Unix(1000, 0)
	answer := func(e *endpoint, failed bool, latency time.Duration, at time.Time) {
		e.inflight++
		e.done(failed, latency, at, 4, cfg)
	}
	e := &endpoint{}
	for i, l := range []time.Duration{5 * time.Millisecond, 900 * time.Millisecond, 1200 * time.Millisecond, 800 * time.Millisecond} {
		answer(e, false, l, t0.Add(time.Duration(i)*time.Millisecond))
	}
	require.Greater(t, e.latency, fastEndpoint, "the average is slow")
	require.True(t, e.fast(t0.Add(time.Second)), "one quick answer shows what the receiver can do")

	// Past the window only slow answers count.
	later := t0.Add(floorWindow + 2*time.Second)
	answer(e, false, 900*time.Millisecond, later)
	answer(e, false, 800*time.Millisecond, later.Add(time.Millisecond))
	require.False(t, e.fast(later.Add(time.Second)))

	// A quick failure says nothing of how fast the receiver answers.
	failing := &endpoint{}
	answer(failing, true, time.Millisecond, t0)
	require.False(t, failing.fast(t0))
}
