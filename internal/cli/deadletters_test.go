package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/cli"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/subscription"
)

// run runs the command line and returns its exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := cli.Main(context.Background(), args, cli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

// deadLetterNATS is a NATS server with tenant acme's webhooks wh_live
// (enabled) and wh_off (disabled), and dead letters: seqs[0..4] for acme
// (wh_live, wh_off, wh_live, wh_gone, wh_off) dead-lettered 5h, 4h, 3h, 2h
// and 1h ago, and seqs[5] for globex.
type deadLetterNATS struct {
	url  string
	b    *broker.Broker
	seqs []string
}

func newDeadLetterNATS(t *testing.T) *deadLetterNATS {
	t.Helper()
	srv := brokertest.Server(t, "")
	b := brokertest.Open(t, srv, broker.Topology{})
	ctx := context.Background()
	store := subscription.NewKVStore(b.Webhooks)
	for id, enabled := range map[string]bool{"wh_live": true, "wh_off": false} {
		w := &schemas.Webhook{ID: id, TenantID: "acme", URL: "https://example.com/", Events: []string{"*"}, Enabled: enabled}
		if !enabled {
			w.DisabledReason = "410 Gone"
		}
		require.NoError(t, store.Create(ctx, w))
	}
	d := &deadLetterNATS{url: srv.ClientURL(), b: b}
	now := time.Now().UTC().Truncate(time.Second)
	for i, hook := range []string{"acme/wh_live", "acme/wh_off", "acme/wh_live", "acme/wh_gone", "acme/wh_off", "globex/wh_g"} {
		tenant, webhook, _ := strings.Cut(hook, "/")
		event := "evt_" + strconv.Itoa(i)
		dl := schemas.DeadLetter{
			Delivery: schemas.Delivery{ID: schemas.DeliveryID(event, webhook), EventID: event, EventType: "sync.failed",
				TenantID: tenant, WebhookID: webhook, Payload: []byte(`{"secret":"payload"}`)},
			Reason: "gave up after 3 attempts: HTTP 503", Attempts: 3, LastStatus: 503,
			At: now.Add(time.Duration(i-5) * time.Hour),
		}
		msg, err := broker.DeadLetterMsg(&dl, dl.Delivery.ID+":dl")
		require.NoError(t, err)
		ack, err := b.JS.PublishMsg(ctx, msg)
		require.NoError(t, err)
		d.seqs = append(d.seqs, strconv.FormatUint(ack.Sequence, 10))
	}
	return d
}

// queued returns the event ids re-enqueued on DELIVERIES.
func (d *deadLetterNATS) queued(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	s, err := d.b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	var out []string
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(broker.DeliveriesFilter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		require.NoError(t, err)
		var dv schemas.Delivery
		require.NoError(t, schemas.Unmarshal(m.Data, &dv))
		out = append(out, dv.EventID)
		seq = m.Sequence
	}
}

// rowIDs returns the first column of the table's rows.
func rowIDs(out string) []string {
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "more:" {
			ids = append(ids, f[0])
		}
	}
	return ids
}

func TestDeadlettersCommand(t *testing.T) {
	t.Parallel()
	d := newDeadLetterNATS(t)
	s := d.seqs
	list := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, errOut := run(t, append([]string{"deadletters", "--nats", d.url, "--tenant", "acme"}, args...)...)
		require.Equal(t, 0, code, errOut)
		require.NotContains(t, out, "payload")
		return out
	}

	out := list(t)
	require.Regexp(t, `^ID\s+DEAD-LETTERED AT\s+WEBHOOK\s+EVENT TYPE\s+ATTEMPTS\s+LAST STATUS\s+REPLAY\s+REASON\n`, out)
	require.Equal(t, []string{s[4], s[3], s[2], s[1], s[0]}, rowIDs(out), "newest first, only acme's")
	lines := strings.Split(out, "\n")
	require.Contains(t, lines[1], "wh_off")
	require.Contains(t, lines[1], "kept: webhook disabled: 410 Gone")
	require.Contains(t, lines[2], "kept: webhook deleted")
	require.Regexp(t, `wh_live\s+sync.failed\s+3\s+503\s+yes\s+gave up after 3 attempts: HTTP 503`, lines[3])

	out = list(t, "--limit", "2")
	require.Equal(t, []string{s[4], s[3]}, rowIDs(out))
	require.Contains(t, out, "more: --before "+s[3])
	require.Equal(t, []string{s[2], s[1]}, rowIDs(list(t, "--limit", "2", "--before", s[3])))

	require.Equal(t, []string{s[2], s[0]}, rowIDs(list(t, "--webhook", "wh_live")))
	require.Equal(t, []string{s[4], s[3]}, rowIDs(list(t, "--since", "150m")))
	require.Equal(t, []string{s[3], s[2]}, rowIDs(list(t, "--since", "200m", "--until", "90m")))
	require.Equal(t, "no dead letters\n", list(t, "--webhook", "wh_g"))

	var page struct {
		Data []struct {
			ID         string `json:"id"`
			DeliveryID string `json:"delivery_id"`
			Replayable bool   `json:"replayable"`
			KeptReason string `json:"kept_reason"`
			LastStatus int    `json:"last_status"`
		} `json:"data"`
		Next string `json:"next"`
	}
	require.NoError(t, json.Unmarshal([]byte(list(t, "--json", "--limit", "3")), &page))
	require.Len(t, page.Data, 3)
	require.Equal(t, s[4], page.Data[0].ID)
	require.Equal(t, "webhook disabled: 410 Gone", page.Data[0].KeptReason)
	require.True(t, page.Data[2].Replayable)
	require.Equal(t, 503, page.Data[2].LastStatus)
	require.Equal(t, s[2], page.Next)

	// Bad command lines are explained and exit 2.
	for _, args := range [][]string{
		{"--since", "yesterday"}, {"--until", "-5h"}, {"--since", "1h", "--until", "2h"}, {"--limit", "0"},
		{"--tenant", "a.b"}, {"--webhook", "*"}, {"extra"},
	} {
		code, _, errOut := run(t, append([]string{"deadletters", "--nats", d.url}, args...)...)
		require.Equal(t, 2, code, args)
		require.Contains(t, errOut, "hookstream deadletters: ", args)
	}
}

