// Package bench is `hookstream bench`: it measures the whole pipeline on this
// machine — an embedded JetStream with file storage, the router, the senders
// and an in-process HTTP receiver — against the bare HTTP loop that is the
// physical ceiling, in named scenarios:
//
//	single     1 webhook, 100,000 events of ~1 KiB
//	fanout     100 webhooks subscribed to "*", 2,000 events (200,000 deliveries)
//	blackhole  as fanout, 10 of the webhooks accept connections and never answer
//	encrypted  as single, teal preset with AES-256-GCM
//	latency    a steady 1,000 events/s for 30 s: publish-to-delivery percentiles
//	ceiling    a bare Go HTTP client posting 1 KiB to the same receiver, same concurrency
//
// and, only when named, as it takes about a minute a run:
//
//	backlog    100 webhooks on "*", 10,000 events: a million deliveries, most of
//	           them waiting at once; reports the peak backlog, the most goroutines
//	           and the peak RSS besides the usual figures
//
// Each run of a scenario is a child process (the same binary), so CPU time
// and peak RSS are the run's own; the figures reported are medians of the
// runs. CPU includes everything in the process: NATS server, pipeline and
// receiver, as it would on a single-box deployment.
package bench
