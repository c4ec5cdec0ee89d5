// Package api is the management plane of Hookstream: an HTTP JSON API that
// writes tenants' webhook subscriptions to the webhooks KV bucket (where the
// router and the senders watch them) and publishes events to the EVENTS stream.
//
//	client ──HTTP──▶ api ──Store──▶ KV webhooks ──watch──▶ router, senders
//	                  ├──producer──▶ EVENTS ──▶ router ──▶ DELIVERIES
//	                  ├──webhook.ping──▶ DELIVERIES (the new webhook only)
//	                  ├──read──◀ ATTEMPTS (the delivery log)
//	                  └──list, replay──◀ DEADLETTERS ──▶ DELIVERIES (scheduler.Replayer)
//
// # Routes
//
// Every /v1 route but POST /v1/tenants needs a tenant token
// (Authorization: Bearer hs_…) and sees only that tenant's data: another
// tenant's webhook is a 404, never its contents.
//
//	POST   /v1/tenants                        admin token: create a tenant and its token
//	GET    /v1/event-types                    the catalog with JSON Schemas
//	POST   /v1/event-types                    admin token: add a type to every process's catalog
//	POST   /v1/webhooks                       create a subscription (201, shows the secret once, sends webhook.ping)
//	GET    /v1/webhooks                       list the tenant's subscriptions
//	POST   /v1/webhooks/test                  Test URL before creating: send webhook.test, return the attempt
//	GET    /v1/webhooks/{id}                  read one
//	PATCH  /v1/webhooks/{id}                  change one
//	DELETE /v1/webhooks/{id}                  delete one (204)
//	POST   /v1/webhooks/{id}/test             send webhook.test now, log and return the attempt
//	POST   /v1/webhooks/{id}/rotate-secret    new secret; the old one signs beside it for a grace period (409 on the tenant's key)
//	GET    /v1/webhooks/{id}/secret           read the secret it signs with again (audited)
//	GET    /v1/webhooks/{id}/attempts         delivery log, newest first: ?status=&limit=&before=
//	GET    /v1/dead-letters                   dead letters, newest first: ?webhook_id=&since=&until=&limit=&before=
//	POST   /v1/dead-letters/replay            replay dead letters now: {webhook_id?, since?, until?, ids?} or {all: true}
//	POST   /v1/events                         publish an event (202 {id, duplicate})
//	GET    /v1/profiles                       the vendor profiles with their programs, names and defaults
//	GET    /v1/profiles/{name}                one profile
//	POST   /v1/transform/preview              what a dialect would send for an event (or a type's example)
//	GET    /v1/signing-key                    the tenant's signing key, created on first read (audited)
//	POST   /v1/signing-key/rotate             new tenant key; the old one signs beside it for a grace period (audited)
//	GET    /v1/openapi.json                   the OpenAPI description of these routes
//	GET    /healthz                           the process is alive
//	GET    /readyz                            JetStream answers
//	GET    /console/                          the web console (public page; its API calls carry the tenant token)
//
// The routes are one table (routeTable); a test holds openapi.json to it.
//
// A PATCH that re-enables a webhook answers with dead_letters, how many of
// its dead letters wait for a replay (counted from the stream's per-subject
// state, not read), and a replay_hint naming the replay route.
//
// # Errors
//
// Every error is JSON with a fitting status:
//
//	{"error": {"code": "invalid_request", "message": "...", "field": "url"}}
//
// A transform or filter that does not compile also says where:
// "position": {"line", "column", "offset"}. Codes: invalid_request, unauthorized, forbidden, not_found, conflict,
// too_large, method_not_allowed, unavailable and internal. Bad input is never
// a 500; internal errors are logged without secrets or payloads and answered
// with a bare "internal error".
//
// # Tenants and tokens
//
// The tenants KV bucket holds "<tenant id>" → msgpack schemas.Tenant and
// "token.<sha256 hex of token>" → tenant id. Tokens are "hs_" + 32 random
// bytes in unpadded base64url; only their hashes are stored. Token lookups are
// cached in memory for a few seconds.
package api
