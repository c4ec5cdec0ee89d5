// Package router is the middle hop: it consumes the EVENTS stream, matches each
// event against the tenant's webhook subscriptions and publishes one Delivery
// per matching webhook to the DELIVERIES stream.
//
//	EVENTS ──▶ router ──(Matcher)──▶ DELIVERIES, one message per webhook
//	   └── undecodable or invalid ──▶ QUARANTINE, with the reason
//
// Every router replica binds the shared durable consumer "router", so adding
// replicas shares the work. Deliveries are published asynchronously with the
// message id "<event id>:<webhook id>"; the event is acknowledged only after
// the stream has stored every one of its deliveries, so a crash at any point
// redelivers the event and the stream's deduplication drops the copies.
// An event that matches nothing is acknowledged and counted, not kept pending.
package router
