package sender

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hookstream/hookstream/schemas"
)

// BreakerConfig tunes the circuit breaker each sender keeps per webhook.
type BreakerConfig struct {
	// Failures is how many attempts in a row must fail (no answer, 5xx, 408
	// or 429) to open the circuit. Optional; default 10.
	Failures int
	// Cooldown is how long the circuit stays open before one probe is let
	// through; each failed probe doubles it. Optional; default 5s.
	Cooldown time.Duration
	// MaxCooldown caps the doubling. Optional; default 5m.
	MaxCooldown time.Duration
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Failures <= 0 {
		c.Failures = 10
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 5 * time.Second
	}
	if c.MaxCooldown < c.Cooldown {
		c.MaxCooldown = max(5*time.Minute, c.Cooldown)
	}
	return c
}

// circuit states.
const (
	closed   = iota // attempts flow, up to the concurrency cap
	open            // no attempts until openUntil
	halfOpen        // one probe in flight decides
)

// endpoint is what this sender knows of one webhook's receiver: attempts in
// flight, the deliveries waiting for a slot, and the circuit breaker. All
// fields are guarded by mu.
type endpoint struct {
	mu        sync.Mutex
	inflight  int
	queue     []*job
	state     int
	failures  int // consecutive
	cooldown  time.Duration
	openUntil time.Time
	latency   time.Duration // moving average of its attempts' latency
	// floor is the least latency of its attempts in about the last
	// floorWindow (since floorAt): what the receiver takes when nothing
	// else is in the way (see fast).
	floor   time.Duration
	floorAt time.Time
	// limit is how many attempts may be in flight now, at most the cap: it
	// starts small, doubles with each round of successes and halves with a
	// failure (like TCP's slow start),
	// so a receiver that never answers holds few workers from its first
	// burst on.
	limit, streak int
	// room is signalled when the queue shrinks, for a fetcher waiting to
	// queue (admitWait); noWaitUntil stops such waits for a while after
	// one was in vain.
	room        chan struct{}
	noWaitUntil time.Time
	// queueWait is how long a delivery may wait in queue (queueWaitFor).
	queueWait time.Duration
	// pausedUntil is when the receiver asked to be called again
	// (Retry-After on a 429 or 503): nothing is attempted before.
	pausedUntil time.Time
	// sharedHold is the latest hold shared with the routers (holdToShare).
	sharedHold time.Time
	// progressAt is when an attempt last ended, or when the endpoint last
	// went from idle to busy: since then it has not answered (busyFor).
	progressAt time.Time
}

// holdStep is how much later than the hold last shared a new one must be
// to be shared: a busy endpoint sends deliveries back every few
// milliseconds, each a second or two ahead, and one write a second says it.
const holdStep = time.Second

// holdToShare reports whether a delivery sent back for at, at now, moves the
// endpoint's shared hold on enough to be written again.
func (e *endpoint) holdToShare(at, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sharedHold.After(now) && at.Before(e.sharedHold.Add(holdStep)) {
		return false
	}
	e.sharedHold = at
	return true
}

