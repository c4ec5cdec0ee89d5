package scheduler

import "context"

// Test hooks. A hook's error stops the run (or replay) at that point, as a
// crash there would; a hook may also cancel the run's context first.

// SetAfterPublish makes the runs of cfg call fn after the n-th delivery is
// re-enqueued and before its dead letter is removed.
func SetAfterPublish(cfg *Config, fn func(n int) error) { cfg.hooks.afterPublish = fn }

// SetAfterItem makes the runs of cfg call fn after the n-th dead letter is
// handled, before the lease is renewed.
func SetAfterItem(cfg *Config, fn func(n int) error) {
	n := 0
	cfg.hooks.afterItem = func(context.Context, *Result) error {
		n++
		return fn(n)
	}
}

// ReplayStoppingAfterPublish is Replay calling fn like SetAfterPublish.
func (r *Replayer) ReplayStoppingAfterPublish(ctx context.Context, f Filter, fn func(n int) error) (Result, error) {
	return r.replay(ctx, f, progress{afterPublish: fn})
}
