package schemas_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hookstream/hookstream/schemas"
)

func TestCodecRoundTrips(t *testing.T) {
	t.Parallel()
	ev := exampleEvent(t, schemas.TypeEmployeeCreated)
	d := schemas.Delivery{ID: "evt_1:wh_1", EventID: "evt_1", EventType: "sync.started", TenantID: "acme",
		OrgID: "org_42", WebhookID: "wh_1", CreatedAt: at, Replays: 2, Payload: []byte(`{"a":1}`)}
	a := schemas.Attempt{DeliveryID: d.ID, EventID: "evt_1", EventType: "sync.started", TenantID: "acme", WebhookID: "wh_1",
		Attempt: 3, URL: "https://example.com/h", Outcome: schemas.OutcomeFailed, StatusCode: 503,
		Latency: 1500 * time.Microsecond, Error: "", Response: "busy", At: at, Final: true}
	dl := schemas.DeadLetter{Delivery: d, Reason: "gave up after 5 attempts: HTTP 503", Attempts: 5, LastStatus: 503, At: at}
	wh := schemas.Webhook{ID: "wh_1", TenantID: "acme", Name: "n", URL: "https://example.com", Events: []string{"sync.*"},
		OrgIDs: []string{"o"}, Secrets: []schemas.Secret{{Value: "whsec_x"}, {Value: "whsec_y", ExpiresAt: at}},
		IncludePayload: true, Enabled: true, CreatedAt: at, UpdatedAt: at}

	for _, v := range []any{&ev, &d, &a, &dl, &wh} {
		buf, err := schemas.Marshal(nil, v)
		require.NoError(t, err)
		back := newOf(v)
		require.NoError(t, schemas.Unmarshal(buf, back))
		require.Equal(t, v, back)
	}
}

func newOf(v any) any {
	switch v.(type) {
	case *schemas.Event:
		return new(schemas.Event)
	case *schemas.Delivery:
		return new(schemas.Delivery)
	case *schemas.Attempt:
		return new(schemas.Attempt)
	case *schemas.DeadLetter:
		return new(schemas.DeadLetter)
	case *schemas.Webhook:
		return new(schemas.Webhook)
	}
	panic("unknown type")
}

// TestCodecCompressesLargeData: an event's data of CompressMin bytes or more
// travels S2-compressed inside NATS (data_s2); smaller data, and events
// written with plain data by older versions or other producers, decode as
// before.
func TestCodecCompressesLargeData(t *testing.T) {
	t.Parallel()
	page := make([]byte, 0, 2048)
	page = append(page, `{"records":[`...)
	for i := range 12 {
		if i > 0 {
			page = append(page, ',')
		}
		page = append(page, `{"id":"emp_`+string(rune('a'+i))+`","first_name":"Asha","department":"Platform Engineering"}`...)
	}
	page = append(page, `]}`...)
	ev := schemas.Event{ID: "evt_1", Type: schemas.TypeEmployeeUpdated, TenantID: "acme", OrgID: "org_42", OccurredAt: at, Data: page}
	small := schemas.Event{ID: "evt_2", Type: schemas.TypeSyncStarted, TenantID: "acme", OrgID: "o", OccurredAt: at, Data: []byte(`{"a":1}`)}

	fields := func(buf []byte) map[string]any {
		var m map[string]any
		require.NoError(t, msgpack.Unmarshal(buf, &m))
		return m
	}
	for _, tc := range []struct {
		ev         *schemas.Event
		compressed bool
	}{{&ev, true}, {&small, false}} {
		buf, err := schemas.Marshal(nil, tc.ev)
		require.NoError(t, err)
		m := fields(buf)
		if tc.compressed {
			require.NotContains(t, m, "data")
			require.Less(t, len(m["data_s2"].([]byte)), len(page)/2)
			require.Less(t, len(buf), len(page))
		} else {
			require.Contains(t, m, "data")
			require.NotContains(t, m, "data_s2")
		}
		var back schemas.Event
		require.NoError(t, schemas.Unmarshal(buf, &back))
		require.Equal(t, tc.ev, &back)
	}

	// Plain fields, as an older Hookstream or another producer writes them.
	old, err := msgpack.Marshal(map[string]any{"id": "evt_1", "type": ev.Type, "tenant_id": "acme", "org_id": "org_42",
		"occurred_at": at, "data": page})
	require.NoError(t, err)
	var evBack schemas.Event
	require.NoError(t, schemas.Unmarshal(old, &evBack))
	require.Equal(t, ev, evBack)

	// A corrupt compressed field is an error, not a panic or empty data.
	bad, err := msgpack.Marshal(map[string]any{"id": "evt_1", "data_s2": []byte("not s2 at all")})
	require.NoError(t, err)
	require.ErrorContains(t, schemas.Unmarshal(bad, &evBack), "data_s2")
}

