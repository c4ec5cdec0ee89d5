package schemas

import "time"

// SyncData is the data of sync.started, sync.completed and sync.failed.
type SyncData struct {
	SyncSessionID  string     `json:"sync_session_id" msgpack:"sync_session_id"`
	HRMS           string     `json:"hrms" msgpack:"hrms"`
	OrgName        string     `json:"org_name,omitempty" msgpack:"org_name,omitempty"`
	Status         string     `json:"status,omitempty" msgpack:"status,omitempty"`
	InitialSync    *bool      `json:"initial_sync,omitempty" msgpack:"initial_sync,omitempty"`
	RecordCount    int        `json:"record_count" msgpack:"record_count"`
	NewRecords     int        `json:"new_records" msgpack:"new_records"`
	UpdatedRecords int        `json:"updated_records" msgpack:"updated_records"`
	StartedAt      *time.Time `json:"started_at,omitempty" msgpack:"started_at,omitempty"`
	CompletedAt    *time.Time `json:"completed_at,omitempty" msgpack:"completed_at,omitempty"`
	Error          *SyncError `json:"error,omitempty" msgpack:"error,omitempty"`
	Connector      *Connector `json:"connector,omitempty" msgpack:"connector,omitempty"`
}

// Connector is the HRMS connection data came through, as integration
// platforms show it to their customers (Bindbee's "connector").
type Connector struct {
	ID           string   `json:"id" msgpack:"id"`
	DisplayName  string   `json:"display_name,omitempty" msgpack:"display_name,omitempty"`
	Categories   []string `json:"categories,omitempty" msgpack:"categories,omitempty"`
	Status       string   `json:"status,omitempty" msgpack:"status,omitempty"`
	EndUserName  string   `json:"end_user_name,omitempty" msgpack:"end_user_name,omitempty"`
	EndUserEmail string   `json:"end_user_email,omitempty" msgpack:"end_user_email,omitempty"`
}

// SyncError says why a sync failed.
type SyncError struct {
	Code    string `json:"code" msgpack:"code"`
	Message string `json:"message,omitempty" msgpack:"message,omitempty"`
}

// EmployeeData is the data of employee.created, employee.updated and
// employee.deleted: one page of a sync session's records.
type EmployeeData struct {
	SyncSessionID string `json:"sync_session_id" msgpack:"sync_session_id"`
	HRMS          string `json:"hrms,omitempty" msgpack:"hrms,omitempty"`
	// WebhookCounter numbers the pages of one sync session, 1..k.
	WebhookCounter int        `json:"webhook_counter" msgpack:"webhook_counter"`
	RecordCount    int        `json:"record_count" msgpack:"record_count"`
	Records        []Employee `json:"records" msgpack:"records"`
	Connector      *Connector `json:"connector,omitempty" msgpack:"connector,omitempty"`
}

// Employee is one employee record as received from the HRMS.
type Employee struct {
	ID               string         `json:"id" msgpack:"id"`
	RemoteID         string         `json:"remote_id,omitempty" msgpack:"remote_id,omitempty"`
	FirstName        string         `json:"first_name,omitempty" msgpack:"first_name,omitempty"`
	LastName         string         `json:"last_name,omitempty" msgpack:"last_name,omitempty"`
	Email            string         `json:"email,omitempty" msgpack:"email,omitempty"`
	EmploymentStatus string         `json:"employment_status,omitempty" msgpack:"employment_status,omitempty"`
	JobTitle         string         `json:"job_title,omitempty" msgpack:"job_title,omitempty"`
	Department       string         `json:"department,omitempty" msgpack:"department,omitempty"`
	ManagerID        string         `json:"manager_id,omitempty" msgpack:"manager_id,omitempty"`
	StartDate        string         `json:"start_date,omitempty" msgpack:"start_date,omitempty"`
	TerminationDate  string         `json:"termination_date,omitempty" msgpack:"termination_date,omitempty"`
	CustomFields     map[string]any `json:"custom_fields,omitempty" msgpack:"custom_fields,omitempty"`
}

