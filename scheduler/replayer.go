package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/streamlog"
	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/schemas"
)

// Webhooks resolves the webhook a dead letter is for: found is false when
// the webhook was deleted; err is for lookups that failed and may succeed
// later. subscription.Index implements it.
type Webhooks interface {
	Webhook(ctx context.Context, tenantID, id string) (w *schemas.Webhook, found bool, err error)
}

// Why a dead letter is kept instead of replayed. A disabled webhook's reason
// is "webhook disabled: " followed by the webhook's DisabledReason.
const (
	ReasonWebhookDeleted  = "webhook deleted"
	ReasonWebhookDisabled = "webhook disabled"
	ReasonUndecodable     = "undecodable dead letter"
)

// ErrBadFilter is returned by Replay and List for a filter or query that
// cannot select dead letters (the message says which field).
var ErrBadFilter = errors.New("scheduler: bad filter")

// KeptReason says why a dead letter for w would be kept rather than
// replayed (found says whether w exists), or "" when it would be replayed.
func KeptReason(w *schemas.Webhook, found bool) string {
	switch {
	case !found || w == nil:
		return ReasonWebhookDeleted
	case !w.Enabled:
		return ReasonWebhookDisabled + ": " + cmp.Or(w.DisabledReason, "no reason given")
	}
	return ""
}

// ReplayerConfig configures a Replayer.
type ReplayerConfig struct {
	// JS reads and deletes dead letters, and publishes deliveries and audit
	// records. Required.
	JS jetstream.JetStream
	// Webhooks resolves the webhook of each dead letter. Required.
	Webhooks Webhooks
	// Clock dates audit records. Optional; default SystemClock.
	Clock Clock
	// Logger. Optional; default slog.Default().
	Logger *slog.Logger
}

// Replayer moves dead letters back to the DELIVERIES stream with a fresh
// attempt budget. The scheduler, the API and the CLI share it. It is safe
// for concurrent use, and concurrent replays of the same dead letters
// enqueue each one once.
type Replayer struct {
	js       jetstream.JetStream
	webhooks Webhooks
	clock    Clock
	logger   *slog.Logger

	replayed, kept, expired atomic.Uint64
}

// Stats are a Replayer's counters since start, over every replay it made
// (end-of-day runs and on-demand).
type Stats struct {
	Replayed uint64 // dead letters re-enqueued
	Kept     uint64 // dead letters left in place (webhook deleted or disabled), counted each time
	Expired  uint64 // dead letters removed past the retention
}

// Stats returns the counters.
func (r *Replayer) Stats() Stats {
	return Stats{Replayed: r.replayed.Load(), Kept: r.kept.Load(), Expired: r.expired.Load()}
}

