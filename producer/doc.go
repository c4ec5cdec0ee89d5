// Package producer is how HRMS sync services put events into Hookstream: it
// validates an event against the catalog, encodes it as msgpack and publishes
// it to the EVENTS stream with the event id as Nats-Msg-Id, so a retried
// publish is reported as a duplicate and delivered once.
//
// It is the first hop of the flow:
//
//	producer ──▶ EVENTS ──▶ router ──▶ DELIVERIES ──▶ sender ──▶ receiver
//
// [Producer.Publish] waits for the stream's acknowledgement;
// [Producer.PublishBatch] publishes many events asynchronously and waits once.
// [Producer.StartSync] runs a sync session: sync.started, pages of employee
// changes (each event under a size limit, numbered by webhook_counter), then
// sync.completed with the counts or sync.failed. `POST /v1/events` and
// `hookstream publish` use this package.
package producer
