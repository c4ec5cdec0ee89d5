package dialect_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/dialect"
)

// input is a transform input for an event with some data.
func input(t testing.TB) *dialect.Input {
	t.Helper()
	ev, err := dialect.DecodeEvent([]byte(`{"id":"evt_1","type":"sync.completed","tenant_id":"acme","org_id":"org_1",
		"occurred_at":"2026-03-14T09:26:53.589Z","data":{"sync_session_id":"ss_1","record_count":12345678901234567890,"records":[1,2,3]}}`))
	require.NoError(t, err)
	return &dialect.Input{Event: ev, EventName: "sync.completed",
		Webhook:  dialect.WebhookInput{ID: "wh_1", Name: "HR", URL: "https://r.example/h", OrgIDs: []string{"org_1"}},
		Delivery: dialect.DeliveryInput{ID: "evt_1:wh_1", Attempt: 2}}
}

func transform(t *testing.T, src string) string {
	t.Helper()
	p, err := dialect.Compile(dialect.KindTransform, src)
	require.NoError(t, err)
	in := input(t)
	out, err := p.Transform(context.Background(), in)
	require.NoError(t, err)
	return string(p.Bind(out, in))
}

func TestPerEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src      string
		perEvent bool
	}{
		{`{a: .event.id}`, true},
		{`.event`, true},
		{`.["event"] | {id}`, true},
		{`{event_name}`, true},
		{`{event}`, true},
		{`.event as $e | {id: $e.id, n: .event_name}`, true},
		{`.event | {w: .webhook}`, true}, // .webhook of the event, not of the input
		{`def f: .webhook; .event | f`, true},
		{`reduce .event.data.records[] as $r (0; . + $r) | {sum: .}`, true},
		{`{t: now, r: [range(3)], e: (try error("x") catch "y")}`, true},
		{`{s: "\(.event.id)-\(.event_name)"}`, true},
		{`@base64 "\(.event.id)"`, true},
		{`if .event.type == "x" then {a: 1} else {b: .event.id} end`, true},
		{`[limit(2; .event.data.records[])] | {x: .}`, true},
		{`.event.data.records[.event.data.record_count] | {x: .}`, true},
		{`{requestId: .delivery.id, id: .event.id}`, true},                                          // late
		{`.event as $e | {webhook: {webhook_id: .webhook.id, url: .webhook.url}, id: $e.id}`, true}, // late, nested
		{`{requestId: .delivery.id} + (.event | {id})`, true},                                       // late, merged

		{`.`, false},
		{`{w: .webhook}`, false},
		{`{w: .webhook.id | ascii_downcase}`, false}, // not taken whole
		{`{requestId: .delivery.id} | .requestId`, false},
		{`{a: .event.id} | .x = .delivery`, true}, // the right side's .delivery is of the object
		{`.event.x = 1`, false},
		{`keys`, false},
		{`tojson`, false},
		{`@json`, false},
		{`..`, false},
		{`. as $in | .event | {w: $in.webhook}`, false},
		{`def f: .webhook; {x: f}`, false},
		{`def f(g): g; {x: f(.delivery)}`, false},
		{`{x: "\(.)"}`, false},
		{`.event[.webhook.id]`, false},
		{`{(.webhook.id): 1}`, false},
		{`{webhook}`, false},
		{`if .delivery.attempt > 1 then {a: 1} else {a: 2} end`, false},
		{`reduce .event.data.records[] as $r (.; .)`, false},
		{`def r: if . then r else .webhook end; r`, false},
		{`[.[]] | {x: .}`, false},
	} {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			p, err := dialect.Compile(dialect.KindTransform, tc.src)
			require.NoError(t, err)
			require.Equal(t, tc.perEvent, p.PerEvent())
		})
	}
}

// A per-event program gives each delivery the output a per-delivery run
// would have given it.
func TestLateValuesAreTheDeliverys(t *testing.T) {
	t.Parallel()
	got := transform(t, `.event as $e | {requestId: .delivery.id, attempt: .delivery.attempt,
		webhook: {webhook_id: .webhook.id, url: .webhook.url, orgs: .webhook.org_ids, name: .webhook.name}, id: $e.id}`)
	require.JSONEq(t, `{"requestId":"evt_1:wh_1","attempt":2,
		"webhook":{"webhook_id":"wh_1","url":"https://r.example/h","orgs":["org_1"],"name":"HR"},"id":"evt_1"}`, got)
	// A later key wins, as in jq.
	require.JSONEq(t, `{"id":"evt_1:wh_1"}`, transform(t, `{id: .event.id} + {id: .delivery.id}`))
	require.JSONEq(t, `{"id":"evt_1"}`, transform(t, `{id: .delivery.id} + {id: .event.id}`))
}

func TestNumbersKeepTheirDigits(t *testing.T) {
	t.Parallel()
	require.JSONEq(t, `{"n":12345678901234567890}`, transform(t, `{n: .event.data.record_count}`))
	out := transform(t, `{n: .event.data.record_count}`)
	require.Contains(t, out, "12345678901234567890")
}