func TestMarshalAppends(t *testing.T) {
	t.Parallel()
	ev := exampleEvent(t, schemas.TypeSyncStarted)
	buf, err := schemas.Marshal([]byte("prefix"), &ev)
	require.NoError(t, err)
	require.Equal(t, "prefix", string(buf[:6]))
	var back schemas.Event
	require.NoError(t, schemas.Unmarshal(buf[6:], &back))
	require.Equal(t, ev, back)
}

// A delivery-log message is one or more attempts back to back.
func TestUnmarshalAttempts(t *testing.T) {
	t.Parallel()
	var msg []byte
	for i := 1; i <= 3; i++ {
		var err error
		msg, err = schemas.Marshal(msg, &schemas.Attempt{DeliveryID: "d", Attempt: i, Outcome: schemas.OutcomeSuccess,
			At: time.Date(2024, 5, 1, 12, 0, i, 0, time.UTC)})
		require.NoError(t, err)
	}
	var got []int
	require.NoError(t, schemas.UnmarshalAttempts(msg, func(i int, a *schemas.Attempt) error {
		require.Equal(t, len(got), i)
		got = append(got, a.Attempt)
		return nil
	}))
	require.Equal(t, []int{1, 2, 3}, got)

	// fn's error stops the read and comes back as is.
	stop := errors.New("stop")
	n := 0
	require.ErrorIs(t, schemas.UnmarshalAttempts(msg, func(int, *schemas.Attempt) error { n++; return stop }), stop)
	require.Equal(t, 1, n)

	// Damage after the first attempt: what came before is read, then an error.
	got = got[:0]
	err := schemas.UnmarshalAttempts(append(msg[:len(msg)/3+1:len(msg)/3+1], 0xc1), func(_ int, a *schemas.Attempt) error {
		got = append(got, a.Attempt)
		return nil
	})
	require.Error(t, err)
	require.Equal(t, []int{1}, got)
	require.Error(t, schemas.UnmarshalAttempts(nil, func(int, *schemas.Attempt) error { return nil }), "empty")
}

func TestUnmarshalRefusesTrailingBytes(t *testing.T) {
	t.Parallel()
	ev := exampleEvent(t, schemas.TypeSyncStarted)
	buf, err := schemas.Marshal(nil, &ev)
	require.NoError(t, err)
	require.Error(t, schemas.Unmarshal(append(buf, 0xc0), &schemas.Event{}))
}

func TestDecodeEventByContentType(t *testing.T) {
	t.Parallel()
	ev := exampleEvent(t, schemas.TypeSyncStarted)
	js, err := json.Marshal(&ev)
	require.NoError(t, err)
	var fromJSON schemas.Event
	require.NoError(t, schemas.DecodeEvent(js, schemas.ContentTypeJSON, &fromJSON))
	require.Equal(t, ev, fromJSON)
	mp, err := schemas.Marshal(nil, &ev)
	require.NoError(t, err)
	var fromMsgpack schemas.Event
	require.NoError(t, schemas.DecodeEvent(mp, "", &fromMsgpack))
	require.Equal(t, ev, fromMsgpack)
	require.Error(t, schemas.DecodeEvent(js, "", &schemas.Event{}), "JSON without the header is not msgpack")
}

