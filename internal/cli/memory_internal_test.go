package cli

import (
	"bytes"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemoryLimit: --memory-limit sets the runtime's soft memory limit from a
// size, lifts it with off, and with auto leaves a GOMEMLIMIT in force. Not
// parallel: the limit is the process's.
func TestMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	for value, want := range map[string]int64{"256MiB": 256 << 20, "1 GiB": 1 << 30, "300mb": 300_000_000} {
		logs.Reset()
		m := memoryFlags{limit: value}
		require.NoError(t, m.apply(logger), value)
		require.Equal(t, want, debug.SetMemoryLimit(-1), value)
		require.Contains(t, logs.String(), "soft memory limit", value)
	}

	logs.Reset()
	require.NoError(t, (&memoryFlags{limit: "off"}).apply(logger))
	require.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1))
	require.Empty(t, logs.String(), "no limit, nothing to say")

	// auto keeps what GOMEMLIMIT set when the process started.
	t.Setenv("GOMEMLIMIT", "200MiB")
	debug.SetMemoryLimit(200 << 20)
	limit, from, err := setMemoryLimit("auto")
	require.NoError(t, err)
	require.Equal(t, int64(200<<20), limit)
	require.Equal(t, "GOMEMLIMIT", from)

	for _, bad := range []string{"banana", "12", "1MiB", "-5GiB", "99999999999999999999999"} {
		_, err := parseMemoryLimit(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, int64(200<<20), debug.SetMemoryLimit(-1), "a refused value changes nothing")
}