// heldUntil is until when this sender knows the endpoint held: the hold it
// shared last, an open circuit's cooldown or a Retry-After, whichever ends
// last; zero if none is ahead of now.
func (e *endpoint) heldUntil(now time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	until := laterOf(e.sharedHold, e.pausedUntil)
	if e.state == open {
		until = laterOf(until, e.openUntil)
	}
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// pause holds every attempt to the endpoint until until (a Retry-After).
func (e *endpoint) pause(until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if until.After(e.pausedUntil) {
		e.pausedUntil = until
	}
}

// initialLimit is an endpoint's concurrency limit until it has succeeded.
const initialLimit = 4

// current is the concurrency limit now, within cap.
func (e *endpoint) current(cap int) int {
	if e.limit == 0 {
		e.limit = initialLimit
	}
	return max(1, min(e.limit, cap))
}

// defaultQueueWait bounds how long a delivery may wait in an endpoint's
// queue (it holds a consumer slot meanwhile, and must be attempted well
// within the consumer's AckWait); a sender whose consumer's AckWait leaves
// less room uses less (see queueWaitFor).
const defaultQueueWait = 20 * time.Second

// queueWaitFor is the queue wait a consumer with ackWait leaves when an
// attempt may take timeout: half of what remains of the ack wait after the
// attempt, at most defaultQueueWait, at least 100 ms.
func queueWaitFor(ackWait, timeout time.Duration) time.Duration {
	return max(100*time.Millisecond, min(defaultQueueWait, (ackWait-timeout)/2))
}

// maxQueue bounds an endpoint's queue whatever its speed.
const maxQueue = 4096

// queueLimit is how many deliveries may wait for the endpoint: as many as it
// serves, at its observed latency and cap, within its queue wait; 4×cap
// until its latency is known.
func (e *endpoint) queueLimit(cap int) int {
	if e.latency <= 0 {
		return 4 * cap
	}
	wait := e.queueWait
	if wait <= 0 {
		wait = defaultQueueWait
	}
	n := int(int64(cap) * int64(wait) / int64(e.latency))
	return max(2*cap, min(n, maxQueue))
}

// admission is what to do with a delivery that arrives for an endpoint.
type admission int

const (
	admitNow   admission = iota // a slot is free: attempt it
	admitQueue                  // queued behind the attempts in flight, busy until the time given
	admitLater                  // the endpoint is busy or broken: come back at the time given
	admitWait                   // the queue is full but moving fast: wait for room (waitRoom), then ask again
)

// fastEndpoint is the latency under which an endpoint whose queue is full
// makes the fetcher wait for room instead of sending deliveries back: a
// slot frees within it, so the wait is short, while a round trip through
// the stream (send back, schedule, redeliver) would cost more than the
// attempt. Slower endpoints send back, so they cannot hold the fetcher.
const fastEndpoint = 250 * time.Millisecond

// floorWindow is how long the least latency an endpoint showed stands for
// what it can do (endpoint.floor).
const floorWindow = 10 * time.Second

// maxRoomWait bounds one wait for room; a wait in vain turns waiting off
// for the endpoint for noWaitFor.
const (
	maxRoomWait = time.Second
	noWaitFor   = 10 * time.Second
)

// admit decides for a delivery arriving at now. cap is the concurrency cap;
// queueMax, when not zero, bounds the queue instead of queueLimit (tests).
func (e *endpoint) admit(j *job, now time.Time, cap, queueMax int) (admission, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.Before(e.pausedUntil) {
		return admitLater, e.pausedUntil.Add(jitter(time.Second))
	}
	switch e.state {
	case open:
		if now.Before(e.openUntil) {
			return admitLater, e.retryAt(now)
		}
		e.state = halfOpen // the cooldown is over: this delivery probes
		e.inflight++
		return admitNow, time.Time{}
	case halfOpen:
		// A probe is in flight; wait for its verdict.
		return admitLater, now.Add(jitter(e.cooldown))
	}
	if e.inflight < e.current(cap) {
		if e.inflight == 0 {
			e.progressAt = now
		}
		e.inflight++
		return admitNow, time.Time{}
	}
	if queueMax == 0 {
		queueMax = e.queueLimit(cap)
	}
	if len(e.queue) < queueMax {
		j.queued = now
		e.queue = append(e.queue, j)
		if e.fast(now) {
			return admitQueue, time.Time{}
		}
		// A delivery arriving until the queue has drained would wait behind
		// it, or be sent back once it is full: a hold to share, when long
		// enough to act on.
		return admitQueue, now.Add(e.drainTime(now, cap))
	}
	if e.fast(now) {
		return admitWait, now.Add(maxRoomWait)
	}
	return admitLater, now.Add(e.busyFor(now, cap))
}

// fast reports whether the endpoint answers so fast that a fetcher finding
// its queue full waits for room rather than send deliveries back, or has
// the routers hold its deliveries (see fastEndpoint). It goes by the least
// latency of the last floorWindow, not the average: when the sender itself
// is short of CPU every attempt's latency includes the wait for it, and an
// average over a burst would have a fast receiver held for seconds and the
// whole pipeline idle meanwhile (on one core, single ran at 1,594/s instead of
// 7,574/s). A receiver that is slow takes long every time. e.mu is held.
func (e *endpoint) fast(now time.Time) bool {
	return e.floor > 0 && e.floor < fastEndpoint && !now.Before(e.noWaitUntil)
}

// busyFor is how long a delivery that finds the endpoint's queue full is
// sent back for: until the queue has drained (drainTime), or, when the
// endpoint has not answered for longer, as long again (a receiver that
// stopped answering is not offered a delivery every second); at least a
// second (it then waits as a scheduled message), at most the queue wait,
// plus up to half again so the deliveries do not all come back at once.
// e.mu is held.
func (e *endpoint) busyFor(now time.Time, cap int) time.Duration {
	d := max(e.drainTime(now, cap), time.Second)
	if !e.progressAt.IsZero() {
		d = max(d, now.Sub(e.progressAt))
	}
	d = min(d, e.maxWait())
	return d + jitter(d/2)
}

// drainTime is how long the deliveries queued for the endpoint will keep it
// busy: the queue at its latency and its concurrency limit now, at most the
// queue wait. Until it has answered once its latency is unknown, but its
// attempts take at least as long as they have waited: that bound stands for
// it, so a receiver that never answers is known to be busy for long from
// its first burst on. e.mu is held.
func (e *endpoint) drainTime(now time.Time, cap int) time.Duration {
	wait := e.maxWait()
	latency := e.latency
	if latency == 0 && !e.progressAt.IsZero() {
		latency = now.Sub(e.progressAt)
	}
	latency = min(latency, wait) // no overflow below
	return min(time.Duration(int64(len(e.queue))*int64(latency)/int64(e.current(cap))), wait)
}

// maxWait is the longest a delivery is sent back or held for being busy:
// the queue wait, at least a second.
func (e *endpoint) maxWait() time.Duration {
	if e.queueWait <= 0 {
		return defaultQueueWait
	}
	return max(e.queueWait, time.Second)
}

// waitRoom waits until the queue has shrunk or until deadline, and reports
// which. A wait in vain stops waits for the endpoint for a while (it is no
// longer fast), so its deliveries are sent back instead.
func (e *endpoint) waitRoom(deadline time.Time) bool {
	e.mu.Lock()
	if e.room == nil {
		e.room = make(chan struct{}, 1)
	}
	room := e.room
	e.mu.Unlock()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-room:
		return true
	case <-t.C:
		e.mu.Lock()
		e.noWaitUntil = deadline.Add(noWaitFor)
		e.mu.Unlock()
		return false
	}
}

