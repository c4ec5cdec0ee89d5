package dialect

import (
	"sync"
	"time"
)

// Budget shares the time programs take in a process among tenants, so that
// one tenant's slow filters or transforms cannot take the router's or the
// senders' time from the others: each tenant may run programs for Rate of
// every second, saving up at most Burst. A tenant over its budget waits
// (its transforms) or is told no (its filters) until it has saved up again.
// It is safe for concurrent use.
type Budget struct {
	rate  float64 // seconds of run time per second
	burst time.Duration
	now   func() time.Time

	mu      sync.Mutex
	tenants map[string]*account
}

type account struct {
	left time.Duration // may go below zero: a run is charged after it ends
	at   time.Time
}

// Budget defaults: a quarter of a core per tenant, in bursts of at most
// two seconds.
const (
	DefaultBudgetRate  = 0.25
	DefaultBudgetBurst = 2 * time.Second
)

// maxAccounts bounds the accounts kept; full ones (idle tenants) go first.
const maxAccounts = 10000

// NewBudget returns a Budget; zero values mean the defaults, now nil means
// time.Now.
func NewBudget(rate float64, burst time.Duration, now func() time.Time) *Budget {
	if rate <= 0 {
		rate = DefaultBudgetRate
	}
	if burst <= 0 {
		burst = DefaultBudgetBurst
	}
	if now == nil {
		now = time.Now
	}
	return &Budget{rate: rate, burst: burst, now: now, tenants: map[string]*account{}}
}

// Allow reports whether tenant may run a program now, and if not, how long
// until it may.
func (b *Budget) Allow(tenant string) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.account(tenant)
	if a.left > 0 {
		return true, 0
	}
	return false, time.Duration(float64(-a.left)/b.rate) + time.Millisecond
}

// Charge takes d of run time from tenant's budget.
func (b *Budget) Charge(tenant string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.account(tenant).left -= d
}

// account returns tenant's account, refilled up to now. The caller holds mu.
func (b *Budget) account(tenant string) *account {
	now := b.now()
	a, ok := b.tenants[tenant]
	if !ok {
		if len(b.tenants) >= maxAccounts {
			b.sweep(now)
		}
		a = &account{left: b.burst, at: now}
		b.tenants[tenant] = a
		return a
	}
	if elapsed := now.Sub(a.at); elapsed > 0 {
		a.left = min(b.burst, a.left+time.Duration(float64(elapsed)*b.rate))
		a.at = now
	}
	return a
}

// sweep drops the accounts that have saved up their whole burst: a new
// account starts full, so nothing is lost.
func (b *Budget) sweep(now time.Time) {
	for t, a := range b.tenants {
		if a.left+time.Duration(float64(now.Sub(a.at))*b.rate) >= b.burst {
			delete(b.tenants, t)
		}
	}
}
