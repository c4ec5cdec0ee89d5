package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/schemas"
)

// The receivers here are written from the vendors' documents in
// /work/shared/seeds alone: their own field names (structs that refuse
// unknown fields), their own HMACs (presets_test.go), their own values.
// Nothing of the project's rendering or signing code is used, so a change
// to what the profiles put on the wire shows here.

// occurred is when every event of these tests happened.
var occurred = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

// vendorEvent is an event a test publishes and the receiver's expectations
// of it.
type vendorEvent struct {
	typ, data string
}

// publishAll publishes the events, each for org_7, and returns their ids
// by type.
func (e *env) publishAll(events []vendorEvent) map[string]string {
	e.t.Helper()
	ids := map[string]string{}
	for _, ev := range events {
		ids[ev.typ] = e.publish(&schemas.Event{TenantID: "default", Type: ev.typ, OrgID: "org_7", OccurredAt: occurred,
			Data: json.RawMessage(ev.data)})
	}
	return ids
}

// waitRequests waits until rc has n requests that are not the creation
// ping (told apart by match) and returns them.
func waitRequests(t *testing.T, rc *receiver, n int, isPing func(request) bool) []request {
	t.Helper()
	var got []request
	require.Eventually(t, func() bool {
		got = got[:0]
		for _, r := range rc.all() {
			if !isPing(r) {
				got = append(got, r)
			}
		}
		return len(got) >= n
	}, 15*time.Second, 10*time.Millisecond, "%d deliveries", n)
	return got
}

// strictDecode decodes body into v, refusing fields v does not name, in
// exactly their case (encoding/json alone matches names case-blind): the
// body has only the keys the vendor documents, as it spells them.
func strictDecode(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "a field the vendor's document does not have: %s", body)
	exactKeys(t, body, reflect.TypeOf(v).Elem(), "")
}

// exactKeys checks that every key of the object raw is the json name of a
// field of struct type typ, spelt the same, and so on inside.
func exactKeys(t *testing.T, raw []byte, typ reflect.Type, path string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct {
		return
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return // not an object: null, or the decode above said what
	}
	fields := map[string]reflect.Type{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields[name] = f.Type
	}
	for k, v := range obj {
		ft, ok := fields[k]
		require.True(t, ok, "%s%s is not spelt as the vendor's document spells it", path, k)
		exactKeys(t, v, ft, path+k+".")
	}
}

// tartanBody is the Tartan document's "Webhook Key" table.
type tartanBody struct {
	SyncSessionID  string `json:"syncSessionId"`
	WebhookCounter *int   `json:"webhookCounter"`
	RequestID      string `json:"requestId"`
	OrgID          string `json:"orgId"`
	Event          string `json:"event"`
	EventType      string `json:"eventType"`
	RecordCount    *int   `json:"recordCount"`
	OrgName        string `json:"orgName"`
	HRMS           string `json:"hrms"`
	Status         string `json:"status"`
	InvitedBy      string `json:"invitedBy"`
	AcceptedBy     string `json:"acceptedBy"`
	TerminatedBy   string `json:"terminatedBy"`
	RemoteOrgID    string `json:"remote_org_id"`
	TimeStamp      string `json:"timeStamp"`
	Vendor         struct {
		OrgID string `json:"orgId"`
	} `json:"vendor"`
	Body           json.RawMessage `json:"body"`
	StatusCode     int             `json:"statusCode"`
	NewRecords     *int            `json:"newRecords"`
	UpdatedRecords *int            `json:"updatedRecords"`
}

func intp(v int) *int { return &v }