// shrunk signals a waiting fetcher that the queue has room. e.mu is held.
func (e *endpoint) shrunk() {
	if e.room == nil {
		return
	}
	select {
	case e.room <- struct{}{}:
	default:
	}
}

// verdict is what done decided.
type verdictOfDone struct {
	next  *job      // the next queued delivery to attempt, holding the slot just freed
	later []*job    // deliveries to send back, the circuit having just opened
	at    time.Time // when to send them back for
	// opened or closed report a change of the circuit (to share it).
	opened, closed bool
	until          time.Time // the end of the cooldown, when opened
	// shorten reports that the hold shared must end sooner, at hold (zero:
	// now): the endpoint answered, and its queue drains sooner than the
	// hold shared while it had not.
	shorten bool
	hold    time.Time
}

// done records an attempt's outcome and returns the next queued delivery
// to attempt, if the circuit lets it, or the deliveries to send back for
// later when it does not.
func (e *endpoint) done(failed bool, latency time.Duration, now time.Time, cap int, cfg BreakerConfig) (v verdictOfDone) {
	e.mu.Lock()
	defer e.mu.Unlock()
	wasClosed := e.state == closed
	defer func() {
		v.opened = wasClosed && e.state != closed
		v.closed = !wasClosed && e.state == closed
		v.until = e.openUntil
	}()
	e.inflight--
	e.progressAt = now
	if e.latency == 0 {
		e.latency = latency
	} else {
		e.latency += (latency - e.latency) / 8
	}
	if !failed && latency > 0 && (e.floor == 0 || latency <= e.floor || now.Sub(e.floorAt) > floorWindow) {
		e.floor, e.floorAt = latency, now
	}
	limit := e.current(cap)
	if failed {
		e.limit, e.streak = max(1, limit/2), 0
	} else if e.streak++; e.streak >= limit {
		e.limit, e.streak = min(2*limit, cap), 0
	}
	switch {
	case !failed:
		if e.state != closed {
			e.sharedHold = time.Time{} // closing the circuit lifts the hold (health.circuit)
		}
		e.state, e.failures, e.cooldown = closed, 0, 0
	case e.state == halfOpen:
		e.cooldown = min(e.cooldown*2, cfg.MaxCooldown)
		e.trip(now)
	default:
		e.failures++
		if e.state == closed && e.failures >= cfg.Failures {
			e.cooldown = cfg.Cooldown
			e.trip(now)
		}
	}
	if !failed && e.sharedHold.After(now) {
		if d := e.drainTime(now, cap); now.Add(d + holdStep).Before(e.sharedHold) {
			v.shorten, v.hold = true, time.Time{}
			if d >= time.Second {
				v.hold = now.Add(d)
			}
			e.sharedHold = v.hold
		}
	}
	if e.state != closed {
		v.later, e.queue = e.queue, nil
		v.at = e.retryAt(now)
		e.shrunk()
		return v
	}
	if now.Before(e.pausedUntil) {
		// The receiver asked for a pause: what waits goes back until then.
		v.later, e.queue = e.queue, nil
		v.at = e.pausedUntil.Add(jitter(time.Second))
		e.shrunk()
		return v
	}
	if len(e.queue) > 0 && e.inflight < e.current(cap) {
		v.next = e.queue[0]
		e.queue[0] = nil
		e.queue = e.queue[1:]
		e.inflight++
		e.shrunk()
	}
	return v
}

