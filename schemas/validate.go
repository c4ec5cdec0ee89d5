package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	segjson "github.com/segmentio/encoding/json"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ValidationError says which field of an event is wrong and why. Field is a
// dotted path: "type", "org_id", "data.records.0.id".
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// MaxOrgIDBytes bounds org_id.
const MaxOrgIDBytes = 128

// Validate checks ev's envelope and validates its data against the JSON
// Schema of its type. The error is a *ValidationError naming the field.
func Validate(ev *Event) error {
	entry, data, err := objectData(ev)
	if err != nil {
		return err
	}
	if entry.quick != nil && entry.quick.valid(data) {
		return nil // certainly valid: the full validator would agree
	}
	// Decoding checks the JSON as json.Valid would (once, not twice).
	doc, err := decodeJSON(data)
	if err != nil {
		return invalid("data", "is not valid JSON")
	}
	if err := entry.compiled.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fromSchemaError(ve)
		}
		return invalid("data", "%v", err)
	}
	return nil
}

// ValidateEnvelope checks what Validate checks but the data: the envelope,
// and that the data is a JSON object. The router uses it for events the Go
// producer validated whole, whose data it passes on as it is.
func ValidateEnvelope(ev *Event) error {
	_, _, err := objectData(ev)
	return err
}

// objectData checks the envelope and that the data looks like a JSON object
// (its validity is left to the caller).
func objectData(ev *Event) (*catalogEntry, []byte, error) {
	entry, err := checkEnvelope(ev)
	if err != nil {
		return nil, nil, err
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	if data[0] != '{' {
		return nil, nil, invalid("data", "must be a JSON object")
	}
	return entry, data, nil
}

// decodeJSON decodes data as the JSON Schema validator wants it (numbers as
// json.Number), rejecting anything after the value. segmentio's decoder
// takes half the time and allocations of encoding/json's here; the strings in
// the result share data's bytes, so the result must not outlive the
// validation.
func decodeJSON(data []byte) (any, error) {
	var doc any
	rest, err := segjson.Parse(data, &doc, segjson.UseNumber|segjson.DontCopyString|segjson.DontCopyNumber)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the JSON value")
	}
	return doc, nil
}

func checkEnvelope(ev *Event) (*catalogEntry, error) {
	if !ValidEventID(ev.ID) {
		return nil, invalid("id", "must be 1 to 128 printable ASCII characters without spaces")
	}
	entry, ok := (*catalog.Load())[ev.Type]
	if !ok {
		if ev.Type == "" {
			return nil, invalid("type", "is required")
		}
		return nil, invalid("type", "unknown event type %q (GET /v1/event-types lists them)", ev.Type)
	}
	if !ValidKey(ev.TenantID) {
		return nil, invalid("tenant_id", "must be 1 to 64 letters, digits, '-' or '_'")
	}
	if len(ev.OrgID) > MaxOrgIDBytes {
		return nil, invalid("org_id", "must be at most %d bytes", MaxOrgIDBytes)
	}
	if !utf8.ValidString(ev.OrgID) || strings.ContainsFunc(ev.OrgID, unicode.IsControl) {
		return nil, invalid("org_id", "must be UTF-8 text without control characters")
	}
	if ev.OrgID == "" && entry.Family != ReservedFamily {
		return nil, invalid("org_id", "is required")
	}
	if ev.OccurredAt.IsZero() {
		return nil, invalid("occurred_at", "is required")
	}
	return entry, nil
}

var printer = message.NewPrinter(language.English)

// fromSchemaError reports the first leaf cause, with the instance path as a
// dotted field under "data".
func fromSchemaError(ve *jsonschema.ValidationError) *ValidationError {
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	path := append([]string{"data"}, ve.InstanceLocation...)
	msg := ve.ErrorKind.LocalizedString(printer)
	if req, ok := ve.ErrorKind.(*kind.Required); ok && len(req.Missing) > 0 {
		path = append(path, req.Missing[0])
		msg = "is required"
	}
	return &ValidationError{Field: strings.Join(path, "."), Message: msg}
}

// CompactData rewrites ev.Data without insignificant whitespace, so the body
// a receiver gets is canonical. Data that is compact already (as json.Marshal
// writes it) is left alone after one quick pass; its validity is then
// Validate's to check.
func CompactData(ev *Event) error {
	if len(ev.Data) == 0 || isCompact(ev.Data) {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, ev.Data); err != nil {
		return invalid("data", "is not valid JSON: %v", err)
	}
	ev.Data = buf.Bytes()
	return nil
}

// isCompact reports whether JSON text has no whitespace outside its strings:
// nothing json.Compact would remove. It does not check the text is valid.
func isCompact(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return true
}

// NewEvent builds an event with a fresh id, occurred now, with data encoded
// as compact JSON. It does not validate; see Validate.
func NewEvent(tenantID, orgID, typ string, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("schemas: encode data: %w", err)
	}
	return Event{
		ID: NewEventID(), Type: typ, TenantID: tenantID, OrgID: orgID,
		OccurredAt: time.Now().UTC(), Data: raw,
	}, nil
}
