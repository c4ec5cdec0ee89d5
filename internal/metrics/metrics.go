package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/router"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/sender"
)

// Sources are what a process runs; nil ones are left out.
type Sources struct {
	// Role names the process's roles ("dev", "sender", ...). Required.
	Role string
	// Version is the build's version. Required.
	Version  string
	Producer *producer.Producer
	Router   *router.Router
	Sender   *sender.Sender
	// Replayer counts dead-letter replays (end-of-day and on demand).
	Replayer *scheduler.Replayer
	// JS, when set, is asked for the consumers' backlog at each scrape.
	JS jetstream.JetStream
	// Extra collectors, such as the scheduler's. Optional.
	Extra []prometheus.Collector
}

// NewRegistry returns a registry with Hookstream's metrics, the Go runtime's
// and the process's.
func NewRegistry(src Sources) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &collector{src: src})
	for _, c := range src.Extra {
		reg.MustRegister(c)
	}
	return reg
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("hookstream_"+name, help, labels, nil)
}

var (
	buildInfo = desc("build_info", "Build of this process: 1, labelled with the version and the roles it runs.", "version", "role")

	eventsPublished  = desc("events_published_total", "Events stored in EVENTS by this process's producer (API, CLI).")
	eventsDuplicate  = desc("events_duplicate_total", "Publishes of an event id already stored; not delivered again.")
	eventsRejected   = desc("events_rejected_total", "Events refused at the producer: invalid or too large.")
	eventsRouted     = desc("events_routed_total", "Events the router consumed, by result (deferred: put off because the tenant's filters had used their share of the router's time).", "result")
	deliveriesRouted = desc("deliveries_created_total", "Deliveries the router created: queued for a sender, or parked as dead letters of a disabled webhook.", "state")
	deliveriesHeld   = desc("deliveries_held_total", "Deliveries the router scheduled, in batches, for the end of their webhook's hold (its senders were busy with it), among the queued.")
	filtered         = desc("deliveries_filtered_total", "Deliveries not made because the webhook's filter kept the event out, by result: not_matched, or error (the filter failed; per webhook in GET /v1/webhooks/{id}/stats).", "result")
	transforms       = desc("transform_failures_total", "Deliveries dead-lettered because their webhook's transform failed on them (or their signing key was missing).")
	transformsWaited = desc("transform_deferred_total", "Deliveries sent back for later because their tenant's transforms had used their share of the sender's time.")

	attempts     = desc("attempts_total", "HTTP attempts by outcome class.", "class")
	attemptTime  = desc("attempt_duration_seconds", "Latency of HTTP attempts.")
	delivered    = desc("deliveries_delivered_total", "Deliveries a receiver accepted (2xx).")
	retries      = desc("retries_total", "Retries scheduled after a failed attempt.")
	deadLetters  = desc("dead_letters_total", "Deliveries this sender moved to the dead letters.")
	dropped      = desc("deliveries_dropped_total", "Deliveries dropped because their webhook was deleted.")
	quarantined  = desc("deliveries_quarantined_total", "Undecodable deliveries moved to the QUARANTINE stream.")
	sentBack     = desc("deliveries_sent_back_total", "Deliveries sent back unattempted: receiver busy or its circuit open.")
	released     = desc("deliveries_released_total", "Deliveries a sender unpacked from held batches that came due.")
	disabled     = desc("webhooks_disabled_total", "Webhooks a sender disabled (410 Gone, or failing too long).")
	openCircuits = desc("circuits_open", "Receivers whose circuit breaker is open in this sender.")

	replayed   = desc("replayed_total", "Dead letters re-enqueued by a replay (end-of-day or on demand).")
	replayKept = desc("replay_kept_total", "Dead letters a replay left in place: webhook deleted or disabled.")
	replayGone = desc("dead_letters_expired_total", "Dead letters removed past the retention (with an audit record).")

	consumerPending    = desc("consumer_pending", "Messages not yet delivered to a durable consumer.", "stream", "consumer")
	consumerAckPending = desc("consumer_ack_pending", "Messages delivered to a consumer and not yet acknowledged.", "stream", "consumer")
	streamMessages     = desc("stream_messages", "Messages in a stream.", "stream")
)

