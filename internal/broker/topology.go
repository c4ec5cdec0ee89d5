package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// Stream, consumer and bucket names.
const (
	StreamEvents      = "EVENTS"
	StreamDeliveries  = "DELIVERIES"
	StreamAttempts    = "ATTEMPTS"
	StreamDeadLetters = "DEADLETTERS"
	StreamQuarantine  = "QUARANTINE"
	StreamAudit       = "AUDIT"
	StreamStats       = "STATS"

	ConsumerRouter = "router"
	ConsumerSender = "sender"

	BucketWebhooks   = "webhooks"
	BucketTenants    = "tenants"
	BucketEventTypes = "event_types"
	BucketHealth     = "webhook_health"
	BucketScheduler  = "scheduler"
	// BucketSigningKeys holds tenants' organisation-wide signing keys.
	BucketSigningKeys = "signing_keys"
)

// Subject prefixes. Build subjects with the functions below.
const (
	subjEvents      = "events."
	subjDeliveries  = "deliveries."
	subjRetries     = "retries."
	subjAttempts    = "attempts."
	subjDeadLetters = "deadletters."
	subjQuarantine  = "quarantine."
	subjAudit       = "audit."
	subjStats       = "stats."
)

// EventSubject is where events of a tenant and type are published.
func EventSubject(tenantID, eventType string) string {
	return subjEvents + tenantID + "." + eventType
}

// DeliverySubject is where deliveries to one webhook are queued.
func DeliverySubject(tenantID, webhookID string) string {
	return subjDeliveries + tenantID + "." + webhookID
}

// RetrySubject is where the schedule of a delayed retry waits: a message
// scheduled (Nats-Schedule) to publish the delivery on DeliverySubject when
// it is due. It lives in the DELIVERIES stream but outside the senders'
// filter, so a waiting retry holds no consumer slot. key must be a subject
// token unique to the delivery (see schemas.SubjectToken).
func RetrySubject(tenantID, webhookID, key string) string {
	return subjRetries + tenantID + "." + webhookID + "." + key
}

// DeliveriesFilter is the senders' filter on DELIVERIES.
const DeliveriesFilter = subjDeliveries + ">"

// AttemptSubject is where a webhook's attempts are logged.
func AttemptSubject(tenantID, webhookID string) string {
	return subjAttempts + tenantID + "." + webhookID
}

// DeadLetterSubject is where a webhook's dead letters are kept.
func DeadLetterSubject(tenantID, webhookID string) string {
	return subjDeadLetters + tenantID + "." + webhookID
}

// DeadLetterFilter selects the dead letters of a tenant, or of one of its
// webhooks when webhookID is not empty.
func DeadLetterFilter(tenantID, webhookID string) string {
	if webhookID == "" {
		return subjDeadLetters + tenantID + ".*"
	}
	return DeadLetterSubject(tenantID, webhookID)
}

// AllDeadLetters selects every dead letter.
const AllDeadLetters = subjDeadLetters + ">"

// StatsInterval is how often senders and routers write each active
// tenant's counts to STATS by default, and the interval the console's live
// view adds them up by.
const StatsInterval = 10 * time.Second

// StatsSubject is where senders write a tenant's delivery counts (and
// routers what its webhooks' filters kept out).
func StatsSubject(tenantID string) string { return subjStats + tenantID }

// AuditSubject is where records about a tenant's webhook are kept.
func AuditSubject(tenantID, webhookID string) string {
	return subjAudit + tenantID + "." + cmpOr(webhookID, "_")
}

// QuarantineSubject is where undecodable or invalid messages from stream go.
func QuarantineSubject(stream string) string { return subjQuarantine + stream }