// DataModelData is the data of datamodel.changed.
type DataModelData struct {
	HRMS          string        `json:"hrms" msgpack:"hrms"`
	Model         string        `json:"model" msgpack:"model"`
	SyncSessionID string        `json:"sync_session_id,omitempty" msgpack:"sync_session_id,omitempty"`
	Changes       []FieldChange `json:"changes" msgpack:"changes"`
	Connector     *Connector    `json:"connector,omitempty" msgpack:"connector,omitempty"`
}

// FieldChange is one change to a data model: added, removed or modified.
type FieldChange struct {
	Field    string `json:"field" msgpack:"field"`
	Change   string `json:"change" msgpack:"change"`
	DataType string `json:"data_type,omitempty" msgpack:"data_type,omitempty"`
}

// ConnectionData is the data of connection.invited, .accepted and .terminated.
type ConnectionData struct {
	ConnectionID string     `json:"connection_id" msgpack:"connection_id"`
	HRMS         string     `json:"hrms,omitempty" msgpack:"hrms,omitempty"`
	OrgName      string     `json:"org_name,omitempty" msgpack:"org_name,omitempty"`
	RemoteOrgID  string     `json:"remote_org_id,omitempty" msgpack:"remote_org_id,omitempty"`
	InvitedBy    string     `json:"invited_by,omitempty" msgpack:"invited_by,omitempty"`
	AcceptedBy   string     `json:"accepted_by,omitempty" msgpack:"accepted_by,omitempty"`
	TerminatedBy string     `json:"terminated_by,omitempty" msgpack:"terminated_by,omitempty"`
	At           *time.Time `json:"at,omitempty" msgpack:"at,omitempty"`
}

// PayrollData is the data of payroll.submitted. AccountID is null when the
// payroll came from an uploaded payslip, which fills the document fields.
type PayrollData struct {
	PayrollID          string     `json:"payroll_id" msgpack:"payroll_id"`
	UserID             string     `json:"user_id" msgpack:"user_id"`
	AccountID          *string    `json:"account_id" msgpack:"account_id"`
	DocumentExternalID *string    `json:"document_external_id,omitempty" msgpack:"document_external_id,omitempty"`
	DocumentFilename   *string    `json:"document_filename,omitempty" msgpack:"document_filename,omitempty"`
	PeriodStart        string     `json:"period_start,omitempty" msgpack:"period_start,omitempty"`
	PeriodEnd          string     `json:"period_end,omitempty" msgpack:"period_end,omitempty"`
	Currency           string     `json:"currency,omitempty" msgpack:"currency,omitempty"`
	GrossPay           float64    `json:"gross_pay,omitempty" msgpack:"gross_pay,omitempty"`
	NetPay             float64    `json:"net_pay,omitempty" msgpack:"net_pay,omitempty"`
	SubmittedAt        *time.Time `json:"submitted_at,omitempty" msgpack:"submitted_at,omitempty"`
}

// ClockingData is the data of clocking.created and clocking.updated.
type ClockingData struct {
	Action   string   `json:"action" msgpack:"action"`
	Clocking Clocking `json:"clocking" msgpack:"clocking"`
}

// Clocking is one clock-in or clock-out.
type Clocking struct {
	ID                string `json:"id" msgpack:"id"`
	DriverID          string `json:"driver_id,omitempty" msgpack:"driver_id,omitempty"`
	ClockingTimestamp string `json:"clocking_timestamp,omitempty" msgpack:"clocking_timestamp,omitempty"`
	IsClockIn         bool   `json:"is_clock_in" msgpack:"is_clock_in"`
}

// WebhookDisabledData is the data of webhook.disabled.
type WebhookDisabledData struct {
	WebhookID    string     `json:"webhook_id" msgpack:"webhook_id"`
	URL          string     `json:"url,omitempty" msgpack:"url,omitempty"`
	Reason       string     `json:"reason" msgpack:"reason"`
	FailingSince *time.Time `json:"failing_since,omitempty" msgpack:"failing_since,omitempty"`
	DisabledAt   time.Time  `json:"disabled_at" msgpack:"disabled_at"`
}

// PingData is the data of webhook.ping and webhook.test.
type PingData struct {
	WebhookID string `json:"webhook_id" msgpack:"webhook_id"`
	Message   string `json:"message" msgpack:"message"`
}
