// Package sender is the last hop: it consumes the DELIVERIES stream, signs each
// delivery for its webhook and POSTs it, retries failures on a schedule, and
// dead-letters what keeps failing. Every attempt is logged to ATTEMPTS.
//
//	DELIVERIES ──▶ sender ──sign──▶ POST receiver
//	                 ├── attempt ──▶ ATTEMPTS (delivery log)
//	                 └── gave up ──▶ DEADLETTERS (with the reason)
//
// All replicas bind the shared durable consumer "sender"; each runs a fixed
// pool of workers (Config.Workers) pulling messages one by one, so the number
// of goroutines is set by configuration, never by load.
//
// # Outcomes
//
// A 2xx acknowledges the delivery. Anything else (non-2xx, redirect, timeout,
// connection error) is retried with NakWithDelay after the schedule's next
// delay, with ±20% jitter. After the last attempt the delivery is written to
// DEADLETTERS with its reason, last status and attempt count, and only then
// terminated in DELIVERIES, so a crash between the two repeats the dead-letter
// write (deduplicated by id) instead of losing the delivery.
package sender