func TestReplayCommand(t *testing.T) {
	t.Parallel()
	d := newDeadLetterNATS(t)
	s := d.seqs
	replay := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, errOut := run(t, append([]string{"replay", "--nats", d.url, "--tenant", "acme"}, args...)...)
		require.Equal(t, 0, code, errOut)
		return out
	}

	for args, why := range map[string]string{
		"":                     "select dead letters",
		"--all --webhook wh_1": "cannot be combined",
		"--ids 1,x":            `"x" is not a dead-letter id`,
		"--since someday":      "--since",
	} {
		code, _, errOut := run(t, append([]string{"replay", "--nats", d.url}, strings.Fields(args)...)...)
		require.Equal(t, 2, code, args)
		require.Contains(t, errOut, why, args)
	}
	require.Empty(t, d.queued(t))

	out := replay(t, "--webhook", "wh_off")
	require.Equal(t, "re-enqueued 0 dead letters; kept 2\n  kept 2: webhook disabled: 410 Gone\n", out)

	out = replay(t, "--ids", s[2]+","+s[5]+", 999")
	require.Equal(t, "re-enqueued 1 dead letters; kept 0\n2 ids are not dead letters of tenant acme (any more)\n", out)
	require.Equal(t, []string{"evt_2"}, d.queued(t))

	var res struct {
		Replayed    int            `json:"replayed"`
		Kept        int            `json:"kept"`
		KeptReasons map[string]int `json:"kept_reasons"`
	}
	require.NoError(t, json.Unmarshal([]byte(replay(t, "--all", "--json")), &res))
	require.Equal(t, 1, res.Replayed)
	require.Equal(t, 3, res.Kept)
	require.Equal(t, map[string]int{"webhook disabled: 410 Gone": 2, "webhook deleted": 1}, res.KeptReasons)
	require.Equal(t, []string{"evt_2", "evt_0"}, d.queued(t), "globex's dead letter stays")
}

func TestSchedulerCommand(t *testing.T) {
	t.Parallel()
	srv := brokertest.Server(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Main(ctx, []string{"scheduler", "--nats", srv.ClientURL(), "--replay-at", "22:30", "--replay-tz", "Asia/Kolkata",
			"--dead-letter-retention", "72h", "--log-level", "error"}, cli.IO{Stdout: pw, Stderr: io.Discard})
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`replays dead letters daily at 22:30 Asia/Kolkata \(next (\S+)\), dead letters kept 72h\.`).FindStringSubmatch(line)
	require.NotNil(t, m, line)
	next, err := time.Parse(time.RFC3339, m[1])
	require.NoError(t, err)
	require.True(t, next.After(time.Now()))
	require.Equal(t, "22:30:00+05:30", next.Format("15:04:05Z07:00"))

	// On start it makes the latest run that was due.
	b := brokertest.Open(t, srv, broker.Topology{})
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	require.NoError(t, err)
	key := "run." + next.Add(-24*time.Hour).In(kolkata).Format("2006-01-02")
	require.Eventually(t, func() bool {
		e, err := b.Scheduler.Get(context.Background(), key)
		return err == nil && strings.Contains(string(e.Value()), `"done":true`)
	}, 15*time.Second, 10*time.Millisecond, key)

	cancel()
	select {
	case code := <-exit:
		require.Equal(t, 0, code, "a cancelled scheduler exits 0")
	case <-time.After(30 * time.Second):
		t.Fatal("scheduler did not stop")
	}

	for _, args := range [][]string{
		{"--replay-tz", "Mars/Olympus_Mons"}, {"--replay-tz", "Local"}, {"--replay-at", "25:00"}, {"--dead-letter-retention", "5m"},
	} {
		code, _, errOut := run(t, append([]string{"scheduler", "--nats", srv.ClientURL()}, args...)...)
		require.Equal(t, 2, code, args)
		require.Contains(t, errOut, args[0], args)
	}
}