// Header names Hookstream sets on NATS messages. nats.Header is case-sensitive:
// always use these constants.
const (
	HeaderContentType = "Content-Type"
	// HeaderReason says why a message was quarantined or dead-lettered.
	HeaderReason = "Hookstream-Reason"
	// HeaderOrigSubject and HeaderOrigSeq locate a quarantined message's source.
	HeaderOrigSubject = "Hookstream-Original-Subject"
	HeaderOrigSeq     = "Hookstream-Original-Sequence"
	// HeaderTenant, HeaderWebhook, HeaderAttempts and HeaderLastStatus describe a dead letter.
	HeaderTenant     = "Hookstream-Tenant"
	HeaderWebhook    = "Hookstream-Webhook"
	HeaderAttempts   = "Hookstream-Attempts"
	HeaderLastStatus = "Hookstream-Last-Status"
	// HeaderHeld marks a message of a webhook's held deliveries
	// (HeldBatchMsg) and says how many it carries; HeaderWaitingSince is
	// since when the oldest has waited unattempted.
	HeaderHeld         = "Hookstream-Held"
	HeaderWaitingSince = "Hookstream-Waiting-Since"
	// HeaderValidated marks an event the Go producer validated whole
	// (schemas.Validate): the router then checks its envelope only. NATS
	// credentials are trusted alike — whoever may publish events may
	// publish deliveries — so the mark is a saving, not a hole.
	HeaderValidated = "Hookstream-Validated"
)

// Topology holds the knobs of the streams; zero values mean defaults.
type Topology struct {
	// Replicas for every stream and bucket. Optional; default 1 (use 3 in a cluster).
	Replicas int
	// EventsMaxAge is how long events are kept. Optional; default 7 days.
	EventsMaxAge time.Duration
	// DedupeWindow is how long an event id (and a delivery id) is remembered
	// for deduplication. Optional; default 10 minutes.
	DedupeWindow time.Duration
	// LogMaxAge is how long quarantined messages and audit records are kept.
	// Optional; default 30 days.
	LogMaxAge time.Duration
	// AttemptsMaxAge is how long the delivery log keeps attempts. Optional;
	// default 14 days.
	AttemptsMaxAge time.Duration
	// DeadLetterRetention is how long dead letters wait for a replay; the
	// scheduler removes older ones (with an audit record). The stream keeps
	// them a day longer as a safety net. Optional; default 7 days.
	DeadLetterRetention time.Duration
	// AttemptsPerWebhook caps the delivery log per webhook, in messages: a
	// message holds a sender's attempts to the webhook of a moment, one or
	// more. Optional; default 10,000.
	AttemptsPerWebhook int64
	// SenderAckWait is how long a sender may hold a delivery before it is
	// redelivered elsewhere: it must exceed the HTTP timeout. Optional; default 60s.
	SenderAckWait time.Duration
	// SenderMaxAckPending bounds deliveries in flight (including those waiting
	// for a short retry) across all senders. Optional; default 20,000.
	SenderMaxAckPending int
}

func (t Topology) withDefaults() Topology {
	t.Replicas = max(t.Replicas, 1)
	if t.EventsMaxAge <= 0 {
		t.EventsMaxAge = 7 * 24 * time.Hour
	}
	if t.DedupeWindow <= 0 {
		t.DedupeWindow = 10 * time.Minute
	}
	if t.LogMaxAge <= 0 {
		t.LogMaxAge = 30 * 24 * time.Hour
	}
	if t.AttemptsMaxAge <= 0 {
		t.AttemptsMaxAge = 14 * 24 * time.Hour
	}
	if t.DeadLetterRetention <= 0 {
		t.DeadLetterRetention = 7 * 24 * time.Hour
	}
	if t.AttemptsPerWebhook <= 0 {
		t.AttemptsPerWebhook = 10_000
	}
	if t.SenderAckWait <= 0 {
		t.SenderAckWait = 60 * time.Second
	}
	if t.SenderMaxAckPending <= 0 {
		t.SenderMaxAckPending = 20_000
	}
	return t
}

