package sender

import (
	"sync/atomic"
	"time"

	"github.com/hookstream/hookstream/schemas"
)

// StatusClasses name the outcome classes Stats counts attempts by.
var StatusClasses = [...]string{"2xx", "3xx", "4xx", "5xx", "error"}

func classOf(res *Result) int {
	switch {
	case res.Outcome == schemas.OutcomeError || res.StatusCode == 0:
		return 4
	case res.StatusCode < 300:
		return 0
	case res.StatusCode < 400:
		return 1
	case res.StatusCode < 500:
		return 2
	}
	return 3
}

// LatencyBuckets are the upper bounds, in seconds, of the attempt latency
// histogram.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// histogram is a fixed-bucket latency histogram with lock-free updates.
type histogram struct {
	counts [12]atomic.Uint64 // one per bucket, then +Inf
	sumNS  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNS.Add(int64(d))
}

// Latency is a snapshot of the attempt latency histogram: Counts[i] attempts
// took at most LatencyBuckets[i] (not cumulative); the last count is the
// rest.
type Latency struct {
	Counts []uint64
	Sum    time.Duration
}

// Latency returns the attempt latency histogram.
func (s *Sender) Latency() Latency {
	l := Latency{Counts: make([]uint64, len(s.latency.counts)), Sum: time.Duration(s.latency.sumNS.Load())}
	for i := range s.latency.counts {
		l.Counts[i] = s.latency.counts[i].Load()
	}
	return l
}
