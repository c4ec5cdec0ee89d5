package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/hookstream/hookstream/scheduler"
)

// replayFlags are the end-of-day replay's flags, for the commands that run
// the scheduler or answer next_replay_at (dev, api, scheduler). The
// dead-letter retention is a topology flag (topoFlags), which every role
// declares alike.
type replayFlags struct {
	at, tz string
}

func (r *replayFlags) register(f *flags) {
	f.str(&r.at, "replay-at", "HOOKSTREAM_REPLAY_AT", scheduler.DefaultAt, "local time of the end-of-day replay of dead letters, HH:MM")
	f.str(&r.tz, "replay-tz", "HOOKSTREAM_REPLAY_TZ", "UTC", "time zone of --replay-at, an IANA name such as Europe/Berlin")
}

// config checks the flags and returns the scheduler's configuration.
func (r *replayFlags) config(retention time.Duration) (scheduler.Config, error) {
	if _, err := scheduler.ParseTimeOfDay(r.at); err != nil {
		return scheduler.Config{}, fmt.Errorf("--replay-at %q: want HH:MM between 00:00 and 23:59", r.at)
	}
	loc, err := time.LoadLocation(r.tz)
	if err != nil || r.tz == "" || r.tz == "Local" {
		return scheduler.Config{}, fmt.Errorf("--replay-tz %q: want an IANA time zone such as UTC or Europe/Berlin", r.tz)
	}
	return scheduler.Config{At: r.at, Location: loc, Retention: retention}, nil
}

// describe says when replays run, for banners.
func (r *replayFlags) describe(next time.Time, retention time.Duration) string {
	return fmt.Sprintf("daily at %s %s (next %s), dead letters kept %s", r.at, r.tz, next.Format(time.RFC3339), shortDuration(retention))
}

// shortDuration drops the zero minutes and seconds of whole hours: 168h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if d%time.Hour == 0 {
		s = strings.TrimSuffix(s, "0m0s")
	}
	return s
}