// Streams returns the stream configurations of the topology.
func (t Topology) Streams() []jetstream.StreamConfig {
	t = t.withDefaults()
	return []jetstream.StreamConfig{
		{
			Name: StreamEvents, Subjects: []string{subjEvents + ">"},
			Description: "HRMS events as published by producers",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Replicas: t.Replicas,
			MaxAge: t.EventsMaxAge, Duplicates: t.DedupeWindow,
			// Senders read the events of large fan-outs by sequence.
			AllowDirect: true,
		},
		{
			Name: StreamDeliveries, Subjects: []string{subjDeliveries + ">", subjRetries + ">"},
			Description: "one message per event and matching webhook, consumed by senders; scheduled retries wait on retries.>",
			Retention:   jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: t.Replicas,
			Duplicates: t.DedupeWindow, AllowMsgSchedules: true,
		},
		{
			Name: StreamAttempts, Subjects: []string{subjAttempts + ">"},
			Description: "delivery log: each message holds a sender's HTTP attempts to one webhook within a moment",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Replicas: t.Replicas,
			MaxAge: t.AttemptsMaxAge, MaxMsgsPerSubject: t.AttemptsPerWebhook,
		},
		{
			Name: StreamDeadLetters, Subjects: []string{subjDeadLetters + ">"},
			Description: "deliveries that exhausted their attempts, waiting for a replay",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Replicas: t.Replicas,
			MaxAge: t.DeadLetterRetention + 24*time.Hour, Duplicates: t.DedupeWindow,
		},
		{
			Name: StreamStats, Subjects: []string{subjStats + ">"},
			Description: "per-tenant delivery counts, 10 s intervals, for the console's live view",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Replicas: t.Replicas,
			MaxAge: time.Hour,
		},
		{
			Name: StreamAudit, Subjects: []string{subjAudit + ">"},
			Description: "what Hookstream did on its own: webhooks disabled, dead letters expired, replay runs",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Replicas: t.Replicas,
			MaxAge: t.LogMaxAge,
		},
		{
			Name: StreamQuarantine, Subjects: []string{subjQuarantine + ">"},
			Description: "messages that could not be decoded or validated, with the reason",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Replicas: t.Replicas,
			MaxAge: t.LogMaxAge, Duplicates: t.DedupeWindow,
		},
	}
}

// Consumers returns the durable consumers, keyed by stream name.
func (t Topology) Consumers() map[string]jetstream.ConsumerConfig {
	t = t.withDefaults()
	return map[string]jetstream.ConsumerConfig{
		StreamEvents: {
			Durable: ConsumerRouter, Description: "routers share this durable",
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
			MaxAckPending: 10_000, MaxDeliver: -1, Replicas: t.Replicas,
		},
		StreamDeliveries: {
			Durable: ConsumerSender, Description: "senders share this durable",
			FilterSubject: DeliveriesFilter,
			AckPolicy:     jetstream.AckExplicitPolicy, AckWait: t.SenderAckWait,
			MaxAckPending: t.SenderMaxAckPending, MaxDeliver: -1, Replicas: t.Replicas,
		},
	}
}

// Ensure creates or updates every stream, consumer and bucket of the topology.
// It is idempotent and safe to run from every replica at start.
func Ensure(ctx context.Context, js jetstream.JetStream, t Topology) error {
	return ensure(ctx, js, t, false)
}

