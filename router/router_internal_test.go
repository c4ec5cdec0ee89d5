package router

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/schemas"
)

func TestFillFromSubject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, subject   string
		ev              schemas.Event
		tenant, typ     string
		wantErrContains string
	}{
		{"fills both", "events.t1.sync.started", schemas.Event{}, "t1", "sync.started", ""},
		{"agrees", "events.t1.sync.started", schemas.Event{TenantID: "t1", Type: "sync.started"}, "t1", "sync.started", ""},
		{"tenant mismatch", "events.t1.sync.started", schemas.Event{TenantID: "t2"}, "", "", "do not match"},
		{"type mismatch", "events.t1.sync.started", schemas.Event{Type: "sync.failed"}, "", "", "do not match"},
		{"bad subject", "events.t1", schemas.Event{}, "", "", "not events.<tenant>.<type>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := tc.ev
			err := fillFromSubject(&ev, tc.subject)
			if tc.wantErrContains != "" {
				require.ErrorContains(t, err, tc.wantErrContains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.tenant, ev.TenantID)
			require.Equal(t, tc.typ, ev.Type)
		})
	}
}
