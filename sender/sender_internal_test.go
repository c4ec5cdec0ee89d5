package sender

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffFollowsScheduleWithJitter(t *testing.T) {
	t.Parallel()
	schedule := []time.Duration{time.Second, 10 * time.Second, time.Minute}
	cases := []struct {
		attempt int
		base    time.Duration
	}{{1, time.Second}, {2, 10 * time.Second}, {3, time.Minute}, {9, time.Minute}}
	for _, tc := range cases {
		for range 200 {
			d := backoff(schedule, tc.attempt)
			require.GreaterOrEqual(t, d, tc.base*8/10, "attempt %d", tc.attempt)
			require.LessOrEqual(t, d, tc.base*12/10, "attempt %d", tc.attempt)
		}
	}
	require.Zero(t, backoff([]time.Duration{0}, 1))
}

func TestNewRequiresJSAndWebhooks(t *testing.T) {
	t.Parallel()
	_, err := New(Config{JS: nil})
	require.Error(t, err)
}