// NewReplayer returns a Replayer; it does no I/O.
func NewReplayer(cfg ReplayerConfig) (*Replayer, error) {
	if cfg.JS == nil || cfg.Webhooks == nil {
		return nil, errors.New("scheduler: ReplayerConfig.JS and ReplayerConfig.Webhooks are required")
	}
	r := &Replayer{js: cfg.JS, webhooks: cfg.Webhooks, clock: cfg.Clock, logger: cfg.Logger}
	if r.clock == nil {
		r.clock = SystemClock{}
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	r.logger = r.logger.With("component", "replayer")
	return r, nil
}

// Filter selects the dead letters a Replay handles. The zero Filter selects
// every dead letter of every tenant stored when the replay starts.
type Filter struct {
	// TenantID limits the replay to one tenant. Optional; empty means every
	// tenant, which only the scheduler should ask for: the API and the CLI
	// always scope a replay to a tenant.
	TenantID string
	// WebhookID limits the replay to one webhook of TenantID. Optional.
	WebhookID string
	// Since and Until bound when the deliveries were dead-lettered
	// (DeadLetter.At), inclusive. Optional.
	Since, Until time.Time
	// Seqs limits the replay to these dead letters (DEADLETTERS stream
	// sequences, the ids the API shows). Those that are not dead letters of
	// TenantID (and WebhookID), or no longer are, count as NotFound.
	// Optional.
	Seqs []uint64
	// UpTo limits the replay to dead letters with a sequence up to UpTo.
	// Optional; zero means the stream's last sequence when Replay starts,
	// so what is dead-lettered during a replay waits for the next one.
	UpTo uint64
	// ExpireBefore, when set, removes the dead letters dead-lettered before
	// it instead of replaying them, each after an audit record
	// (schemas.AuditDeadLetterExpired). Optional.
	ExpireBefore time.Time
	// Origin names who asked, in logs and audit records ("end-of-day replay
	// 2026-11-24", "api", "cli"). Optional; default "on-demand replay".
	Origin string
}

func (f *Filter) check() error {
	switch {
	case f.TenantID != "" && !schemas.ValidKey(f.TenantID):
		return fmt.Errorf("%w: tenant id %q", ErrBadFilter, f.TenantID)
	case f.WebhookID != "" && f.TenantID == "":
		return fmt.Errorf("%w: a webhook id needs its tenant id", ErrBadFilter)
	case f.WebhookID != "" && !schemas.ValidKey(f.WebhookID):
		return fmt.Errorf("%w: webhook id %q", ErrBadFilter, f.WebhookID)
	case !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since):
		return fmt.Errorf("%w: until is before since", ErrBadFilter)
	}
	return nil
}

// subject is the DEADLETTERS filter subject of f.
func (f *Filter) subject() string {
	if f.TenantID == "" {
		return broker.AllDeadLetters
	}
	return broker.DeadLetterFilter(f.TenantID, f.WebhookID)
}

// inWindow reports whether a dead letter of at is within Since and Until.
func (f *Filter) inWindow(at time.Time) bool {
	return (f.Since.IsZero() || !at.Before(f.Since)) && (f.Until.IsZero() || !at.After(f.Until))
}

// Result is what a Replay did.
type Result struct {
	// Replayed counts the dead letters this replay re-enqueued and removed.
	// One that another replay had already re-enqueued (two replays racing,
	// or a run resuming) is removed but not counted again.
	Replayed int
	// Kept counts the dead letters left in place, and KeptReasons splits
	// the count by reason (see KeptReason).
	Kept        int
	KeptReasons map[string]int
	// Expired counts the dead letters removed for being older than
	// Filter.ExpireBefore.
	Expired int
	// NotFound counts the Filter.Seqs that are not dead letters of the
	// tenant (any more).
	NotFound int
}

func (r *Result) keep(reason string) {
	r.Kept++
	if r.KeptReasons == nil {
		r.KeptReasons = map[string]int{}
	}
	r.KeptReasons[reason]++
}

// String summarises the result for logs and audit records.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d replayed, %d kept", r.Replayed, r.Kept)
	if len(r.KeptReasons) > 0 {
		b.WriteString(" (")
		for i, reason := range slices.Sorted(maps.Keys(r.KeptReasons)) {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %d", reason, r.KeptReasons[reason])
		}
		b.WriteString(")")
	}
	if r.Expired > 0 {
		fmt.Fprintf(&b, ", %d expired", r.Expired)
	}
	if r.NotFound > 0 {
		fmt.Fprintf(&b, ", %d not found", r.NotFound)
	}
	return b.String()
}

// progress lets the scheduler (and tests) follow a replay. A hook's error
// stops the replay and is returned by it.
type progress struct {
	// afterPublish runs after the n-th delivery of this replay is
	// re-enqueued and before its dead letter is removed.
	afterPublish func(n int) error
	// afterItem runs after each dead letter is handled, with the result so
	// far.
	afterItem func(ctx context.Context, sofar *Result) error
}

