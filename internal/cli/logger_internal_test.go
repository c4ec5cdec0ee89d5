package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

// Every role's log lines about an event carry its trace and span ids, in
// both formats.
func TestLogLinesCarryTraceIDs(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	})
	ctx := trace.ContextWithSpanContext(t.Context(), sc)
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		l, err := newLogger(&buf, format, "info")
		require.NoError(t, err)
		l.InfoContext(ctx, "delivery dead-lettered", "delivery_id", "d1")
		l.Info("no event here")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		require.Len(t, lines, 2)
		require.Contains(t, lines[0], "4bf92f3577b34da6a3ce929d0e0e4736", format)
		require.Contains(t, lines[0], "00f067aa0ba902b7", format)
		require.NotContains(t, lines[1], "trace_id", format)
		if format == "json" {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &m))
			require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", m["trace_id"])
			require.Equal(t, "00f067aa0ba902b7", m["span_id"])
		}
	}
}
