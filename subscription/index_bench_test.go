package subscription

import (
	"fmt"
	"testing"

	"github.com/hookstream/hookstream/schemas"
)

// BenchmarkMatch matches one event against 10,000 subscriptions spread over
// 100 tenants: a quarter on "*", a quarter on "sync.*", the rest exact types.
func BenchmarkMatch(b *testing.B) {
	types := []string{"sync.started", "sync.completed", "employee.created", "employee.updated", "payroll.submitted"}
	all := map[string]*schemas.Webhook{}
	for i := range 10_000 {
		w := &schemas.Webhook{ID: fmt.Sprintf("w%d", i), TenantID: fmt.Sprintf("t%d", i%100), Enabled: true}
		switch i % 4 {
		case 0:
			w.Events = []string{"*"}
		case 1:
			w.Events = []string{"sync.*"}
		default:
			w.Events = []string{types[i%len(types)]}
		}
		if i%10 == 0 {
			w.OrgIDs = []string{"org_a", "org_b"}
		}
		all[key(w.TenantID, w.ID)] = w
	}
	ix := &Index{}
	ix.snap.Store(buildSnapshot(all))
	dst := make([]*schemas.Webhook, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		dst = ix.Match(dst[:0], "t7", types[i%len(types)], "org_c")
		n += len(dst)
	}
	if n == 0 {
		b.Fatal("no matches")
	}
}
