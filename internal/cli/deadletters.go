package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/subscription"
)

const deadlettersUsage = `Usage: hookstream deadletters [flags]

Lists a tenant's dead letters, newest first: the deliveries that exhausted
their attempts (or whose webhook was disabled), why, and whether a replay
would re-enqueue them. Payloads are not shown. The ID column is what
'hookstream replay --ids' takes.

--since and --until take an RFC 3339 time (2026-11-24T09:00:00Z) or a
duration back from now (36h).

Example:
  hookstream deadletters --tenant default --webhook wh_123 --since 24h`

const replayUsage = `Usage: hookstream replay [flags]

Replays a tenant's dead letters now, as the end-of-day run would: each is
re-enqueued with a fresh attempt budget and the same webhook-id, then removed
from the dead letters. Those of deleted or disabled webhooks are kept, and
counted by reason. Select with --webhook, --since, --until or --ids, or give
--all for every dead letter of the tenant (--ids and --all have no
environment variable: say them on the command line).

Example:
  hookstream replay --tenant default --webhook wh_123
  hookstream replay --tenant default --ids 12,13`

// letterFlags are the flags that select a tenant's dead letters.
type letterFlags struct {
	natsURL, tenant, webhook, since, until string
	json                                   bool
	timeout                                time.Duration
}

