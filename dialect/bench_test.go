package dialect_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/schemas"
)

// benchEvent is an event of about 1 KiB for the profile's benchmark: the
// catalog's example of a type the profile's vendor has, its data padded.
func benchEvent(b *testing.B, p *dialect.Profile) schemas.Event {
	b.Helper()
	typ := map[string]string{"tartan": "employee.created", "bindbee": "employee.created", "trutac": "clocking.created",
		"teal": "payroll.submitted"}[p.Name]
	ev := exampleEvent(b, typ)
	var data map[string]any
	require.NoError(b, json.Unmarshal(ev.Data, &data))
	for len(schemas.AppendJSON(nil, &ev, true)) < 1024 {
		switch recs := data["records"].(type) {
		case []any:
			data["records"] = append(recs, recs[0])
		default:
			data["note"] = string(make([]byte, 1024-len(schemas.AppendJSON(nil, &ev, true))))
		}
		raw, err := json.Marshal(data)
		require.NoError(b, err)
		ev.Data = raw
	}
	return ev
}

// BenchmarkProfileRun is one run of each profile's program on a 1 KiB
// event: what an event costs once, however many webhooks share the profile.
func BenchmarkProfileRun(b *testing.B) {
	for _, p := range dialect.Profiles() {
		b.Run(p.Name, func(b *testing.B) {
			prog, err := dialect.Compile(dialect.KindTransform, p.Transform)
			require.NoError(b, err)
			ev := benchEvent(b, p)
			body := schemas.AppendJSON(nil, &ev, true)
			b.SetBytes(int64(len(body)))
			in := inputFor("wh_1")
			in.Webhook.IncludePayload = true
			b.ReportAllocs()
			for b.Loop() {
				decoded, err := dialect.DecodeEvent(body)
				if err != nil {
					b.Fatal(err)
				}
				in.Event = decoded
				if _, err := prog.Transform(context.Background(), &in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProfileDelivery is each further delivery of an event already
// rendered: the per-event output taken from the renderer and the
// delivery's own values filled in.
func BenchmarkProfileDelivery(b *testing.B) {
	for _, p := range dialect.Profiles() {
		b.Run(p.Name, func(b *testing.B) {
			prog, err := dialect.Compile(dialect.KindTransform, p.Transform)
			require.NoError(b, err)
			ev := benchEvent(b, p)
			src := dialect.Source{Seq: 1, Body: schemas.AppendJSON(nil, &ev, true)}
			r := dialect.NewRenderer(dialect.DefaultRendererBytes)
			in := inputFor("wh_1")
			in.Webhook.IncludePayload = true
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(context.Background(), prog, src, in, nil, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompilerFor is the lookup every delivery makes of its webhook's
// compiled dialect.
func BenchmarkCompilerFor(b *testing.B) {
	c := dialect.NewCompiler()
	w := &schemas.Webhook{ID: "wh_1", TenantID: "t", Profile: "tartan"}
	c.For(w)
	b.ReportAllocs()
	for b.Loop() {
		if c.For(w).Transform == nil {
			b.Fatal("no transform")
		}
	}
}