// Replay re-enqueues the dead letters f selects, oldest first, each with a
// fresh attempt budget and the same delivery id (the webhook-id receivers
// deduplicate on), then removes it from DEADLETTERS. A dead letter whose
// webhook was deleted or is disabled is kept, and the reason counted and
// logged. One audit record (schemas.AuditReplayRun) per tenant touched
// says what was done.
//
// Each dead letter is published to DELIVERIES with Nats-Msg-Id
// "<delivery id>:r<dead letter sequence>" before it is removed, so a replay
// that stops halfway (ctx cancelled, process killed) can simply be run
// again: what it removed is gone, and what it re-enqueued without removing
// is dropped by the stream as a duplicate (within the stream's dedupe
// window). The Result then covers only what this call did; on an error it
// says what was done before it.
func (r *Replayer) Replay(ctx context.Context, f Filter) (Result, error) {
	return r.replay(ctx, f, progress{})
}

// count adds a replay's result to the counters.
func (r *Replayer) count(res *Result) {
	r.replayed.Add(uint64(res.Replayed))
	r.kept.Add(uint64(res.Kept))
	r.expired.Add(uint64(res.Expired))
}

func (r *Replayer) replay(ctx context.Context, f Filter, p progress) (res Result, err error) {
	if err := f.check(); err != nil {
		return res, err
	}
	defer func() { r.count(&res) }()
	f.Origin = cmp.Or(f.Origin, "on-demand replay")
	stream, err := r.js.Stream(ctx, broker.StreamDeadLetters)
	if err != nil {
		return res, fmt.Errorf("scheduler: dead letters: %w", err)
	}
	run := &replayRun{r: r, f: &f, p: p, stream: stream, tenants: map[string]*Result{}}
	defer func() { run.audit(ctx) }()
	defer func() { res = run.total }()

	if len(f.Seqs) > 0 {
		return res, run.seqs(ctx)
	}
	if f.UpTo == 0 {
		info, err := stream.Info(ctx)
		if err != nil {
			return res, fmt.Errorf("scheduler: dead letters: %w", err)
		}
		if f.UpTo = info.State.LastSeq; f.UpTo == 0 {
			return res, nil
		}
	}
	return res, streamlog.Scan(ctx, r.js, broker.StreamDeadLetters, f.subject(), streamlog.Range{Through: f.UpTo},
		func(m streamlog.Msg) error { return run.handle(ctx, m) })
}

// replayRun is the state of one Replay.
type replayRun struct {
	r         *Replayer
	f         *Filter
	p         progress
	stream    jetstream.Stream
	total     Result
	tenants   map[string]*Result
	published int
}

