package service

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// Runner is a long-running part. Run blocks until ctx is done and returns nil
// on a graceful stop, or returns an error when it cannot go on.
type Runner interface {
	Run(ctx context.Context) error
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context) error

// Run implements Runner.
func (f RunnerFunc) Run(ctx context.Context) error { return f(ctx) }

// Named is a Runner with a name for error messages.
type Named struct {
	Name string
	Runner
}

// Group runs every runner until ctx is done or one of them returns; then it
// cancels the others and waits for all of them. It returns the first error.
// A runner returning nil before ctx is done also stops the group, since a
// component that quits early leaves the pipeline incomplete.
func Group(ctx context.Context, runners ...Named) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, r := range runners {
		g.Go(func() error {
			err := r.Run(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Name, err)
			}
			if ctx.Err() == nil {
				return fmt.Errorf("%s stopped unexpectedly", r.Name)
			}
			return nil
		})
	}
	return g.Wait()
}
