package sender

import (
	"fmt"
	"strings"
	"time"
)

// ParseRetrySchedule reads a retry schedule written as --retry-schedule
// and a webhook's retry_schedule take it: waits separated by commas, such
// as "5s,5m,30m". An empty string is no schedule (nil).
func ParseRetrySchedule(s string) ([]time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("sender: retry schedule: %q is not a duration like 5s or 10m", strings.TrimSpace(part))
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatRetrySchedule writes a schedule as ParseRetrySchedule reads it,
// each wait in its shortest form ("2m", not "2m0s").
func FormatRetrySchedule(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		parts[i] = s
	}
	return strings.Join(parts, ",")
}