func (l *letterFlags) register(f *flags, timeout time.Duration) {
	f.str(&l.natsURL, "nats", "HOOKSTREAM_NATS_URL", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
	f.str(&l.tenant, "tenant", "HOOKSTREAM_TENANT", "default", "tenant id")
	f.str(&l.webhook, "webhook", "HOOKSTREAM_WEBHOOK", "", "only the dead letters of this webhook id")
	f.str(&l.since, "since", "HOOKSTREAM_SINCE", "", "only those dead-lettered at or after this time (RFC 3339, or a duration back from now)")
	f.str(&l.until, "until", "HOOKSTREAM_UNTIL", "", "only those dead-lettered at or before this time (RFC 3339, or a duration back from now)")
	f.boolean(&l.json, "json", "HOOKSTREAM_JSON", false, "print JSON instead of text")
	f.duration(&l.timeout, "timeout", "", timeout, "give up after this long")
}

// window parses --since and --until.
func (l *letterFlags) window(now time.Time) (since, until time.Time, err error) {
	if since, err = parseWhen("since", l.since, now); err != nil {
		return since, until, err
	}
	if until, err = parseWhen("until", l.until, now); err != nil {
		return since, until, err
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return since, until, badUsage("--until is before --since")
	}
	return since, until, nil
}

func (l *letterFlags) check() error {
	if !schemas.ValidKey(l.tenant) {
		return badUsage("--tenant %q is not a tenant id", l.tenant)
	}
	if l.webhook != "" && !schemas.ValidKey(l.webhook) {
		return badUsage("--webhook %q is not a webhook id", l.webhook)
	}
	return nil
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, badUsage("--%s %q: want an RFC 3339 time (2026-11-24T09:00:00Z) or a duration back from now (36h)", name, s)
}

// openReplayer connects to NATS and returns a Replayer that resolves
// webhooks from the webhooks bucket.
func openReplayer(ctx context.Context, natsURL, name string) (*scheduler.Replayer, func(), error) {
	b, err := broker.Open(ctx, broker.Config{URLs: natsURL, Name: name, CreateOnly: true})
	if err != nil {
		return nil, nil, err
	}
	r, err := scheduler.NewReplayer(scheduler.ReplayerConfig{JS: b.JS, Webhooks: storeWebhooks{subscription.NewKVStore(b.Webhooks)},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return r, b.Close, nil
}

// storeWebhooks resolves webhooks for a Replayer from the Store.
type storeWebhooks struct{ store subscription.Store }

func (w storeWebhooks) Webhook(ctx context.Context, tenantID, id string) (*schemas.Webhook, bool, error) {
	wh, err := w.store.Get(ctx, tenantID, id)
	if errors.Is(err, subscription.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return wh, true, nil
}

func runDeadletters(ctx context.Context, args []string, stdio IO) error {
	var l letterFlags
	var limit int
	var before uint64
	f := newFlags("deadletters", deadlettersUsage, stdio.Stderr)
	l.register(f, 30*time.Second)
	f.integer(&limit, "limit", "HOOKSTREAM_LIMIT", 50, "how many to show, 1 to 1000")
	f.Uint64Var(&before, "before", 0, "show those older than this id (the next page)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := l.check(); err != nil {
		return err
	}
	if limit < 1 || limit > 1000 {
		return badUsage("--limit %d: want 1 to 1000", limit)
	}
	since, until, err := l.window(time.Now())
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	r, closeFn, err := openReplayer(ctx, l.natsURL, "hookstream-deadletters")
	if err != nil {
		return err
	}
	defer closeFn()
	page, err := r.List(ctx, scheduler.Query{TenantID: l.tenant, WebhookID: l.webhook, Since: since, Until: until, Limit: limit, Before: before})
	if err != nil {
		return err
	}
	if l.json {
		return printLettersJSON(stdio.Stdout, page)
	}
	return printLetters(stdio.Stdout, page)
}

func printLettersJSON(w io.Writer, page scheduler.LetterPage) error {
	out := struct {
		Data []scheduler.LetterView `json:"data"`
		Next string                 `json:"next"`
	}{Data: make([]scheduler.LetterView, 0, len(page.Letters))}
	for i := range page.Letters {
		out.Data = append(out.Data, page.Letters[i].View())
	}
	if page.Next != 0 {
		out.Next = strconv.FormatUint(page.Next, 10)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func printLetters(w io.Writer, page scheduler.LetterPage) error {
	if len(page.Letters) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEAD-LETTERED AT\tWEBHOOK\tEVENT TYPE\tATTEMPTS\tLAST STATUS\tREPLAY\tREASON")
	for _, l := range page.Letters {
		status := "-"
		if l.LastStatus != 0 {
			status = strconv.Itoa(l.LastStatus)
		}
		replay := "yes"
		if l.KeptReason != "" {
			replay = "kept: " + l.KeptReason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", l.Seq, l.At.UTC().Format(time.RFC3339), l.Delivery.WebhookID,
			l.Delivery.EventType, l.Attempts, status, replay, oneLine(l.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != 0 {
		fmt.Fprintf(w, "more: --before %d\n", page.Next)
	}
	return nil
}

// oneLine keeps a reason on its row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func runReplay(ctx context.Context, args []string, stdio IO) error {
	var l letterFlags
	var ids string
	var all bool
	f := newFlags("replay", replayUsage, stdio.Stderr)
	l.register(f, 10*time.Minute)
	f.str(&ids, "ids", "", "", "only these dead letters: ids from 'hookstream deadletters', comma-separated")
	f.boolean(&all, "all", "", false, "replay every dead letter of the tenant")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := l.check(); err != nil {
		return err
	}
	since, until, err := l.window(time.Now())
	if err != nil {
		return err
	}
	filter := scheduler.Filter{TenantID: l.tenant, WebhookID: l.webhook, Since: since, Until: until, Origin: "CLI replay"}
	for _, s := range strings.Split(ids, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		seq, err := strconv.ParseUint(s, 10, 64)
		if err != nil || seq == 0 {
			return badUsage("--ids: %q is not a dead-letter id", s)
		}
		filter.Seqs = append(filter.Seqs, seq)
	}
	filtered := filter.WebhookID != "" || !since.IsZero() || !until.IsZero() || len(filter.Seqs) > 0
	switch {
	case all && filtered:
		return badUsage("--all replays every dead letter of the tenant; it cannot be combined with --webhook, --since, --until or --ids")
	case !all && !filtered:
		return badUsage("select dead letters with --webhook, --since, --until or --ids, or give --all")
	}

	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	r, closeFn, err := openReplayer(ctx, l.natsURL, "hookstream-replay")
	if err != nil {
		return err
	}
	defer closeFn()
	res, err := r.Replay(ctx, filter)
	if err != nil {
		if res.Replayed > 0 {
			fmt.Fprintf(stdio.Stderr, "stopped after re-enqueuing %d dead letters\n", res.Replayed)
		}
		return err
	}
	if l.json {
		reasons := res.KeptReasons
		if reasons == nil {
			reasons = map[string]int{}
		}
		return json.NewEncoder(stdio.Stdout).Encode(map[string]any{
			"replayed": res.Replayed, "kept": res.Kept, "kept_reasons": reasons, "not_found": res.NotFound,
		})
	}
	fmt.Fprintf(stdio.Stdout, "re-enqueued %d dead letters; kept %d\n", res.Replayed, res.Kept)
	for _, reason := range slices.Sorted(maps.Keys(res.KeptReasons)) {
		fmt.Fprintf(stdio.Stdout, "  kept %d: %s\n", res.KeptReasons[reason], reason)
	}
	if res.NotFound > 0 {
		fmt.Fprintf(stdio.Stdout, "%d ids are not dead letters of tenant %s (any more)\n", res.NotFound, l.tenant)
	}
	return nil
}
