// Package catalog shares event types added at run time between processes:
// the API stores a new type in the event_types KV bucket, and every process
// (API, routers, senders) watches the bucket and adds the type to its
// in-memory catalog (schemas.Register). Webhooks subscribed to "*" or to the
// type's family receive it from then on, without a restart.
//
//	admin ──POST /v1/event-types──▶ KV event_types ──watch──▶ schemas catalog (every process)
package catalog
