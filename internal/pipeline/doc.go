// Package pipeline wires Hookstream's components onto one broker connection:
// the subscription index, the router, the sender pool, the scheduler and the
// API. `hookstream dev`, the end-to-end tests and the benchmark build the
// whole flow with it; the single-role commands pick parts of it.
package pipeline