// FuzzEventCodec decodes arbitrary bytes as an event, msgpack and JSON; what
// decodes must survive a round trip through both codecs unchanged.
func FuzzEventCodec(f *testing.F) {
	for typ := range examples {
		data, _ := json.Marshal(examples[typ])
		ev := schemas.Event{ID: "evt_1", Type: typ, TenantID: "acme", OrgID: "o", OccurredAt: at, Data: data}
		mp, _ := schemas.Marshal(nil, &ev)
		f.Add(mp)
		f.Add(schemas.AppendJSON(nil, &ev, true))
	}
	f.Add([]byte{0xc1})
	f.Add([]byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var ev schemas.Event
		if err := schemas.Unmarshal(in, &ev); err == nil {
			roundTrip(t, ev)
		}
		var je schemas.Event
		if err := schemas.DecodeEvent(in, schemas.ContentTypeJSON, &je); err == nil {
			roundTrip(t, je)
		}
		_ = schemas.Validate(&ev) // never panics
	})
}

// roundTrip checks msgpack and, when the data is a JSON object, the
// receiver's JSON both give the event back.
func roundTrip(t *testing.T, ev schemas.Event) {
	t.Helper()
	buf, err := schemas.Marshal(nil, &ev)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	var back schemas.Event
	if err := schemas.Unmarshal(buf, &back); err != nil {
		t.Fatalf("decode own encoding: %v", err)
	}
	if !equalEvents(ev, back) {
		t.Fatalf("msgpack round trip changed the event:\n%+v\n%+v", ev, back)
	}
	if len(ev.Data) == 0 || !json.Valid(ev.Data) || ev.OccurredAt.Year() < 0 || ev.OccurredAt.Year() > 9999 ||
		!utf8.ValidString(ev.ID+ev.Type+ev.TenantID+ev.OrgID) {
		// AppendJSON writes Data verbatim, years as RFC 3339 allows, and
		// invalid UTF-8 as U+FFFD (JSON cannot carry it); Validate refuses
		// all of these before an event is ever rendered.
		return
	}
	var fromJSON schemas.Event
	if err := json.Unmarshal(schemas.AppendJSON(nil, &ev, true), &fromJSON); err != nil {
		t.Fatalf("AppendJSON produced invalid JSON: %v", err)
	}
	ev.Data = compact(ev.Data)
	fromJSON.Data = compact(fromJSON.Data)
	if !equalEvents(ev, fromJSON) {
		t.Fatalf("JSON round trip changed the event:\n%+v\n%+v", ev, fromJSON)
	}
}

func compact(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	var out []byte
	out, _ = json.Marshal(b) // json.RawMessage compacts
	return out
}

func equalEvents(a, b schemas.Event) bool {
	return a.ID == b.ID && a.Type == b.Type && a.TenantID == b.TenantID && a.OrgID == b.OrgID &&
		a.OccurredAt.Equal(b.OccurredAt) && string(compact(a.Data)) == string(compact(b.Data))
}

func BenchmarkCodec(b *testing.B) {
	data, _ := json.Marshal(examples[schemas.TypeEmployeeCreated])
	ev := schemas.Event{ID: "evt_0190f1a2b3c4", Type: schemas.TypeEmployeeCreated, TenantID: "acme", OrgID: "org_42", OccurredAt: at, Data: data}
	b.Run("msgpack-encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			buf, _ = schemas.Marshal(buf[:0], &ev)
		}
	})
	enc, _ := schemas.Marshal(nil, &ev)
	b.Run("msgpack-decode", func(b *testing.B) {
		b.ReportAllocs()
		var out schemas.Event
		for b.Loop() {
			_ = schemas.Unmarshal(enc, &out)
		}
	})
	b.Run("json-render", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			buf = schemas.AppendJSON(buf[:0], &ev, true)
		}
	})
}