// seqs replays the explicit Filter.Seqs.
func (run *replayRun) seqs(ctx context.Context) error {
	seqs := slices.Clone(run.f.Seqs)
	slices.Sort(seqs)
	prefix := run.f.subject()
	prefix = strings.TrimSuffix(strings.TrimSuffix(prefix, ">"), "*")
	for _, seq := range slices.Compact(seqs) {
		raw, err := run.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			run.total.NotFound++
			continue
		}
		if err != nil {
			return fmt.Errorf("scheduler: dead letter %d: %w", seq, err)
		}
		// A whole subject (one webhook) or a prefix ending in "." (a
		// tenant, every tenant); another tenant's dead letter is not found.
		if raw.Subject != prefix && (!strings.HasSuffix(prefix, ".") || !strings.HasPrefix(raw.Subject, prefix)) {
			run.total.NotFound++
			continue
		}
		m := streamlog.Msg{Seq: raw.Sequence, Subject: raw.Subject, Time: raw.Time, Header: raw.Header, Data: raw.Data}
		if err := run.handle(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// handle replays, keeps or expires one dead letter.
func (run *replayRun) handle(ctx context.Context, m streamlog.Msg) error {
	r, f := run.r, run.f
	if f.UpTo != 0 && m.Seq > f.UpTo {
		return nil
	}
	tenantID, webhookID, ok := parseDeadLetterSubject(m.Subject)
	var dl schemas.DeadLetter
	if err := schemas.Unmarshal(m.Data, &dl); err != nil || !ok ||
		dl.Delivery.TenantID != tenantID || dl.Delivery.WebhookID != webhookID || dl.Delivery.ID == "" {
		if !f.ExpireBefore.IsZero() && m.Time.Before(f.ExpireBefore) {
			dl.Delivery.TenantID, dl.Delivery.WebhookID, dl.At = tenantID, webhookID, m.Time
			return run.expire(ctx, m.Seq, &dl)
		}
		r.logger.WarnContext(telemetry.Extract(ctx, m.Header), "dead letter kept", "origin", f.Origin, "seq", m.Seq, "subject", m.Subject, "reason", ReasonUndecodable)
		run.keep(tenantID, ReasonUndecodable)
		return run.after(ctx)
	}
	if !f.inWindow(dl.At) {
		return nil
	}
	if !f.ExpireBefore.IsZero() && dl.At.Before(f.ExpireBefore) {
		return run.expire(ctx, m.Seq, &dl)
	}
	wh, found, err := r.webhooks.Webhook(ctx, tenantID, webhookID)
	if err != nil {
		return fmt.Errorf("scheduler: webhook %s of tenant %s: %w", webhookID, tenantID, err)
	}
	if reason := KeptReason(wh, found); reason != "" {
		r.logger.InfoContext(telemetry.Extract(ctx, m.Header), "dead letter kept", "origin", f.Origin, "seq", m.Seq, "tenant", tenantID, "webhook_id", webhookID,
			"delivery_id", dl.Delivery.ID, "reason", reason)
		run.keep(tenantID, reason)
		return run.after(ctx)
	}

	d := dl.Delivery
	d.Attempts, d.History, d.NotBefore = 0, nil, time.Time{}
	d.Replays++
	data, err := schemas.Marshal(nil, &d)
	if err != nil {
		return fmt.Errorf("scheduler: encode delivery %s: %w", d.ID, err)
	}
	msg := &nats.Msg{
		Subject: broker.DeliverySubject(tenantID, webhookID),
		Data:    data,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{ReplayMsgID(d.ID, m.Seq)}},
	}
	// The replay continues the trace the dead letter carries.
	_, span := telemetry.Tracer().Start(telemetry.Extract(ctx, m.Header), "send "+broker.StreamDeliveries,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(telemetry.Messaging(telemetry.Send, broker.StreamDeliveries, msg.Subject)...),
		trace.WithAttributes(telemetry.TenantKey.String(tenantID), telemetry.WebhookKey.String(webhookID),
			telemetry.DeliveryKey.String(d.ID), telemetry.EventIDKey.String(d.EventID), telemetry.ReplayedKey.Int(d.Replays)))
	telemetry.Inject(trace.ContextWithSpan(ctx, span), msg.Header)
	ack, err := r.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(broker.StreamDeliveries))
	span.End()
	if err != nil {
		return fmt.Errorf("scheduler: re-enqueue delivery %s: %w", d.ID, err)
	}
	run.published++
	if run.p.afterPublish != nil {
		if err := run.p.afterPublish(run.published); err != nil {
			return err
		}
	}
	if err := run.remove(ctx, m.Seq); err != nil {
		return err
	}
	if !ack.Duplicate {
		run.total.Replayed++
		run.tenant(tenantID).Replayed++
	}
	return run.after(ctx)
}

// ReplayMsgID is the Nats-Msg-Id of the replay of dead letter seq of the
// delivery deliveryID: replaying the same dead letter twice within the
// DELIVERIES dedupe window queues it once.
func ReplayMsgID(deliveryID string, seq uint64) string {
	return deliveryID + ":r" + strconv.FormatUint(seq, 10)
}