func (e *endpoint) trip(now time.Time) {
	e.state = open
	e.openUntil = now.Add(e.cooldown)
}

// release frees a slot without an outcome (shutdown).
func (e *endpoint) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inflight--
}

// retryAt spreads deliveries sent back while the circuit is open over the
// half cooldown after it ends, so they do not all return at once.
func (e *endpoint) retryAt(now time.Time) time.Time {
	return laterOf(e.openUntil, now.Add(time.Second)).Add(jitter(e.cooldown / 2))
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// isOpen reports whether the circuit is open or probing.
func (e *endpoint) isOpen() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state != closed
}

// drain empties the queue (on shutdown) and returns what was in it.
func (e *endpoint) drain() []*job {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.queue
	e.queue = nil
	return q
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

// breakerFailure reports whether an attempt's outcome says the receiver is
// unhealthy: no answer, 5xx, 408 or 429. Other 4xx mean it is up and
// answering, so they do not count against the circuit.
func breakerFailure(res *Result) bool {
	switch {
	case res.Outcome == schemas.OutcomeSuccess:
		return false
	case res.Outcome == schemas.OutcomeError:
		return true
	}
	c := res.StatusCode
	return c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout
}

// endpoints is the sender's map of endpoint states, one per webhook seen.
type endpoints struct {
	mu sync.Mutex
	m  map[string]*endpoint
	// queueWait is every endpoint's (queueWaitFor); set before the first get.
	queueWait time.Duration
}

func (es *endpoints) get(key string) *endpoint {
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.m == nil {
		es.m = map[string]*endpoint{}
	}
	e := es.m[key]
	if e == nil {
		e = &endpoint{queueWait: es.queueWait}
		es.m[key] = e
	}
	return e
}

// each calls fn for every endpoint.
func (es *endpoints) each(fn func(key string, e *endpoint)) {
	es.mu.Lock()
	all := make(map[string]*endpoint, len(es.m))
	for k, e := range es.m {
		all[k] = e
	}
	es.mu.Unlock()
	for k, e := range all {
		fn(k, e)
	}
}