// ensure creates what is missing and, unless createOnly, updates what
// exists to the topology. The streams and buckets are declared at once, then
// the consumers: on a new cluster each R3 stream elects its own leader, and
// one after another that added up to tens of seconds.
func ensure(ctx context.Context, js jetstream.JetStream, t Topology, createOnly bool) error {
	t = t.withDefaults()
	g, gctx := errgroup.WithContext(ctx)
	for _, sc := range t.Streams() {
		g.Go(func() error {
			return declare(gctx, "stream "+sc.Name, func(ctx context.Context) error {
				if createOnly {
					// What exists is left as it is, whatever its settings
					// (the server checks a creation against them).
					if _, err := js.Stream(ctx, sc.Name); !errors.Is(err, jetstream.ErrStreamNotFound) {
						return err
					}
					_, err := js.CreateStream(ctx, sc)
					if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
						err = nil
					}
					return err
				}
				_, err := js.CreateOrUpdateStream(ctx, sc)
				return err
			})
		})
	}
	for _, kc := range t.buckets() {
		g.Go(func() error {
			return declare(gctx, "bucket "+kc.Bucket, func(ctx context.Context) error {
				if createOnly {
					if _, err := js.KeyValue(ctx, kc.Bucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
						return err
					}
					_, err := js.CreateKeyValue(ctx, kc)
					if errors.Is(err, jetstream.ErrBucketExists) {
						err = nil
					}
					return err
				}
				_, err := js.CreateOrUpdateKeyValue(ctx, kc)
				return err
			})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	for stream, cc := range t.Consumers() {
		g.Go(func() error {
			return declare(gctx, "consumer "+cc.Durable+" on "+stream, func(ctx context.Context) error {
				if createOnly {
					if _, err := js.Consumer(ctx, stream, cc.Durable); !errors.Is(err, jetstream.ErrConsumerNotFound) {
						return err
					}
					_, err := js.CreateConsumer(ctx, stream, cc)
					if errors.Is(err, jetstream.ErrConsumerExists) {
						err = nil
					}
					return err
				}
				_, err := js.CreateOrUpdateConsumer(ctx, stream, cc)
				return err
			})
		})
	}
	return g.Wait()
}

// declare runs fn, retrying while the cluster settles, and names what
// failed.
func declare(ctx context.Context, what string, fn func(context.Context) error) error {
	if err := retryClusterSettling(ctx, fn); err != nil {
		return fmt.Errorf("broker: %s: %w", what, err)
	}
	return nil
}

// buckets are the topology's KV buckets.
func (t Topology) buckets() []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{
		{Bucket: BucketWebhooks, Description: "webhook subscriptions", History: 5, Replicas: t.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketTenants, Description: "tenants and token hashes", History: 1, Replicas: t.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketEventTypes, Description: "event types added to the catalog at run time", History: 1, Replicas: t.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketHealth, Description: "per-webhook delivery health: failing since when", History: 1, Replicas: t.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketScheduler, Description: "replay runs: lease, progress, completion", History: 1, Replicas: t.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketSigningKeys, Description: "tenants' organisation-wide signing keys", History: 1, Replicas: t.Replicas, Storage: jetstream.FileStorage},
	}
}

// settleTry bounds one try of a topology request.
const settleTry = 5 * time.Second

// retryClusterSettling retries fn while a freshly formed cluster has no meta
// leader or not enough peers yet.
//
// Each try has its own short deadline: a JetStream API request made before
// the cluster has a meta leader gets no answer at all.
func retryClusterSettling(ctx context.Context, fn func(context.Context) error) error {
	var err error
	for range 50 {
		tctx, cancel := context.WithTimeout(ctx, settleTry)
		err = fn(tctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		var apiErr *jetstream.APIError
		settling := errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, context.DeadlineExceeded) ||
			(errors.As(err, &apiErr) && (apiErr.Code == 503 ||
				apiErr.ErrorCode == 10023 || // insufficient resources
				apiErr.ErrorCode == 10005)) // no suitable peers for placement: peers not yet known
		if !settling {
			return err
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

// PullExpiry is how long the routers' and senders' pull requests live; an
// idle consumer sends one small request that often.
const PullExpiry = 5 * time.Second

// PullHeartbeat is how often the server tells a waiting pull request it is
// still there; a client that hears neither messages nor heartbeats for two
// of them pulls again. It bounds a stall of nats.go's pull consumers
// (Messages and Consume, v1.55.0): when a consumer takes its last pending
// message while its previous pull request is still being sent
// (fetchInProgress; the write can wait behind other publishes on the
// connection while the server already answers the request), it skips the
// new request and nothing checks again, so it waits, with the server
// holding no request, until the missed heartbeats reset it
// (nats-io/nats.go#1622 describes the same state). In `hookstream bench`
// the senders' consumer stalled so in about one fanout run in four, for two
// heartbeats: 30 s with nats.go's defaults, 5 s with the heartbeat at half
// of PullExpiry, and now at most a second (500 ms is nats.go's least);
// the senders' larger pulls (sender.fetchAhead) also made it rare.
// Heartbeats cost two small messages a second per idle consumer.
const PullHeartbeat = 500 * time.Millisecond

// Consumer binds the durable consumer name on stream, waiting (until ctx
// ends) while a new cluster elects the consumer's leader, whose answer the
// lookup needs.
func Consumer(ctx context.Context, js jetstream.JetStream, stream, name string) (jetstream.Consumer, error) {
	var c jetstream.Consumer
	err := retryClusterSettling(ctx, func(ctx context.Context) error {
		var err error
		c, err = js.Consumer(ctx, stream, name)
		return err
	})
	return c, err
}
