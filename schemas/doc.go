// Package schemas is the wire contract of Hookstream: every type that crosses a
// JetStream subject or the HTTP API lives here, so producers, the router, the
// senders and the API agree on one definition.
//
// It sits at the bottom of the flow and imports nothing of ours:
//
//	producer ──Event──▶ EVENTS ──▶ router ──Delivery──▶ DELIVERIES ──▶ sender ──Attempt──▶ ATTEMPTS
//	                                                                         └──DeadLetter──▶ DEADLETTERS
//
// # Encodings
//
// Inside NATS every message is msgpack, through the pooled codec in codec.go
// (Marshal / Unmarshal). Outside (HTTP, the CLI, the body a receiver gets) it
// is JSON. The router also accepts JSON events on the subject when the message
// carries the header Content-Type: application/json, so services written in
// other languages can publish without a msgpack library.
//
// # Catalog
//
// Each event type of the HRMS sync domain has a JSON Schema under jsonschema/
// and a typed Go struct for its data (data.go). [Validate] checks an event's
// envelope and data against them and names the offending field.
package schemas
