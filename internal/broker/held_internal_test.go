package broker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A webhook's held deliveries share one open batch until it is full or
// taken; a full one is handed back for publishing and the next opens anew.
// A batch is due when its last delivery is, and has waited since its
// oldest did.
func TestHeldDeliveriesShareABatchUntilFullOrTaken(t *testing.T) {
	t.Parallel()
	var hb HeldBatches
	now := time.Now()
	entry := func(webhookID, id string, at time.Time, data []byte) HeldEntry {
		return HeldEntry{TenantID: "t1", WebhookID: webhookID, ID: id, At: at, Since: now, Data: data}
	}
	first, full := hb.Add(entry("wh_0", "d0", now.Add(time.Minute), []byte{1}))
	require.False(t, full)
	for i := 1; i < maxHeldBatch-1; i++ {
		e := entry("wh_0", "dx", now.Add(time.Duration(i)*time.Millisecond), []byte{1})
		if i == 7 {
			e.At, e.Since = now.Add(2*time.Minute), now.Add(-time.Hour)
		}
		b, full := hb.Add(e)
		require.Same(t, first, b)
		require.False(t, full)
	}
	other, _ := hb.Add(entry("wh_1", "o0", now, []byte{1}))
	require.NotSame(t, first, other, "one batch per webhook")
	b, full := hb.Add(entry("wh_0", "dy", now, []byte{1}))
	require.Same(t, first, b)
	require.True(t, full, "full at maxHeldBatch")
	require.Equal(t, maxHeldBatch, first.n)
	require.Equal(t, now.Add(2*time.Minute), first.at, "due when its last delivery is")
	require.Equal(t, now.Add(-time.Hour), first.since, "waiting since its oldest delivery")
	require.Equal(t, "d0", first.first)
	require.Equal(t, "wh_0", first.WebhookID())
	require.False(t, hb.take(first), "a full batch is already taken")

	next, _ := hb.Add(entry("wh_0", "dz", now, make([]byte, maxHeldBytes)))
	require.NotSame(t, first, next)
	require.Equal(t, 1, next.n)
	require.False(t, hb.take(next), "full by its size")
	third, _ := hb.Add(entry("wh_0", "dw", now, []byte{1}))
	require.True(t, hb.take(third))
	require.False(t, hb.take(third), "taken once")
	require.True(t, hb.take(other))
}

// A delivery larger than maxHeldEntry does not go into a batch.
func TestAppendHeldEntryLeavesLargeDeliveriesAlone(t *testing.T) {
	t.Parallel()
	buf, ok := AppendHeldEntry([]byte{9}, &HeldDelivery{ID: "d1", Data: make([]byte, maxHeldEntry+1)})
	require.False(t, ok)
	require.Equal(t, []byte{9}, buf, "left as it was")
	buf, ok = AppendHeldEntry(buf, &HeldDelivery{ID: "d1", Data: make([]byte, maxHeldEntry)})
	require.True(t, ok)
	ds, err := DecodeHeld(HeldBatchBody(1, buf[1:]), 1)
	require.NoError(t, err)
	require.Equal(t, "d1", ds[0].ID)
}
