package router

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A webhook's held deliveries share one open batch until it is full or
// taken; a full one is handed back for publishing and the next opens anew.
func TestHeldDeliveriesShareABatchUntilFullOrTaken(t *testing.T) {
	t.Parallel()
	var hb heldBatches
	now := time.Now()
	key := heldKey{"t1", "wh_0"}
	first, full := hb.add(heldEntry{key: key, at: now.Add(time.Minute), id: "d0", data: []byte{1}}, now)
	require.False(t, full)
	for i := 1; i < maxHeldBatch-1; i++ {
		b, full := hb.add(heldEntry{key: key, at: now.Add(2 * time.Minute), id: "dx", data: []byte{1}}, now)
		require.Same(t, first, b)
		require.False(t, full)
	}
	other, _ := hb.add(heldEntry{key: heldKey{"t1", "wh_1"}, at: now, id: "o0", data: []byte{1}}, now)
	require.NotSame(t, first, other, "one batch per webhook")
	b, full := hb.add(heldEntry{key: key, at: now, id: "dy", data: []byte{1}}, now)
	require.Same(t, first, b)
	require.True(t, full, "full at maxHeldBatch")
	require.Equal(t, maxHeldBatch, first.n)
	require.Equal(t, now.Add(time.Minute), first.at, "due when its first delivery is")
	require.Equal(t, "d0", first.first)
	require.False(t, hb.take(first), "a full batch is already taken")

	next, _ := hb.add(heldEntry{key: key, at: now, id: "dz", data: make([]byte, maxHeldBytes)}, now)
	require.NotSame(t, first, next)
	require.Equal(t, 1, next.n)
	require.False(t, hb.take(next), "full by its size")
	third, _ := hb.add(heldEntry{key: key, at: now, id: "dw", data: []byte{1}}, now)
	require.True(t, hb.take(third))
	require.False(t, hb.take(third), "taken once")
	require.True(t, hb.take(other))
}
