package scheduler

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultAt is the default local time of the end-of-day replay.
const DefaultAt = "23:59"

// TimeOfDay is a wall-clock time: hours 0–23 and minutes 0–59.
type TimeOfDay struct{ Hour, Minute int }

// ParseTimeOfDay reads "HH:MM" (24-hour clock; "9:05" is accepted too).
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	h, herr := strconv.Atoi(hh)
	m, merr := strconv.Atoi(mm)
	if !ok || herr != nil || merr != nil || len(hh) > 2 || len(mm) != 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return TimeOfDay{}, fmt.Errorf("scheduler: time of day %q: want HH:MM between 00:00 and 23:59", s)
	}
	return TimeOfDay{Hour: h, Minute: m}, nil
}

// String returns "HH:MM".
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// NextRun returns the first end-of-day run strictly after now: the next
// time the clocks in loc show at. Every calendar day in loc has exactly one
// run: on a day when at occurs twice (the hour repeated when daylight saving
// time ends) the run happens once, and on a day when at does not exist (the
// hour skipped when it starts) the run is an hour off, where time.Date puts
// that wall time.
func NextRun(now time.Time, at TimeOfDay, loc *time.Location) time.Time {
	return nextSlot(now, at, loc).at
}

// PrevRun returns the latest end-of-day run at or before now.
func PrevRun(now time.Time, at TimeOfDay, loc *time.Location) time.Time {
	return prevSlot(now, at, loc).at
}

// slot is one scheduled run: its id is the calendar date in the zone.
type slot struct {
	id string
	at time.Time
}

// slotOn returns the run on the day that is days after (or before) the
// calendar day of t in loc.
func slotOn(t time.Time, days int, at TimeOfDay, loc *time.Location) slot {
	y, m, d := t.In(loc).Date()
	// Noon never falls in a daylight-saving transition: it names the day.
	y, m, d = time.Date(y, m, d+days, 12, 0, 0, 0, loc).Date()
	return slot{
		id: fmt.Sprintf("%04d-%02d-%02d", y, m, d),
		at: time.Date(y, m, d, at.Hour, at.Minute, 0, 0, loc),
	}
}

// nextSlot and prevSlot start a day early (late): where a daylight-saving
// transition is at midnight, a day's run can fall on the day before.

func nextSlot(now time.Time, at TimeOfDay, loc *time.Location) slot {
	for days := -1; ; days++ {
		if s := slotOn(now, days, at, loc); s.at.After(now) {
			return s
		}
	}
}

func prevSlot(now time.Time, at TimeOfDay, loc *time.Location) slot {
	for days := 1; ; days-- {
		if s := slotOn(now, days, at, loc); !s.at.After(now) {
			return s
		}
	}
}
