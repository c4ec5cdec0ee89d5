// Package subscription stores tenants' webhook subscriptions and keeps a
// live, in-memory index of them for the router and the senders.
//
// The API writes through a [Store] (the NATS KV implementation is [KVStore]);
// the router and every sender run an [Index], which watches the same KV bucket
// and applies changes without a restart:
//
//	api ──Store.Create/Update/Delete──▶ KV webhooks ──watch──▶ Index ──Match──▶ router
//	                                                              └──Get────▶ sender
package subscription
