package schemas_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	at      = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)
	started = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
)

func ptr[T any](v T) *T { return &v }

var connector = schemas.Connector{ID: "conn_1", DisplayName: "Darwinbox", Categories: []string{"HRIS"}, Status: "COMPLETE",
	EndUserName: "Priya Nair", EndUserEmail: "priya@acme.example"}

// examples holds one typed data value per catalog type: each must validate
// against its JSON Schema, and its JSON as a receiver gets it is pinned in
// testdata/<type>.json.
var examples = map[string]any{
	schemas.TypeSyncStarted: schemas.SyncData{SyncSessionID: "ss_1", HRMS: "darwinbox", OrgName: "Acme India",
		Status: "started", InitialSync: ptr(true), StartedAt: &started, Connector: &connector},
	schemas.TypeSyncCompleted: schemas.SyncData{SyncSessionID: "ss_1", HRMS: "darwinbox", OrgName: "Acme India",
		Status: "completed", RecordCount: 1250, NewRecords: 12, UpdatedRecords: 40, StartedAt: &started, CompletedAt: &at,
		Connector: &connector},
	schemas.TypeSyncFailed: schemas.SyncData{SyncSessionID: "ss_2", HRMS: "keka", Status: "failed",
		Error: &schemas.SyncError{Code: "auth_failed", Message: "the HRMS rejected the credentials"}},
	schemas.TypeEmployeeCreated: schemas.EmployeeData{SyncSessionID: "ss_1", HRMS: "darwinbox", WebhookCounter: 1, RecordCount: 1,
		Records: []schemas.Employee{{ID: "emp_1", RemoteID: "D-1001", FirstName: "Asha", LastName: "Kumar",
			Email: "asha@acme.example", EmploymentStatus: "active", JobTitle: "Engineer", Department: "R&D",
			StartDate: "2024-01-15", CustomFields: map[string]any{"grade": "L3"}}}, Connector: &connector},
	schemas.TypeEmployeeUpdated: schemas.EmployeeData{SyncSessionID: "ss_1", HRMS: "darwinbox", WebhookCounter: 2, RecordCount: 1,
		Records: []schemas.Employee{{ID: "emp_2", JobTitle: "Senior Engineer", ManagerID: "emp_9"}}},
	schemas.TypeEmployeeDeleted: schemas.EmployeeData{SyncSessionID: "ss_1", HRMS: "darwinbox", WebhookCounter: 3, RecordCount: 1,
		Records: []schemas.Employee{{ID: "emp_3", EmploymentStatus: "terminated", TerminationDate: "2026-03-01"}}},
	schemas.TypeDataModelChanged: schemas.DataModelData{HRMS: "bamboohr", Model: "employee", SyncSessionID: "ss_1",
		Changes: []schemas.FieldChange{{Field: "cost_center", Change: "added", DataType: "string"}}},
	schemas.TypeConnectionInvited: schemas.ConnectionData{ConnectionID: "conn_1", HRMS: "darwinbox", OrgName: "Acme India",
		RemoteOrgID: "acme-42", InvitedBy: "hr@acme.example", At: &at},
	schemas.TypeConnectionAccepted: schemas.ConnectionData{ConnectionID: "conn_1", AcceptedBy: "it@acme.example", At: &at},
	schemas.TypeConnectionTerminated: schemas.ConnectionData{ConnectionID: "conn_1", TerminatedBy: "it@acme.example",
		RemoteOrgID: "acme-42", At: &at},
	schemas.TypePayrollSubmitted: schemas.PayrollData{PayrollID: "pay_1", UserID: "user_1", AccountID: nil,
		DocumentExternalID: ptr("doc_77"), DocumentFilename: ptr("payslip-2026-02.pdf"), PeriodStart: "2026-02-01",
		PeriodEnd: "2026-02-28", Currency: "EUR", GrossPay: 4200.5, NetPay: 3100.25, SubmittedAt: &at},
	schemas.TypeClockingCreated: schemas.ClockingData{Action: "created",
		Clocking: schemas.Clocking{ID: "CLOCKING-ID-123", DriverID: "DRIVER-ID-123", ClockingTimestamp: "2018-01-01T09:01:53", IsClockIn: true}},
	schemas.TypeClockingUpdated: schemas.ClockingData{Action: "updated",
		Clocking: schemas.Clocking{ID: "CLOCKING-ID-123", DriverID: "DRIVER-ID-123", ClockingTimestamp: "2018-01-01T17:30:00"}},
	schemas.TypeWebhookPing: schemas.PingData{WebhookID: "wh_1", Message: "ping"},
	schemas.TypeWebhookTest: schemas.PingData{WebhookID: "wh_1", Message: "test"},
	schemas.TypeWebhookDisabled: schemas.WebhookDisabledData{WebhookID: "wh_1", URL: "https://receiver.example.com/hooks",
		Reason: "every attempt failed for 120h0m0s", FailingSince: &started, DisabledAt: at},
}