type collector struct{ src Sources }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{buildInfo, eventsPublished, eventsDuplicate, eventsRejected, eventsRouted, deliveriesRouted, deliveriesHeld,
		filtered, transforms, transformsWaited,
		attempts, attemptTime, delivered, retries, deadLetters, dropped, quarantined, sentBack, released, disabled, openCircuits,
		replayed, replayKept, replayGone,
		consumerPending, consumerAckPending, streamMessages} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge(ch, buildInfo, 1, c.src.Version, c.src.Role)
	if p := c.src.Producer; p != nil {
		st := p.Stats()
		counter(ch, eventsPublished, st.Published)
		counter(ch, eventsDuplicate, st.Duplicates)
		counter(ch, eventsRejected, st.Rejected)
	}
	if r := c.src.Router; r != nil {
		st := r.Stats()
		counter(ch, eventsRouted, st.Routed, "matched")
		counter(ch, eventsRouted, st.Unmatched, "unmatched")
		counter(ch, eventsRouted, st.Quarantined, "quarantined")
		counter(ch, eventsRouted, st.Deferred, "deferred")
		counter(ch, deliveriesRouted, st.Deliveries, "queued")
		counter(ch, deliveriesRouted, st.Parked, "parked")
		counter(ch, deliveriesHeld, st.Held)
		counter(ch, filtered, st.Filtered-st.FilterErrors, "not_matched")
		counter(ch, filtered, st.FilterErrors, "error")
	}
	if s := c.src.Sender; s != nil {
		st := s.Stats()
		for i, class := range sender.StatusClasses {
			counter(ch, attempts, st.ByClass[i], class)
		}
		counter(ch, delivered, st.Delivered)
		counter(ch, retries, st.Retried)
		counter(ch, deadLetters, st.DeadLettered)
		counter(ch, dropped, st.Dropped)
		counter(ch, quarantined, st.Quarantined)
		counter(ch, sentBack, st.SentBack)
		counter(ch, released, st.Released)
		counter(ch, disabled, st.Disabled)
		counter(ch, transforms, st.TransformFailed)
		counter(ch, transformsWaited, st.TransformDeferred)
		gauge(ch, openCircuits, float64(st.OpenCircuits))
		l := s.Latency()
		buckets := make(map[float64]uint64, len(sender.LatencyBuckets))
		var cum uint64
		for i, ub := range sender.LatencyBuckets {
			cum += l.Counts[i]
			buckets[ub] = cum
		}
		cum += l.Counts[len(l.Counts)-1]
		ch <- prometheus.MustNewConstHistogram(attemptTime, cum, l.Sum.Seconds(), buckets)
	}
	if r := c.src.Replayer; r != nil {
		st := r.Stats()
		counter(ch, replayed, st.Replayed)
		counter(ch, replayKept, st.Kept)
		counter(ch, replayGone, st.Expired)
	}
	if c.src.JS != nil {
		c.collectJetStream(ch)
	}
}

// scrapeTimeout bounds the JetStream lookups of one scrape.
const scrapeTimeout = 2 * time.Second

func (c *collector) collectJetStream(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, sc := range []struct{ stream, consumer string }{
		{broker.StreamEvents, broker.ConsumerRouter},
		{broker.StreamDeliveries, broker.ConsumerSender},
	} {
		cons, err := c.src.JS.Consumer(ctx, sc.stream, sc.consumer)
		if err != nil {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		gauge(ch, consumerPending, float64(info.NumPending), sc.stream, sc.consumer)
		gauge(ch, consumerAckPending, float64(info.NumAckPending), sc.stream, sc.consumer)
	}
	for _, name := range []string{broker.StreamEvents, broker.StreamDeliveries, broker.StreamDeadLetters, broker.StreamQuarantine} {
		s, err := c.src.JS.Stream(ctx, name)
		if err != nil {
			continue
		}
		info, err := s.Info(ctx)
		if err != nil {
			continue
		}
		gauge(ch, streamMessages, float64(info.State.Msgs), name)
	}
}
