// Package faults breaks a running pipeline on purpose and checks that no
// delivery is lost: it sits beside internal/e2e, at the end of the flow,
// and has only tests.
//
// # What it does
//
//   - Kill -9 a sender: three `hookstream sender` processes (the real
//     binary, built once per run) share 10,000 deliveries; one is killed
//     mid-flight; every event arrives at least once, and every repeat of
//     an event carries the webhook-id of its first delivery.
//   - Graceful drain: SIGTERM to a sender process under load exits 0 within
//     its --timeout plus a margin, and what it had not attempted goes to
//     the other sender at once.
//   - Lose a NATS node: a three-node embedded cluster with R3 streams loses
//     the DELIVERIES stream leader during a 10,000-event run; every event
//     is delivered.
//   - Black-hole endpoints: 10 of 100 webhooks accept connections and never
//     answer; the other 90 receive every event, and the 10 circuits open.
//
// The tests take tens of seconds each; `go test -short` skips them.
package faults