func exampleEvent(t *testing.T, typ string) schemas.Event {
	t.Helper()
	data, ok := examples[typ]
	require.True(t, ok, "no example for %s: add one", typ)
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	org := "org_42"
	if strings.HasPrefix(typ, schemas.ReservedFamily+".") {
		org = ""
	}
	return schemas.Event{ID: "evt_0190f1a2b3c4", Type: typ, TenantID: "acme", OrgID: org, OccurredAt: at, Data: raw}
}

// TestGolden pins the JSON a receiver gets for every type of the catalog.
// Refresh with: go test ./schemas -run TestGolden -update
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("jsonschema", "*.json"))
	require.NoError(t, err)
	require.Len(t, examples, len(files), "one example per type of the built-in catalog")
	for _, et := range schemas.Catalog() {
		if _, builtIn := examples[et.Name]; !builtIn {
			continue // registered at run time by another test
		}
		t.Run(et.Name, func(t *testing.T) {
			t.Parallel()
			ev := exampleEvent(t, et.Name)
			require.NoError(t, schemas.Validate(&ev), "the typed example validates against the JSON Schema")
			var pretty json.RawMessage = schemas.AppendJSON(nil, &ev, true)
			got, err := json.MarshalIndent(pretty, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", et.Name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create it")
			require.Equal(t, string(want), string(got))

			// The schema's example is the typed one.
			require.JSONEq(t, string(ev.Data), string(et.Example), "the schema's examples entry")

			// The rendered JSON decodes back to the same event.
			var back schemas.Event
			require.NoError(t, json.Unmarshal(schemas.AppendJSON(nil, &ev, true), &back))
			require.Equal(t, ev, back)
		})
	}
}

// The thin event keeps only the identifying fields of the data: what a
// receiver needs to fetch the rest, nothing of the payload.
func TestThinEventKeepsOnlyIdentifyingFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ, want string
	}{
		{schemas.TypeSyncStarted, `{"sync_session_id":"ss_1","hrms":"darwinbox","status":"started"}`},
		{schemas.TypeEmployeeCreated, `{"sync_session_id":"ss_1","hrms":"darwinbox","webhook_counter":1,"record_count":1,
			"records":[{"id":"emp_1","remote_id":"D-1001"}]}`},
		{schemas.TypeEmployeeUpdated, `{"sync_session_id":"ss_1","hrms":"darwinbox","webhook_counter":2,"record_count":1,
			"records":[{"id":"emp_2"}]}`},
		{schemas.TypePayrollSubmitted, `{"payroll_id":"pay_1","user_id":"user_1","account_id":null,
			"document_external_id":"doc_77","document_filename":"payslip-2026-02.pdf"}`},
		{schemas.TypeClockingCreated, `{"action":"created","clocking":{"id":"CLOCKING-ID-123"}}`},
		{schemas.TypeConnectionAccepted, `{"connection_id":"conn_1"}`},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			ev := exampleEvent(t, tc.typ)
			var got struct {
				Data json.RawMessage `json:"data"`
			}
			require.NoError(t, json.Unmarshal(schemas.AppendJSON(nil, &ev, false), &got))
			require.JSONEq(t, tc.want, string(got.Data))
		})
	}
	// A type without identifying fields (or data without them) has no data.
	ev := exampleEvent(t, schemas.TypeSyncStarted)
	ev.Data = json.RawMessage(`{"other":1}`)
	require.JSONEq(t,
		`{"id":"evt_0190f1a2b3c4","type":"sync.started","tenant_id":"acme","org_id":"org_42","occurred_at":"2026-03-14T09:26:53.589Z"}`,
		string(schemas.AppendJSON(nil, &ev, false)))
}