// expire records the removal of an old dead letter, then removes it.
func (run *replayRun) expire(ctx context.Context, seq uint64, dl *schemas.DeadLetter) error {
	d := &dl.Delivery
	rec := schemas.AuditRecord{
		Kind: schemas.AuditDeadLetterExpired, TenantID: d.TenantID, WebhookID: d.WebhookID,
		DeliveryID: d.ID, EventID: d.EventID, At: run.r.clock.Now().UTC(),
		Reason: fmt.Sprintf("dead-lettered at %s, before %s (the retention); it had failed: %s",
			dl.At.UTC().Format(time.RFC3339), run.f.ExpireBefore.UTC().Format(time.RFC3339), cmp.Or(dl.Reason, "unknown")),
	}
	if err := run.r.publishAudit(ctx, &rec, "expired:"+strconv.FormatUint(seq, 10)); err != nil {
		return err
	}
	if err := run.remove(ctx, seq); err != nil {
		return err
	}
	run.total.Expired++
	run.tenant(d.TenantID).Expired++
	run.r.logger.InfoContext(ctx, "dead letter expired", "origin", run.f.Origin, "seq", seq, "tenant", d.TenantID,
		"webhook_id", d.WebhookID, "delivery_id", d.ID)
	return run.after(ctx)
}

// remove deletes dead letter seq; one already gone (another replay got
// there first) is fine.
func (run *replayRun) remove(ctx context.Context, seq uint64) error {
	err := run.stream.DeleteMsg(ctx, seq)
	if err == nil {
		return nil
	}
	if _, gerr := run.stream.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
		return nil
	}
	return fmt.Errorf("scheduler: remove dead letter %d: %w", seq, err)
}

func (run *replayRun) keep(tenantID, reason string) {
	run.total.keep(reason)
	run.tenant(tenantID).keep(reason)
}

func (run *replayRun) after(ctx context.Context) error {
	if run.p.afterItem == nil {
		return nil
	}
	return run.p.afterItem(ctx, &run.total)
}

func (run *replayRun) tenant(id string) *Result {
	t := run.tenants[id]
	if t == nil {
		t = &Result{}
		run.tenants[id] = t
	}
	return t
}

// audit writes one replay record per tenant touched. It runs even when the
// replay stopped on an error or a cancelled ctx, so what was done is told.
func (run *replayRun) audit(ctx context.Context) {
	if len(run.tenants) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now := run.r.clock.Now().UTC()
	for _, id := range slices.Sorted(maps.Keys(run.tenants)) {
		if !schemas.ValidKey(id) {
			continue // a dead letter on a malformed subject: logged when kept
		}
		res := run.tenants[id]
		rec := schemas.AuditRecord{
			Kind: schemas.AuditReplayRun, TenantID: id, Count: res.Replayed, At: now,
			Reason: run.f.Origin + ": " + res.String(),
		}
		if err := run.r.publishAudit(ctx, &rec, ""); err != nil {
			run.r.logger.Warn("replay audit record not written", "tenant", id, "err", err)
		}
	}
}

// publishAudit stores rec in the AUDIT stream, deduplicated by msgID when
// not empty.
func (r *Replayer) publishAudit(ctx context.Context, rec *schemas.AuditRecord, msgID string) error {
	msg, err := broker.AuditMsg(rec)
	if err != nil {
		return fmt.Errorf("scheduler: encode audit record: %w", err)
	}
	if msgID != "" {
		msg.Header = nats.Header{jetstream.MsgIDHeader: []string{msgID}}
	}
	if _, err := r.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("scheduler: audit record: %w", err)
	}
	return nil
}

// parseDeadLetterSubject splits "deadletters.<tenant>.<webhook>".
func parseDeadLetterSubject(subject string) (tenantID, webhookID string, ok bool) {
	rest, ok := strings.CutPrefix(subject, strings.TrimSuffix(broker.AllDeadLetters, ">"))
	if !ok {
		return "", "", false
	}
	tenantID, webhookID, ok = strings.Cut(rest, ".")
	return tenantID, webhookID, ok && tenantID != "" && webhookID != "" && !strings.Contains(webhookID, ".")
}
