// Package broker is Hookstream's one place for JetStream: it starts the
// embedded nats-server for `hookstream dev` and tests, connects to external
// NATS, and declares every stream, consumer and KV bucket the components use.
//
// Topology (names are constants in this package; README documents them for
// publishers in other languages):
//
//	EVENTS       events.<tenant>.<type>             limits, dedupe window keyed by Nats-Msg-Id = event id
//	DELIVERIES   deliveries.<tenant>.<webhook>      work queue, Nats-Msg-Id = <event id>:<webhook id>
//	ATTEMPTS     attempts.<tenant>.<webhook>        limits, the delivery log
//	DEADLETTERS  deadletters.<tenant>.<webhook>     limits, deliveries that kept failing
//	QUARANTINE   quarantine.<stream>                events that could not be decoded or validated
//	KV webhooks  <tenant>.<webhook>                 subscriptions, watched by router and senders
//	KV tenants   <tenant> and token.<sha256>        tenants and their token hashes
//	KV event_types  <type>                          event types added to the catalog at run time (JSON)
//
// Durable consumers: "router" on EVENTS, "sender" on DELIVERIES. Every router
// and sender replica binds the same durable, so adding a replica shares the
// work.
package broker