func TestAppendJSONEscapes(t *testing.T) {
	t.Parallel()
	ev := schemas.Event{ID: `a"b\c<`, Type: "sync.started", TenantID: "t", OrgID: "ørg\n", OccurredAt: at}
	var back schemas.Event
	require.NoError(t, json.Unmarshal(schemas.AppendJSON(nil, &ev, true), &back))
	require.Equal(t, ev, back)
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	valid := func() schemas.Event { return exampleEvent(t, schemas.TypeEmployeeCreated) }
	cases := []struct {
		name  string
		edit  func(*schemas.Event)
		field string
	}{
		{"bad id", func(e *schemas.Event) { e.ID = "has space" }, "id"},
		{"missing type", func(e *schemas.Event) { e.Type = "" }, "type"},
		{"unknown type", func(e *schemas.Event) { e.Type = "employee.promoted" }, "type"},
		{"bad tenant", func(e *schemas.Event) { e.TenantID = "a.b" }, "tenant_id"},
		{"missing org", func(e *schemas.Event) { e.OrgID = "" }, "org_id"},
		{"org not UTF-8", func(e *schemas.Event) { e.OrgID = "o\xff" }, "org_id"},
		{"org with newline", func(e *schemas.Event) { e.OrgID = "o\n" }, "org_id"},
		{"missing occurred_at", func(e *schemas.Event) { e.OccurredAt = time.Time{} }, "occurred_at"},
		{"data not an object", func(e *schemas.Event) { e.Data = json.RawMessage(`[1]`) }, "data"},
		{"data not JSON", func(e *schemas.Event) { e.Data = json.RawMessage(`{"a":`) }, "data"},
		{"data with a trailing value", func(e *schemas.Event) { e.Data = json.RawMessage(`{"a":1}{}`) }, "data"},
		{"data with a trailing comma", func(e *schemas.Event) { e.Data = json.RawMessage(`{"a":1,}`) }, "data"},
		{"data with a bad escape", func(e *schemas.Event) { e.Data = json.RawMessage(`{"a":"\q"}`) }, "data"},
		{"data with a leading zero", func(e *schemas.Event) { e.Data = json.RawMessage(`{"a":01}`) }, "data"},
		{"missing required", func(e *schemas.Event) {
			e.Data = json.RawMessage(`{"sync_session_id":"s","records":[]}`)
		}, "data.webhook_counter"},
		{"wrong type", func(e *schemas.Event) {
			e.Data = json.RawMessage(`{"sync_session_id":"s","webhook_counter":"one","records":[]}`)
		}, "data.webhook_counter"},
		{"nested", func(e *schemas.Event) {
			e.Data = json.RawMessage(`{"sync_session_id":"s","webhook_counter":1,"records":[{"id":"a"},{"first_name":"x"}]}`)
		}, "data.records.1.id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := valid()
			tc.edit(&ev)
			err := schemas.Validate(&ev)
			var verr *schemas.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, tc.field, verr.Field, verr.Error())
			require.NotEmpty(t, verr.Message)
		})
	}
	ev := valid()
	require.NoError(t, schemas.Validate(&ev))
}

func TestRegisterAddsATypeToTheCatalog(t *testing.T) {
	t.Parallel()
	family := fmt.Sprintf("leave%d", time.Now().UnixNano()) // unique under -count
	name := family + ".requested"
	require.NoError(t, schemas.Register(schemas.EventType{Name: name, Description: "test"}))
	et, ok := schemas.LookupType(name)
	require.True(t, ok)
	require.Equal(t, family, et.Family)
	require.Contains(t, schemas.Families(), family)
	require.Error(t, schemas.Register(schemas.EventType{Name: name}), "no duplicates")
	require.Error(t, schemas.Register(schemas.EventType{Name: "NotDotted"}))
	ev := schemas.Event{ID: "e1", Type: name, TenantID: "t", OrgID: "o", OccurredAt: at}
	require.NoError(t, schemas.Validate(&ev))
}

func TestMatchesType(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, typ string
		want         bool
	}{
		{"*", "sync.started", true},
		{"*", "anything.new", true},
		{"sync.*", "sync.started", true},
		{"sync.*", "syncx.started", false},
		{"sync.*", "employee.created", false},
		{"sync.started", "sync.started", true},
		{"sync.started", "sync.completed", false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, schemas.MatchesType(tc.pattern, tc.typ), "%s ~ %s", tc.pattern, tc.typ)
	}
}

func TestRotateSecret(t *testing.T) {
	t.Parallel()
	now := at
	w := schemas.Webhook{Secrets: []schemas.Secret{{Value: "s1"}}}
	require.True(t, w.PreviousSecretsExpireAt(now).IsZero())

	w.RotateSecret("s2", now, time.Hour)
	require.Equal(t, []string{"s2", "s1"}, w.ActiveSecrets(now), "current first, the old one during the grace period")
	require.Equal(t, now.Add(time.Hour), w.PreviousSecretsExpireAt(now))
	require.Equal(t, []string{"s2"}, w.ActiveSecrets(now.Add(time.Hour)), "only the new one after it")

	w.RotateSecret("s3", now.Add(30*time.Minute), time.Hour)
	require.Equal(t, []string{"s3", "s2", "s1"}, w.ActiveSecrets(now.Add(30*time.Minute)))
	w.RotateSecret("s4", now.Add(45*time.Minute), 0)
	require.Equal(t, []string{"s4", "s2", "s1"}, w.ActiveSecrets(now.Add(45*time.Minute)),
		"grace 0 drops the replaced secret (s3) at once; earlier ones keep their grace")

	for i := range 20 {
		w.RotateSecret(fmt.Sprintf("x%d", i), now.Add(3*time.Hour), time.Hour)
	}
	require.Len(t, w.Secrets, 1+schemas.MaxPreviousSecrets, "bounded")
}
