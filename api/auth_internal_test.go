package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenCacheIsBoundedAndExpires(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	c := newTokenCache(3, time.Second)
	for i := range 10 {
		c.put(fmt.Sprint("h", i), "t", now)
		require.LessOrEqual(t, len(c.entries), 3)
	}
	id, ok := c.get("h9", now)
	require.True(t, ok, "the newest entry is kept")
	require.Equal(t, "t", id)
	_, ok = c.get("h9", now.Add(time.Second))
	require.False(t, ok, "expired")

	c.put("a", "t1", now)
	c.put("b", "t2", now)
	c.forgetTenant("t1")
	_, ok = c.get("a", now)
	require.False(t, ok)
	_, ok = c.get("b", now)
	require.True(t, ok)
}

func TestNewTokenShape(t *testing.T) {
	t.Parallel()
	a, b := newToken(), newToken()
	require.NotEqual(t, a, b)
	require.Regexp(t, `^hs_[A-Za-z0-9_-]{43}$`, a)
	require.Len(t, tokenHash(a), 64)
}
