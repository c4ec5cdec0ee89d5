// Package broker is Hookstream's one place for JetStream: it starts the
// embedded nats-server for `hookstream dev` and tests, connects to external
// NATS, and declares every stream, consumer and KV bucket the components use.
//
// Topology (names are constants in this package; README documents them for
// publishers in other languages):
//
//	EVENTS       events.<tenant>.<type>              limits, dedupe window keyed by Nats-Msg-Id = event id
//	DELIVERIES   deliveries.<tenant>.<webhook>       work queue, Nats-Msg-Id = <event id>:<webhook id>
//	             retries.<tenant>.<webhook>.<key>    scheduled retries and held batches (Nats-Schedule), published to deliveries.* when due
//	ATTEMPTS     attempts.<tenant>.<webhook>         limits, the delivery log (14 days)
//	DEADLETTERS  deadletters.<tenant>.<webhook>      limits, deliveries that kept failing, until replayed (7 days)
//	QUARANTINE   quarantine.<stream>                 events that could not be decoded or validated
//	AUDIT        audit.<tenant>.<webhook>            what Hookstream did on its own (disables, expiries, replay runs)
//	STATS        stats.<tenant>                      per-tenant delivery counts every 10 s, an hour, for the live view
//	KV webhooks        <tenant>.<webhook>            subscriptions, watched by router and senders
//	KV tenants         <tenant>, token.<sha256>      tenants and their token hashes
//	KV event_types     <type>                        event types added to the catalog at run time (JSON)
//	KV webhook_health  <tenant>.<webhook>            failing since when (auto-disable), circuit, hold
//	KV scheduler       run.<id>                      replay runs: lease, progress, completion
//
// Durable consumers: "router" on EVENTS, "sender" on DELIVERIES. Every router
// and sender replica binds the same durable, so adding a replica shares the
// work.
package broker