func TestTartanProfileSpeaksTheTartanDocument(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	const appKey = "tartan_app_key_1"
	wh := e.createWebhook(rc.URL, []string{"*"}, map[string]any{"profile": "tartan", "secret": appKey})

	events := []vendorEvent{
		{"sync.started", `{"sync_session_id":"ss_9","hrms":"darwinbox","org_name":"Acme India","status":"started","record_count":0,"new_records":0,"updated_records":0}`},
		{"sync.completed", `{"sync_session_id":"ss_9","hrms":"darwinbox","org_name":"Acme India","status":"completed","record_count":1250,"new_records":12,"updated_records":40}`},
		{"sync.failed", `{"sync_session_id":"ss_8","hrms":"keka","status":"failed","record_count":0,"new_records":0,"updated_records":0,"error":{"code":"auth_failed","message":"bad credentials"}}`},
		{"employee.created", `{"sync_session_id":"ss_9","hrms":"darwinbox","webhook_counter":2,"record_count":1,"records":[{"id":"emp_1","first_name":"Asha","email":"asha@acme.example"}]}`},
		{"connection.invited", `{"connection_id":"conn_1","hrms":"darwinbox","org_name":"Acme India","remote_org_id":"acme-42","invited_by":"hr@acme.example"}`},
		{"connection.accepted", `{"connection_id":"conn_1","accepted_by":"it@acme.example"}`},
		{"connection.terminated", `{"connection_id":"conn_1","remote_org_id":"acme-42","terminated_by":"it@acme.example"}`},
	}
	ids := e.publishAll(events)
	got := waitRequests(t, rc, len(events), func(r request) bool { return strings.Contains(string(r.Body), `"webhook.ping"`) })

	byEvent := map[string]tartanBody{}
	for _, r := range got {
		// The document's Python check, and its content-type header.
		require.Equal(t, "application/json", r.Header.Get("content-type"))
		require.True(t, tartanVerified(appKey, r.Body, r.Header.Get("tartan-signature")), "tartan-signature")
		var b tartanBody
		strictDecode(t, r.Body, &b)
		require.Equal(t, r.Header.Get("webhook-id"), b.RequestID, "requestId is the delivery's id")
		require.Equal(t, ids[b.Event]+":"+wh.ID, b.RequestID)
		require.Equal(t, "org_7", b.OrgID)
		require.Equal(t, "default", b.Vendor.OrgID, "vendor.orgId is our organisation: the tenant")
		require.Equal(t, "2026-03-14T09:26:53.589Z", b.TimeStamp, "UTC")
		require.Equal(t, strings.SplitN(b.Event, ".", 2)[0], b.EventType)
		byEvent[b.Event] = b
	}
	require.Len(t, byEvent, len(events))

	c := byEvent["sync.completed"]
	require.Equal(t, "ss_9", c.SyncSessionID)
	require.Equal(t, "darwinbox", c.HRMS)
	require.Equal(t, "Acme India", c.OrgName)
	require.Equal(t, "completed", c.Status)
	require.Equal(t, intp(1250), c.RecordCount)
	require.Equal(t, intp(12), c.NewRecords)
	require.Equal(t, intp(40), c.UpdatedRecords)
	require.Equal(t, 200, c.StatusCode)
	require.Nil(t, c.WebhookCounter, "absent values are left out")
	require.Empty(t, c.Body)

	require.Equal(t, "started", byEvent["sync.started"].Status)
	f := byEvent["sync.failed"]
	require.Equal(t, "failed", f.Status)
	require.Equal(t, 500, f.StatusCode, "a failed sync")
	require.JSONEq(t, `{"code":"auth_failed","message":"bad credentials"}`, string(f.Body))

	emp := byEvent["employee.created"]
	require.Equal(t, intp(2), emp.WebhookCounter)
	require.Equal(t, intp(1), emp.RecordCount)
	require.JSONEq(t, `[{"id":"emp_1","first_name":"Asha","email":"asha@acme.example"}]`, string(emp.Body),
		"body holds the employee records")

	inv := byEvent["connection.invited"]
	require.Equal(t, "hr@acme.example", inv.InvitedBy)
	require.Equal(t, "acme-42", inv.RemoteOrgID)
	require.Equal(t, "invited", inv.Status)
	require.Equal(t, "it@acme.example", byEvent["connection.accepted"].AcceptedBy)
	require.Equal(t, "it@acme.example", byEvent["connection.terminated"].TerminatedBy)

	// Tartan re-triggers failed webhooks at the end of the day: the
	// profile's retries end within minutes, so a failure is in that day's
	// replay.
	var shown struct {
		RetrySchedule          *string `json:"retry_schedule"`
		EffectiveRetrySchedule string  `json:"effective_retry_schedule"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks/"+wh.ID, nil, &shown))
	require.Nil(t, shown.RetrySchedule, "the webhook has none of its own")
	var total time.Duration
	for _, part := range strings.Split(shown.EffectiveRetrySchedule, ",") {
		d, err := time.ParseDuration(part)
		require.NoError(t, err)
		total += d
	}
	require.Less(t, total, time.Hour, "retries end within the hour: %s", shown.EffectiveRetrySchedule)
}

// bindbeeBody is the Bindbee document's sample payload.
type bindbeeBody struct {
	Webhook struct {
		WebhookID string `json:"webhook_id"`
		URL       string `json:"url"`
		Event     string `json:"event"`
	} `json:"webhook"`
	Connector *struct {
		ID              string   `json:"id"`
		DisplayName     string   `json:"display_name"`
		Categories      []string `json:"categories"`
		OrgName         string   `json:"org_name"`
		ConnectorStatus string   `json:"connector_status"`
		EndUserName     string   `json:"end_user_name"`
		EndUserEmail    string   `json:"end_user_email"`
	} `json:"connector"`
	Data json.RawMessage `json:"data"`
}

// bindbeeSyncData is the sample's data of connector_sync_started.
type bindbeeSyncData struct {
	ID                string `json:"id"`
	IntegrationName   string `json:"integration_name"`
	InitialSync       *bool  `json:"initial_sync"`
	Category          string `json:"category"`
	DisplayStatus     string `json:"display_status"`
	LastSyncStartTime string `json:"last_sync_start_time"`
}

func TestBindbeeProfileSpeaksTheBindbeeDocument(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	// Subscribed by Bindbee's own names; signed with the organisation's key.
	names := []string{"connector_sync_started", "connector_synced", "connector_sync_error", "employee_data_changed", "connector_data_modified"}
	var created struct {
		ID         string   `json:"id"`
		Secret     string   `json:"secret"`
		Events     []string `json:"events"`
		EventTypes []string `json:"event_types"`
		SigningKey string   `json:"signing_key"`
	}
	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/v1/webhooks", map[string]any{
		"name": "Employee data", "url": rc.URL, "events": names, "profile": "bindbee"}, &created))
	require.Equal(t, "tenant", created.SigningKey)
	require.ElementsMatch(t, names, created.Events, "shown in Bindbee's names")
	require.ElementsMatch(t, []string{"sync.started", "sync.completed", "sync.failed", "employee.created", "employee.updated",
		"employee.deleted", "datamodel.changed"}, created.EventTypes)
	// The Security section: the organisation's key, readable again.
	var key struct {
		Secret string `json:"secret"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/signing-key", nil, &key))
	require.Equal(t, key.Secret, created.Secret, "the key the webhook was created with is the organisation's")

	connector := `"connector":{"id":"018f99e2-ed3a-7f4c-ae97-83d619bdf95c","display_name":"BreatheHR","categories":["HRIS"],"status":"COMPLETE","end_user_name":"John Doe","end_user_email":"abc@xyz.com"}`
	events := []vendorEvent{
		{"sync.started", `{"sync_session_id":"018f99e7-886b-7c9f-a63a-f6fbc9da1f83","hrms":"breathehr","org_name":"Test Org","status":"started","initial_sync":true,"record_count":0,"new_records":0,"updated_records":0,"started_at":"2024-07-22T09:49:30.478384+00:00",` + connector + `}`},
		{"sync.completed", `{"sync_session_id":"ss_2","hrms":"breathehr","org_name":"Test Org","status":"completed","record_count":3,"new_records":1,"updated_records":2,` + connector + `}`},
		{"sync.failed", `{"sync_session_id":"ss_3","hrms":"breathehr","status":"failed","record_count":0,"new_records":0,"updated_records":0,"error":{"code":"timeout"},` + connector + `}`},
		{"employee.updated", `{"sync_session_id":"ss_2","hrms":"breathehr","webhook_counter":1,"record_count":1,"records":[{"id":"emp_5","job_title":"Lead"}],` + connector + `}`},
		{"datamodel.changed", `{"hrms":"breathehr","model":"employee","changes":[{"field":"cost_center","change":"added"}]}`},
		{"payroll.submitted", `{"payroll_id":"p","user_id":"u","account_id":null}`}, // not subscribed
	}
	e.publishAll(events)
	got := waitRequests(t, rc, len(events)-1, func(r request) bool { return strings.Contains(string(r.Body), `"webhook.ping"`) })
	e.settle()
	require.Len(t, waitRequests(t, rc, 0, func(r request) bool { return strings.Contains(string(r.Body), `"webhook.ping"`) }),
		len(events)-1, "nothing it did not subscribe to")

	byName := map[string]bindbeeBody{}
	for _, r := range got {
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		require.True(t, bindbeeVerified(key.Secret, r.Body, r.Header.Get("X-Bindbee-Webhook-Signature")),
			"signed with the organisation's key")
		var b bindbeeBody
		strictDecode(t, r.Body, &b)
		require.Equal(t, created.ID, b.Webhook.WebhookID)
		require.Equal(t, rc.URL, b.Webhook.URL)
		require.Equal(t, b.Webhook.Event, r.Header.Get("Webhook-Event-Type"))
		byName[b.Webhook.Event] = b
	}
	require.Len(t, byName, len(names))

	started := byName["connector_sync_started"]
	require.NotNil(t, started.Connector)
	require.Equal(t, "018f99e2-ed3a-7f4c-ae97-83d619bdf95c", started.Connector.ID)
	require.Equal(t, "BreatheHR", started.Connector.DisplayName)
	require.Equal(t, []string{"HRIS"}, started.Connector.Categories)
	require.Equal(t, "Test Org", started.Connector.OrgName)
	require.Equal(t, "COMPLETE", started.Connector.ConnectorStatus)
	require.Equal(t, "John Doe", started.Connector.EndUserName)
	require.Equal(t, "abc@xyz.com", started.Connector.EndUserEmail)
	var sd bindbeeSyncData
	dec := json.NewDecoder(bytes.NewReader(started.Data))
	require.NoError(t, dec.Decode(&sd))
	require.Equal(t, "018f99e7-886b-7c9f-a63a-f6fbc9da1f83", sd.ID)
	require.Equal(t, "breathehr", sd.IntegrationName)
	require.Equal(t, true, *sd.InitialSync)
	require.Equal(t, "HRIS", sd.Category)
	require.Equal(t, "Syncing", sd.DisplayStatus)
	require.Equal(t, "2024-07-22T09:49:30.478384+00:00", sd.LastSyncStartTime)

	for name, status := range map[string]string{"connector_synced": "Synced", "connector_sync_error": "Error"} {
		require.NoError(t, json.Unmarshal(byName[name].Data, &sd))
		require.Equal(t, status, sd.DisplayStatus, name)
	}
	var emp struct {
		Records []map[string]any `json:"records"`
	}
	require.NoError(t, json.Unmarshal(byName["employee_data_changed"].Data, &emp))
	require.Equal(t, "emp_5", emp.Records[0]["id"])
	var model struct {
		Model   string           `json:"model"`
		Changes []map[string]any `json:"changes"`
	}
	require.NoError(t, json.Unmarshal(byName["connector_data_modified"].Data, &model))
	require.Equal(t, "employee", model.Model)
	require.Equal(t, "cost_center", model.Changes[0]["field"])

	// The key "can be regenerated if it becomes known to an unauthorized
	// party": the next delivery is signed with the new key.
	var rotated struct {
		Secret string `json:"secret"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/v1/signing-key/rotate", map[string]any{"grace_period": "0s"}, &rotated))
	require.NotEqual(t, key.Secret, rotated.Secret)
	before := len(rc.all())
	e.publishAll(events[:1])
	r := waitRequests(t, rc, before+1, func(request) bool { return false })[before]
	require.True(t, bindbeeVerified(rotated.Secret, r.Body, r.Header.Get("X-Bindbee-Webhook-Signature")), "the new key signs")
	require.False(t, bindbeeVerified(key.Secret, r.Body, r.Header.Get("X-Bindbee-Webhook-Signature")), "the old one no longer")
}

// trutacClocking is the TruTac document's payload.
type trutacClocking struct {
	Action   string `json:"action"`
	Clocking struct {
		ID                string `json:"id"`
		DriverID          string `json:"driverId"`
		ClockingTimeStamp string `json:"clockingTimeStamp"`
		IsClockIn         *bool  `json:"isClockIn"`
	} `json:"clocking"`
}

func TestTrutacProfileSpeaksTheTrutacDocument(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	const secret = "trutac_hook_secret"
	// "if you subscribe to the clocking event you'll receive detailed
	// payloads every time a user clocks in or out, or an existing clocking
	// is changed."
	var created struct {
		ID     string   `json:"id"`
		Events []string `json:"events"`
	}
	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/v1/webhooks", map[string]any{
		"name": "clockings", "url": rc.URL, "events": []string{"clocking"}, "profile": "trutac", "secret": secret}, &created))
	require.Equal(t, []string{"clocking"}, created.Events)

	// "When you create a new webhook, we'll send you a simple ping event."
	ping := rc.nextAny(t)
	require.Equal(t, "ping", ping.Header.Get("TT-Hook-Event"))
	require.True(t, trutacVerified(secret, ping.Body, ping.Header.Get("TT-Hook-Signature")))

	e.publishAll([]vendorEvent{
		{"clocking.created", `{"action":"created","clocking":{"id":"CLOCKING-ID-123","driver_id":"DRIVER-ID-123","clocking_timestamp":"2018-01-01T09:01:53","is_clock_in":true}}`},
		{"clocking.updated", `{"action":"updated","clocking":{"id":"CLOCKING-ID-123","driver_id":"DRIVER-ID-123","clocking_timestamp":"2018-01-01T17:30:00","is_clock_in":false}}`},
		{"employee.created", `{"sync_session_id":"s","hrms":"h","webhook_counter":1,"record_count":0,"records":[]}`}, // not subscribed
	})
	got := waitRequests(t, rc, 2, func(r request) bool { return r.Header.Get("TT-Hook-Event") == "ping" })
	e.settle()
	require.Len(t, rc.all(), 3, "the ping and the two clockings")
	actions := map[string]trutacClocking{}
	for _, r := range got {
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		require.Equal(t, "clocking", r.Header.Get("TT-Hook-Event"), "one event for both clocking types")
		sig := r.Header.Get("TT-Hook-Signature")
		require.Regexp(t, `^sha1=[0-9a-f]{40}$`, sig)
		require.True(t, trutacVerified(secret, r.Body, sig))
		var c trutacClocking
		strictDecode(t, r.Body, &c)
		actions[c.Action] = c
	}
	c := actions["created"]
	require.Equal(t, "CLOCKING-ID-123", c.Clocking.ID)
	require.Equal(t, "DRIVER-ID-123", c.Clocking.DriverID)
	require.Equal(t, "2018-01-01T09:01:53", c.Clocking.ClockingTimeStamp)
	require.True(t, *c.Clocking.IsClockIn)
	u := actions["updated"]
	require.Equal(t, "2018-01-01T17:30:00", u.Clocking.ClockingTimeStamp)
	require.False(t, *u.Clocking.IsClockIn)
}

// tealBody is a Teal webhook body: the event, the respective user's
// information, and the payroll entry when include_payload is set.
type tealBody struct {
	Event              string          `json:"event"`
	EventID            string          `json:"event_id"`
	CreatedAt          string          `json:"created_at"`
	PayrollID          string          `json:"payroll_id"`
	UserID             string          `json:"user_id"`
	AccountID          *string         `json:"account_id"`
	DocumentExternalID *string         `json:"document_external_id"`
	DocumentFilename   *string         `json:"document_filename"`
	Payload            json.RawMessage `json:"payload"`
}

func TestTealProfileSpeaksTheTealDocument(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	full, thin := newReceiver(t, nil), newReceiver(t, nil)
	const signingSecret = "mysecret"
	// POST /webhooks as Teal's document writes it (include_payload as a
	// string, signing_secret), and one without the payload.
	var withPayload, without struct {
		ID             string `json:"id"`
		IncludePayload bool   `json:"include_payload"`
	}
	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/v1/webhooks", map[string]any{
		"events": []string{"user-payroll-submitted"}, "name": "payroll", "url": full.URL, "profile": "teal",
		"signing_secret": signingSecret, "include_payload": "true"}, &withPayload))
	require.True(t, withPayload.IncludePayload)
	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/v1/webhooks", map[string]any{
		"events": []string{"user-payroll-submitted"}, "name": "payroll ids", "url": thin.URL, "profile": "teal",
		"signing_secret": signingSecret}, &without))
	require.False(t, without.IncludePayload, "off unless set")

	const payslip = `{"payroll_id":"pay_1","user_id":"user_1","account_id":null,"document_external_id":"doc_77","document_filename":"payslip-2026-02.pdf","period_start":"2026-02-01","period_end":"2026-02-28","currency":"EUR","gross_pay":4200.5,"net_pay":3100.25}`
	ids := e.publishAll([]vendorEvent{{"payroll.submitted", payslip}})
	isPing := func(r request) bool { return strings.Contains(string(r.Body), `"webhook.ping"`) }
	check := func(r request) tealBody {
		t.Helper()
		require.True(t, tealVerified(signingSecret, r.Body, r.Header.Get("X-Teal-Signature")), "HMAC-SHA512 with the signing secret")
		var b tealBody
		strictDecode(t, r.Body, &b)
		require.Equal(t, "user-payroll-submitted", b.Event)
		require.Equal(t, "user-payroll-submitted", r.Header.Get("Webhook-Event-Type"))
		require.Equal(t, ids["payroll.submitted"], b.EventID)
		// "If the payroll data comes from uploading a payslip the account_id
		// would be null but document_external_id and document_filename
		// would be populated."
		require.Equal(t, "user_1", b.UserID)
		require.Nil(t, b.AccountID)
		require.Equal(t, "doc_77", *b.DocumentExternalID)
		require.Equal(t, "payslip-2026-02.pdf", *b.DocumentFilename)
		return b
	}
	f := check(waitRequests(t, full, 1, isPing)[0])
	require.JSONEq(t, payslip, string(f.Payload), "the payroll data entry as json")
	th := check(waitRequests(t, thin, 1, isPing)[0])
	require.Empty(t, th.Payload, "no payload without include_payload")

	// GET and DELETE as the document has them, under /v1.
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks", nil, &list))
	require.Len(t, list.Data, 2)
	require.Equal(t, http.StatusNoContent, e.call(http.MethodDelete, "/v1/webhooks/"+without.ID, nil, nil))
}
