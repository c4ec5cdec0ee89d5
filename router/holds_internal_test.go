package router

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHoldsSpreadTheirEndAndLift(t *testing.T) {
	t.Parallel()
	var h holds
	now := time.Now()
	h.set("t1.wh_1", now.Add(10*time.Second))
	h.set("t1.wh_2", now.Add(500*time.Millisecond))
	h.set("nodot", now.Add(time.Hour))
	for range 100 {
		at, ok := h.until("t1", "wh_1", now)
		require.True(t, ok)
		require.False(t, at.Before(now.Add(10*time.Second)))
		require.True(t, at.Before(now.Add(15*time.Second)), "spread over half the hold again")
	}
	_, ok := h.until("t1", "wh_2", now)
	require.False(t, ok, "under a second: the senders' consumer waits it out")
	_, ok = h.until("t2", "wh_1", now)
	require.False(t, ok, "per tenant")
	h.set("t1.wh_1", time.Time{})
	_, ok = h.until("t1", "wh_1", now)
	require.False(t, ok, "lifted")
	h.set("t1.wh_2", time.Time{})
	require.Empty(t, h.m, "nothing left behind")
}
