package schedulertest

import (
	"sync"
	"testing"
	"time"
)

// Clock is a scheduler.Clock whose time moves only with Advance and Set.
// Timers from After fire when the time reaches their deadline. It is safe
// for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []timer
	changed chan struct{} // closed and replaced when a timer is added
}

type timer struct {
	deadline time.Time
	ch       chan time.Time
}

// NewClock returns a Clock showing now.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now, changed: make(chan struct{})}
}

// Now implements scheduler.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After implements scheduler.Clock.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, timer{deadline: c.now.Add(d), ch: ch})
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// Advance moves the time forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the time to t (never backwards) and fires the timers that are
// due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.deadline.After(c.now) {
			kept = append(kept, tm)
			continue
		}
		tm.ch <- c.now
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

// WaitForTimer waits until some goroutine waits on a timer due exactly at
// deadline, and fails the test after 30 s of real time. It is how a test
// knows the code under test has reached the wait it wants to end.
func (c *Clock) WaitForTimer(tb testing.TB, deadline time.Time) {
	tb.Helper()
	c.WaitForTimers(tb, deadline, 1)
}

// WaitForTimers waits until n timers are due exactly at deadline.
func (c *Clock) WaitForTimers(tb testing.TB, deadline time.Time, n int) {
	tb.Helper()
	giveUp := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		found := 0
		for _, tm := range c.timers {
			if tm.deadline.Equal(deadline) {
				found++
			}
		}
		changed := c.changed
		c.mu.Unlock()
		if found >= n {
			return
		}
		select {
		case <-changed:
		case <-giveUp:
			tb.Fatalf("schedulertest: no %d timer(s) due at %s after 30s (now %s)", n, deadline, c.Now())
		}
	}
}
