package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hookstream/hookstream/schemas"
)

// SyncConfig describes one sync session of an organisation's HRMS.
type SyncConfig struct {
	// TenantID receives the events. Required.
	TenantID string
	// OrgID is the synced organisation. Required.
	OrgID string
	// HRMS names the source system, e.g. "darwinbox". Required.
	HRMS string
	// OrgName is the organisation's display name. Optional.
	OrgName string
	// SessionID identifies the session. Optional; generated when empty. Event
	// ids derive from it ("<session>:started", "<session>:page:3", ...), so
	// re-running a session's publishes after a crash delivers nothing twice.
	SessionID string
	// PageSize is the most employee records in one event. Optional; default 100.
	PageSize int
	// MaxPageBytes bounds one page's data. Optional; default the producer's
	// MaxEventBytes less room for the envelope.
	MaxPageBytes int
}

// SyncSession publishes the events of one sync: started, pages of employee
// changes, then completed or failed. It is not safe for concurrent use.
type SyncSession struct {
	p        *Producer
	cfg      SyncConfig
	counter  int
	total    int
	created  int
	updated  int
	finished bool
}

// ErrSessionFinished means Complete or Fail was already called.
var ErrSessionFinished = errors.New("producer: sync session already finished")

// StartSync publishes sync.started and returns the session.
func (p *Producer) StartSync(ctx context.Context, cfg SyncConfig) (*SyncSession, error) {
	if cfg.TenantID == "" || cfg.OrgID == "" || cfg.HRMS == "" {
		return nil, errors.New("producer: SyncConfig.TenantID, OrgID and HRMS are required")
	}
	if cfg.SessionID == "" {
		cfg.SessionID = "ss_" + schemas.NewEventID()[len("evt_"):]
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	const envelopeRoom = 1024
	if cfg.MaxPageBytes <= 0 || cfg.MaxPageBytes > p.maxBytes-envelopeRoom {
		cfg.MaxPageBytes = p.maxBytes - envelopeRoom
	}
	s := &SyncSession{p: p, cfg: cfg}
	if _, err := s.publish(ctx, "started", schemas.TypeSyncStarted, s.syncData("started", nil)); err != nil {
		return nil, err
	}
	return s, nil
}

// ID returns the session id.
func (s *SyncSession) ID() string { return s.cfg.SessionID }

// Pages returns how many employee pages were published (the last webhook_counter).
func (s *SyncSession) Pages() int { return s.counter }

// Created publishes employee.created pages for records.
func (s *SyncSession) Created(ctx context.Context, records []schemas.Employee) error {
	s.created += len(records)
	return s.pages(ctx, schemas.TypeEmployeeCreated, records)
}

// Updated publishes employee.updated pages for records.
func (s *SyncSession) Updated(ctx context.Context, records []schemas.Employee) error {
	s.updated += len(records)
	return s.pages(ctx, schemas.TypeEmployeeUpdated, records)
}

// Deleted publishes employee.deleted pages for records.
func (s *SyncSession) Deleted(ctx context.Context, records []schemas.Employee) error {
	return s.pages(ctx, schemas.TypeEmployeeDeleted, records)
}

// Complete publishes sync.completed with the record counts.
func (s *SyncSession) Complete(ctx context.Context) (Result, error) {
	if s.finished {
		return Result{}, ErrSessionFinished
	}
	s.finished = true
	return s.publish(ctx, "completed", schemas.TypeSyncCompleted, s.syncData("completed", nil))
}

// Fail publishes sync.failed with the error.
func (s *SyncSession) Fail(ctx context.Context, code, message string) (Result, error) {
	if s.finished {
		return Result{}, ErrSessionFinished
	}
	s.finished = true
	return s.publish(ctx, "failed", schemas.TypeSyncFailed, s.syncData("failed", &schemas.SyncError{Code: code, Message: message}))
}

func (s *SyncSession) syncData(status string, serr *schemas.SyncError) schemas.SyncData {
	return schemas.SyncData{
		SyncSessionID: s.cfg.SessionID, HRMS: s.cfg.HRMS, OrgName: s.cfg.OrgName, Status: status,
		RecordCount: s.total, NewRecords: s.created, UpdatedRecords: s.updated, Error: serr,
	}
}

func (s *SyncSession) publish(ctx context.Context, suffix, typ string, data any) (Result, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Result{}, fmt.Errorf("producer: encode %s: %w", typ, err)
	}
	ev := schemas.Event{ID: s.cfg.SessionID + ":" + suffix, Type: typ, TenantID: s.cfg.TenantID, OrgID: s.cfg.OrgID, Data: raw}
	return s.p.Publish(ctx, &ev)
}

// pages splits records into events of at most PageSize records and
// MaxPageBytes of data, numbers them with webhook_counter and publishes them
// as one batch.
func (s *SyncSession) pages(ctx context.Context, typ string, records []schemas.Employee) error {
	if s.finished {
		return ErrSessionFinished
	}
	var events []schemas.Event
	flush := func(page []json.RawMessage) error {
		s.counter++
		data := pageData{
			SyncSessionID: s.cfg.SessionID, HRMS: s.cfg.HRMS, WebhookCounter: s.counter,
			RecordCount: len(page), Records: page,
		}
		raw, err := json.Marshal(data)
		if err != nil {
			return err
		}
		events = append(events, schemas.Event{
			ID: s.cfg.SessionID + ":page:" + strconv.Itoa(s.counter), Type: typ,
			TenantID: s.cfg.TenantID, OrgID: s.cfg.OrgID, Data: raw,
		})
		return nil
	}
	const pageOverhead = 256 // the page's own fields around the records
	var page []json.RawMessage
	size := pageOverhead
	for i := range records {
		rec, err := json.Marshal(&records[i])
		if err != nil {
			return fmt.Errorf("producer: encode employee %d: %w", i, err)
		}
		if len(rec)+pageOverhead > s.cfg.MaxPageBytes {
			return fmt.Errorf("%w: employee record %q is %d bytes, a page holds %d", ErrTooLarge, records[i].ID, len(rec), s.cfg.MaxPageBytes)
		}
		if len(page) == s.cfg.PageSize || size+len(rec)+1 > s.cfg.MaxPageBytes {
			if err := flush(page); err != nil {
				return err
			}
			page, size = nil, pageOverhead
		}
		page = append(page, rec)
		size += len(rec) + 1
	}
	if len(page) > 0 {
		if err := flush(page); err != nil {
			return err
		}
	}
	s.total += len(records)
	_, err := s.p.PublishBatch(ctx, events)
	return err
}

// pageData is schemas.EmployeeData with records already encoded, so a page's
// size is known before it is built.
type pageData struct {
	SyncSessionID  string            `json:"sync_session_id"`
	HRMS           string            `json:"hrms"`
	WebhookCounter int               `json:"webhook_counter"`
	RecordCount    int               `json:"record_count"`
	Records        []json.RawMessage `json:"records"`
}
