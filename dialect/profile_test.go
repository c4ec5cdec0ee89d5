package dialect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var at = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

// exampleEvent is the catalog's example of typ, as a producer would send it.
func exampleEvent(t testing.TB, typ string) schemas.Event {
	t.Helper()
	et, ok := schemas.LookupType(typ)
	require.True(t, ok, typ)
	require.NotEmpty(t, et.Example, "%s has no example", typ)
	org := "org_42"
	if et.Family == schemas.ReservedFamily {
		org = ""
	}
	return schemas.Event{ID: "evt_0190f1a2b3c4", Type: typ, TenantID: "acme", OrgID: org, OccurredAt: at, Data: et.Example}
}

// render renders ev for a webhook of profile p as a sender would.
func render(t testing.TB, p *dialect.Profile, ev schemas.Event, includePayload bool) []byte {
	t.Helper()
	prog, err := dialect.Compile(dialect.KindTransform, p.Transform)
	require.NoError(t, err)
	decoded, err := dialect.DecodeEvent(schemas.AppendJSON(nil, &ev, includePayload))
	require.NoError(t, err)
	in := &dialect.Input{Event: decoded, EventName: p.EventNames.Of(ev.Type),
		Webhook: dialect.WebhookInput{ID: "wh_1", Name: "HR sync", URL: "https://receiver.example/hooks",
			OrgIDs: []string{}, IncludePayload: includePayload},
		Delivery: dialect.DeliveryInput{ID: schemas.DeliveryID(ev.ID, "wh_1"), Attempt: 1}}
	out, err := prog.Transform(context.Background(), in)
	require.NoError(t, err)
	return prog.Bind(out, in)
}

// builtInTypes are the catalog's own types (tests elsewhere may register more).
func builtInTypes(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "schemas", "jsonschema", "*.json"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	return out
}

// TestProfileGolden pins each profile's body for every type of the catalog
// (reviewed by eye against the vendors' documents). Refresh with:
// go test ./dialect -run TestProfileGolden -update
func TestProfileGolden(t *testing.T) {
	t.Parallel()
	type variant struct {
		dir            string
		profile        *dialect.Profile
		includePayload bool
	}
	var variants []variant
	for _, p := range dialect.Profiles() {
		variants = append(variants, variant{p.Name, p, p.IncludePayload})
		if !p.IncludePayload {
			variants = append(variants, variant{p.Name + "-with-payload", p, true})
		}
	}
	for _, v := range variants {
		for _, typ := range builtInTypes(t) {
			t.Run(v.dir+"/"+typ, func(t *testing.T) {
				t.Parallel()
				var pretty bytes.Buffer
				require.NoError(t, json.Indent(&pretty, render(t, v.profile, exampleEvent(t, typ), v.includePayload), "", "  "))
				pretty.WriteByte('\n')
				path := filepath.Join("testdata", "profiles", v.dir, typ+".json")
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
					require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run with -update to create it")
				require.Equal(t, string(want), pretty.String())
			})
		}
	}
}

// Every profile's program runs once per event, whatever it takes from the
// webhook and the delivery.
func TestProfilesRunPerEvent(t *testing.T) {
	t.Parallel()
	for _, p := range dialect.Profiles() {
		prog, err := dialect.Compile(dialect.KindTransform, p.Transform)
		require.NoError(t, err, p.Name)
		require.True(t, prog.PerEvent(), p.Name)
	}
}

// FuzzProfiles sends random events through every profile: a program may
// fail on them, but never panics, hangs or outputs what a receiver cannot
// read.
func FuzzProfiles(f *testing.F) {
	types := builtInTypes(f)
	for i, typ := range types {
		f.Add(uint8(i), string(exampleEvent(f, typ).Data), "evt_1", true)
	}
	f.Add(uint8(0), `{"sync_session_id":{"a":[1,{"b":null}]},"status":7,"connector":"x"}`, "", false)
	f.Add(uint8(4), `{"records":"not an array","webhook_counter":-1}`, "e\u0000", true)
	f.Add(uint8(11), `{"action":{"x":1},"clocking":[1,2]}`, "x", true)
	progs := map[string]*dialect.Program{}
	for _, p := range dialect.Profiles() {
		prog, err := dialect.Compile(dialect.KindTransform, p.Transform)
		require.NoError(f, err)
		progs[p.Name] = prog
	}
	f.Fuzz(func(t *testing.T, typeIndex uint8, data, id string, full bool) {
		if !json.Valid([]byte(data)) {
			return
		}
		ev := schemas.Event{ID: id, Type: types[int(typeIndex)%len(types)], TenantID: "t", OrgID: "o", OccurredAt: at,
			Data: json.RawMessage(data)}
		decoded, err := dialect.DecodeEvent(schemas.AppendJSON(nil, &ev, full))
		if err != nil {
			return
		}
		for _, p := range dialect.Profiles() {
			in := &dialect.Input{Event: decoded, EventName: p.EventNames.Of(ev.Type),
				Webhook:  dialect.WebhookInput{ID: "wh", URL: "https://r.example", IncludePayload: full},
				Delivery: dialect.DeliveryInput{ID: id + ":wh", Attempt: 1}}
			out, err := progs[p.Name].Transform(context.Background(), in)
			if err != nil {
				var re *dialect.RunError
				require.ErrorAs(t, err, &re)
				continue
			}
			out = progs[p.Name].Bind(out, in)
			var obj map[string]any
			require.NoError(t, json.Unmarshal(out, &obj), "%s: %s", p.Name, out)
			require.LessOrEqual(t, len(out), dialect.MaxOutput)
		}
	})
}

// Tartan's timeStamp and Teal's created_at are to the millisecond, however
// precise the event's time: many receivers' parsers take no more.
func TestProfileTimesAreToTheMillisecond(t *testing.T) {
	t.Parallel()
	for name, field := range map[string]string{"tartan": "timeStamp", "teal": "created_at"} {
		p, _ := dialect.LookupProfile(name)
		ev := exampleEvent(t, "payroll.submitted")
		ev.OccurredAt = time.Date(2026, 12, 4, 19, 28, 45, 725258019, time.UTC)
		var body map[string]any
		require.NoError(t, json.Unmarshal(render(t, p, ev, true), &body))
		require.Equal(t, "2026-12-04T19:28:45.725Z", body[field], name)
	}
}
