package schemas

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompactData(t *testing.T) {
	ev := &Event{Data: json.RawMessage("{ \"a\" : [1, 2],\n\t\"b\":\"x y\" }")}
	require.NoError(t, CompactData(ev))
	require.Equal(t, `{"a":[1,2],"b":"x y"}`, string(ev.Data))

	compact := json.RawMessage(`{"a":"say \"hi there\"\\","b":{"c":"\t"}}`)
	ev = &Event{Data: compact}
	require.NoError(t, CompactData(ev))
	require.Same(t, &compact[0], &ev.Data[0], "compact data is left alone")

	var ve *ValidationError
	require.ErrorAs(t, CompactData(&Event{Data: json.RawMessage(`{"a": }`)}), &ve)
	require.Equal(t, "data", ve.Field)
}

// FuzzIsCompact holds isCompact to json.Compact: valid JSON is compact
// exactly when Compact leaves it unchanged.
func FuzzIsCompact(f *testing.F) {
	for _, s := range []string{`{}`, `{ }`, `{"a":"b c"}`, `{"a":"\" "}`, `{"a":"\\"} `, `[1, 2]`, "\"\\u0020\"\n", `{"a":"\\\" x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var buf bytes.Buffer
		require.NoError(t, json.Compact(&buf, data))
		require.Equal(t, bytes.Equal(buf.Bytes(), data), isCompact(data), "%q", data)
	})
}
