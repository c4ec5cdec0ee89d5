package scheduler

import "time"

// Clock is the scheduler's time source. The end-of-day schedule, the run
// leases and the retention are all read from it, so a test can move a whole
// day forward without waiting (see schedulertest.Clock).
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has passed on
	// this clock (at once when d <= 0). Nobody needs to drain it.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real time.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
