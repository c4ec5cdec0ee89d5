package sender

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// StatsInterval is how often a sender writes each active tenant's delivery
// counts to the STATS stream by default, and the interval the live view
// adds them up by.
const StatsInterval = broker.StatsInterval

// tenantCounts are one tenant's counts since the last flush.
type tenantCounts struct {
	byClass             [len(StatusClasses)]atomic.Uint64
	retried, deadLetter atomic.Uint64
}

// tenantStats keeps per-tenant counts for the console's live view; a lookup
// is a read lock and an atomic add, a new tenant a write lock.
type tenantStats struct {
	mu sync.RWMutex
	m  map[string]*tenantCounts
}

func (ts *tenantStats) of(tenantID string) *tenantCounts {
	ts.mu.RLock()
	c := ts.m[tenantID]
	ts.mu.RUnlock()
	if c != nil {
		return c
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m == nil {
		ts.m = map[string]*tenantCounts{}
	}
	if c = ts.m[tenantID]; c == nil {
		c = &tenantCounts{}
		ts.m[tenantID] = c
	}
	return c
}

// flush takes the counts since the last flush, for tenants with any.
func (ts *tenantStats) flush(start time.Time, seconds int) []schemas.DeliveryStats {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	var out []schemas.DeliveryStats
	for tenant, c := range ts.m {
		st := schemas.DeliveryStats{TenantID: tenant, Start: start.UTC(), Seconds: seconds, Attempts: map[string]uint64{}}
		var any uint64
		for i, class := range StatusClasses {
			if n := c.byClass[i].Swap(0); n > 0 {
				st.Attempts[class] = n
				any += n
			}
		}
		st.Retried, st.DeadLettered = c.retried.Swap(0), c.deadLetter.Swap(0)
		if any+st.Retried+st.DeadLettered > 0 {
			out = append(out, st)
		}
	}
	return out
}

// writeStats writes the counts every StatsInterval until stop is closed, and
// once more then.
func (s *Sender) writeStats(stop <-chan struct{}) {
	t := time.NewTicker(s.statsInterval)
	defer t.Stop()
	start := s.now()
	for {
		final := false
		select {
		case <-t.C:
		case <-stop:
			final = true
		}
		now := s.now()
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		for _, st := range s.tstats.flush(start, int(now.Sub(start).Round(time.Second).Seconds())) {
			data, err := schemas.Marshal(nil, &st)
			if err == nil {
				_, err = s.js.PublishMsg(ctx, &nats.Msg{Subject: broker.StatsSubject(st.TenantID), Data: data})
			}
			if err != nil {
				s.logger.Warn("delivery stats not written", "tenant", st.TenantID, "err", err)
			}
		}
		cancel()
		start = now
		if final {
			return
		}
	}
}