func TestCompileErrorsSayWhere(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src        string
		line, col  int
		msgContain string
	}{
		{"{a: .b,, }", 1, 8, "unexpected token"},
		{"{\n  a: .b\n  c: 1}", 3, 3, "unexpected token"},
		{"{a: nosuch(1)}", 1, 5, "function not defined: nosuch/1"},
		{"{a: $nope}", 1, 5, "variable not defined: $nope"},
		{`{a: _multiply("x"; 10)}`, 1, 5, "internal to jq"},
		{`{a: _hs_setpath([1]; 1)}`, 1, 5, "internal to jq"},
		{`import "x" as x; .`, 0, 0, "modules"},
		{"", 0, 0, "is empty"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			_, err := dialect.Compile(dialect.KindTransform, tc.src)
			var e *dialect.Error
			require.ErrorAs(t, err, &e)
			require.Contains(t, e.Message, tc.msgContain)
			require.Equal(t, tc.line, e.Line, e.Error())
			require.Equal(t, tc.col, e.Column, e.Error())
		})
	}
	_, err := dialect.Compile(dialect.KindFilter, strings.Repeat(" ", dialect.MaxSource)+".")
	require.ErrorContains(t, err, "the limit is")
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src, reason string
	}{
		{"runs forever", `def f: f; f`, "timed out after 100ms"},
		{"loops forever", `{a: [range(1e15)] | length}`, "timed out after 100ms"},
		{"a string", `"hello"`, "produced a string, not an object"},
		{"null", `null`, "produced null, not an object"},
		{"an array", `[1]`, "produced an array, not an object"},
		{"no value", `empty`, "produced no value"},
		{"1 MiB", `{a: ("x" * 1048576 | tostring)}`, "exceeds 256 KiB"},
		{"1 MiB built up", `{a: [range(40) | "x" * 30000]}`, "256 KiB"},
		{"an error", `error("bad \(.event.id)")`, "bad evt_1"},
		{"a type error", `{a: (.event.id + 1)}`, "cannot add"},
		{"huge index", `{a: ([] | .[536870000] = 1)}`, "array index 536870000 is too large"},
		{"huge index by setpath", `{a: ([] | setpath([536870000]; 1))}`, "too large"},
		{"huge index by getpath", `{a: ([] | getpath([536870000]) |= 1)}`, "too large"},
		{"huge index by pick", `{a: ([] | pick(.[536870000]))}`, "too large"},
		{"huge index by fromstream", `{a: fromstream([[536870000], 1], [[536870000]])}`, "too large"},
		{"huge repeat", `{a: ("x" * 1e9)}`, "exceeds 256 KiB"},
		{"huge repeat by *=", `{a: "x"} | .a *= 1e9`, "exceeds 256 KiB"},
		{"deep", `reduce range(1000) as $i (null; [.]) | {a: .}`, "deeper than 512"},
		{"halt", `halt`, "halted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := dialect.Compile(dialect.KindTransform, tc.src)
			require.NoError(t, err)
			start := time.Now()
			_, err = p.Transform(context.Background(), input(t))
			var re *dialect.RunError
			require.ErrorAs(t, err, &re)
			require.Equal(t, dialect.KindTransform, re.Kind)
			require.Contains(t, re.Reason, tc.reason)
			require.True(t, strings.HasPrefix(err.Error(), "transform: "), err.Error())
			require.Less(t, time.Since(start), 10*time.Second, "a bound holds")
		})
	}
}

func TestMultiplyStillMultiplies(t *testing.T) {
	t.Parallel()
	require.JSONEq(t, `{"a":6,"b":"xxx","c":{"x":{"y":1,"z":2}},"d":null,"e":7.5}`,
		transform(t, `{a: (2*3), b: ("x"*3), c: ({x:{y:1}} * {x:{z:2}}), d: ("x" * -1), e: (2.5 * 3)}`))
	require.JSONEq(t, `{"a":[2,4]}`, transform(t, `{a: [1,2]} | .a[] *= 2`))
	require.JSONEq(t, `{"a":[1,9]}`, transform(t, `{a: ([1,2] | .[1] = 9)}`))
}

func TestFilters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src     string
		match   bool
		errPart string
	}{
		{`.event.type == "sync.completed"`, true, ""},
		{`.event.data.record_count > 10`, true, ""},
		{`.event.type | startswith("employee.")`, false, ""},
		{`empty`, false, ""},
		{`.event.id`, false, "produced a string, not true or false"},
		{`.event.id | error`, false, "evt_1"},
		{`def f: f; f`, false, "timed out after 25ms"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			p, err := dialect.Compile(dialect.KindFilter, tc.src)
			require.NoError(t, err)
			ok, err := p.Match(context.Background(), input(t))
			require.Equal(t, tc.match, ok)
			if tc.errPart == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.errPart)
			require.True(t, strings.HasPrefix(err.Error(), "filter: "))
		})
	}
}

// A per-event program sees nothing of the webhook or the delivery, so no
// webhook's values can reach another's body.
func TestPerEventRunsSeeOnlyTheEvent(t *testing.T) {
	t.Parallel()
	p, err := dialect.Compile(dialect.KindTransform, `.event | {keys: keys}`)
	require.NoError(t, err)
	require.True(t, p.PerEvent())
	out, err := p.Transform(context.Background(), input(t))
	require.NoError(t, err)
	var v map[string][]string
	require.NoError(t, json.Unmarshal(out, &v))
	require.NotContains(t, v["keys"], "webhook")
	require.False(t, errors.Is(err, context.Canceled))
}
