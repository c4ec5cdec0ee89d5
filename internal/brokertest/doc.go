// Package brokertest starts a real in-process nats-server with JetStream for
// tests, with its data in t.TempDir(), so `go test ./...` needs no Docker and
// no running NATS. It is test support: production code must not import it.
package brokertest
