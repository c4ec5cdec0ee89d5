package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/hookstream/hookstream/scheduler"
)

// replayFlags are the end-of-day replay's flags, shared by `dev` and
// `scheduler`.
type replayFlags struct {
	at, tz    string
	retention time.Duration
}

func (r *replayFlags) register(f *flags) {
	f.str(&r.at, "replay-at", "HOOKSTREAM_REPLAY_AT", scheduler.DefaultAt, "local time of the end-of-day replay of dead letters, HH:MM")
	f.str(&r.tz, "replay-tz", "HOOKSTREAM_REPLAY_TZ", "UTC", "time zone of --replay-at, an IANA name such as Europe/Berlin")
	f.duration(&r.retention, "dead-letter-retention", "HOOKSTREAM_DEAD_LETTER_RETENTION", scheduler.DefaultRetention,
		"how long dead letters wait for a replay; each run removes older ones, with an audit record")
}

// config checks the flags and returns the scheduler's configuration.
func (r *replayFlags) config() (scheduler.Config, error) {
	if _, err := scheduler.ParseTimeOfDay(r.at); err != nil {
		return scheduler.Config{}, fmt.Errorf("--replay-at %q: want HH:MM between 00:00 and 23:59", r.at)
	}
	loc, err := time.LoadLocation(r.tz)
	if err != nil || r.tz == "" || r.tz == "Local" {
		return scheduler.Config{}, fmt.Errorf("--replay-tz %q: want an IANA time zone such as UTC or Europe/Berlin", r.tz)
	}
	if r.retention < time.Hour {
		return scheduler.Config{}, fmt.Errorf("--dead-letter-retention %s: want an hour or more", r.retention)
	}
	return scheduler.Config{At: r.at, Location: loc, Retention: r.retention}, nil
}

// describe says when replays run, for banners.
func (r *replayFlags) describe(next time.Time) string {
	return fmt.Sprintf("daily at %s %s (next %s), dead letters kept %s", r.at, r.tz, next.Format(time.RFC3339), shortDuration(r.retention))
}

// shortDuration drops the zero minutes and seconds of whole hours: 168h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if d%time.Hour == 0 {
		s = strings.TrimSuffix(s, "0m0s")
	}
	return s
}
