// Package metrics exposes Hookstream's numbers in the Prometheus format for
// GET /metrics. Components keep their own lock-free counters (Stats); the
// collector here reads them at scrape time, and asks JetStream for the
// consumers' backlog, so the hot path pays nothing for metrics. Labels are
// bounded: roles, outcome classes, stream names, never ids or URLs.
package metrics
