package scheduler_test

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/scheduler"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestParseTimeOfDay(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]scheduler.TimeOfDay{
		"23:59": {23, 59}, "00:00": {0, 0}, "9:05": {9, 5}, " 07:30 ": {7, 30},
	} {
		got, err := scheduler.ParseTimeOfDay(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	require.Equal(t, "09:05", scheduler.TimeOfDay{Hour: 9, Minute: 5}.String())
	for _, bad := range []string{"", "24:00", "23:60", "2359", "23:5", "-1:00", "12:00:00", "noon", "123:00", "1:2a"} {
		_, err := scheduler.ParseTimeOfDay(bad)
		require.Error(t, err, bad)
	}
}

// TestNextRun holds the schedule to known answers across zones and the
// days daylight saving time starts and ends.
func TestNextRun(t *testing.T) {
	t.Parallel()
	at := func(s string) scheduler.TimeOfDay {
		tod, err := scheduler.ParseTimeOfDay(s)
		require.NoError(t, err)
		return tod
	}
	rfc := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return ts
	}
	for _, tc := range []struct {
		name, zone, at  string
		now, next, prev string
	}{
		{"UTC, later today", "UTC", "23:59", "2026-11-24T10:00:00Z", "2026-11-24T23:59:00Z", "2026-11-23T23:59:00Z"},
		{"UTC, at the run: the next is tomorrow", "UTC", "23:59", "2026-11-24T23:59:00Z", "2026-11-25T23:59:00Z", "2026-11-24T23:59:00Z"},
		{"UTC, just after", "UTC", "23:59", "2026-11-24T23:59:00.000000001Z", "2026-11-25T23:59:00Z", "2026-11-24T23:59:00Z"},
		{"Berlin: already tomorrow there", "Europe/Berlin", "23:59", "2026-11-24T23:30:00Z", "2026-11-25T23:59:00+01:00", "2026-11-24T23:59:00+01:00"},
		{"Berlin in summer", "Europe/Berlin", "23:59", "2026-07-01T12:00:00Z", "2026-07-01T23:59:00+02:00", "2026-06-30T23:59:00+02:00"},
		{"Kolkata, half-hour offset", "Asia/Kolkata", "00:00", "2026-11-24T18:29:00Z", "2026-11-25T00:00:00+05:30", "2026-11-24T00:00:00+05:30"},
		{"Auckland, across the date line", "Pacific/Auckland", "23:59", "2026-11-24T12:00:00Z", "2026-11-25T23:59:00+13:00", "2026-11-24T23:59:00+13:00"},
		{"New York, the day DST starts", "America/New_York", "23:59", "2026-03-08T12:00:00Z", "2026-03-08T23:59:00-04:00", "2026-03-07T23:59:00-05:00"},
		{"New York, the day DST ends", "America/New_York", "23:59", "2026-11-01T12:00:00Z", "2026-11-01T23:59:00-05:00", "2026-10-31T23:59:00-04:00"},
		{"Berlin, a time skipped by DST: an hour later", "Europe/Berlin", "02:30", "2026-03-28T12:00:00Z", "2026-03-29T03:30:00+02:00", "2026-03-28T02:30:00+01:00"},
		{"Berlin, a time that happens twice: once", "Europe/Berlin", "02:30", "2026-10-25T01:30:00Z", "2026-10-26T02:30:00+01:00", "2026-10-25T02:30:00+01:00"},
		{"Lord Howe, a half-hour DST shift", "Australia/Lord_Howe", "02:15", "2026-10-03T12:00:00Z", "2026-10-04T02:45:00+11:00", "2026-10-03T02:15:00+10:30"},
		{"Santiago, DST starts at midnight", "America/Santiago", "00:30", "2026-09-05T12:00:00Z", "2026-09-05T23:30:00-04:00", "2026-09-05T00:30:00-04:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loc := zone(t, tc.zone)
			now := rfc(tc.now)
			next := scheduler.NextRun(now, at(tc.at), loc)
			prev := scheduler.PrevRun(now, at(tc.at), loc)
			require.True(t, rfc(tc.next).Equal(next), "next: want %s, got %s", tc.next, next)
			require.True(t, rfc(tc.prev).Equal(prev), "prev: want %s, got %s", tc.prev, prev)
			require.Equal(t, loc, next.Location(), "in the schedule's zone")
		})
	}
}

// TestNextRunSweep checks the schedule's invariants every 211 minutes of a
// year in zones with unusual transitions.
func TestNextRunSweep(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow: a year of times in several zones")
	}
	for _, name := range []string{"UTC", "Europe/Berlin", "America/New_York", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata"} {
		for _, hhmm := range []string{"00:00", "00:30", "02:15", "02:30", "23:59"} {
			loc := zone(t, name)
			tod, err := scheduler.ParseTimeOfDay(hhmm)
			require.NoError(t, err)
			for now := time.Date(2026, 1, 1, 0, 7, 0, 0, time.UTC); now.Year() == 2026; now = now.Add(211 * time.Minute) {
				next, prev := scheduler.NextRun(now, tod, loc), scheduler.PrevRun(now, tod, loc)
				gap := next.Sub(prev)
				switch {
				case !next.After(now), prev.After(now):
					t.Fatalf("%s %s at %s: prev %s, next %s", name, hhmm, now, prev, next)
				case gap < 22*time.Hour || gap > 26*time.Hour:
					t.Fatalf("%s %s at %s: %s between runs", name, hhmm, now, gap)
				case !scheduler.NextRun(prev, tod, loc).Equal(next):
					t.Fatalf("%s %s at %s: a run between prev %s and next %s", name, hhmm, now, prev, next)
				}
			}
		}
	}
}
