package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunIDsAreCalendarDates: a run is named after the calendar day it
// belongs to, even when a daylight-saving transition moves it to the day
// before.
func TestRunIDsAreCalendarDates(t *testing.T) {
	t.Parallel()
	santiago, err := time.LoadLocation("America/Santiago")
	require.NoError(t, err)
	s := nextSlot(time.Date(2026, 9, 5, 12, 0, 0, 0, santiago), TimeOfDay{0, 30}, santiago)
	require.Equal(t, "2026-09-06", s.id)
	require.Equal(t, "2026-09-05T23:30:00-04:00", s.at.Format(time.RFC3339))
	require.Equal(t, "2026-09-05", prevSlot(s.at.Add(-time.Minute), TimeOfDay{0, 30}, santiago).id)

	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	s = prevSlot(time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC), TimeOfDay{23, 59}, berlin)
	require.Equal(t, "2026-11-24", s.id, "already the 25th in Berlin, and the 24th's run is the latest")
	require.Equal(t, "2026-11-25", nextSlot(s.at, TimeOfDay{23, 59}, berlin).id)
}
