package sender

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffFollowsScheduleWithJitter(t *testing.T) {
	t.Parallel()
	s := &Sender{schedule: []time.Duration{time.Second, 10 * time.Second, time.Minute}}
	cases := []struct {
		attempt int
		base    time.Duration
	}{{1, time.Second}, {2, 10 * time.Second}, {3, time.Minute}, {9, time.Minute}}
	for _, tc := range cases {
		for range 200 {
			d := s.backoff(tc.attempt)
			require.GreaterOrEqual(t, d, tc.base*8/10, "attempt %d", tc.attempt)
			require.LessOrEqual(t, d, tc.base*12/10, "attempt %d", tc.attempt)
		}
	}
	require.Zero(t, (&Sender{schedule: []time.Duration{0}}).backoff(1))
}

func TestNewRequiresJSAndWebhooks(t *testing.T) {
	t.Parallel()
	_, err := New(Config{JS: nil})
	require.Error(t, err)
}
