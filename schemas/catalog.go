package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The event types of the HRMS sync catalog.
const (
	TypeSyncStarted          = "sync.started"
	TypeSyncCompleted        = "sync.completed"
	TypeSyncFailed           = "sync.failed"
	TypeEmployeeCreated      = "employee.created"
	TypeEmployeeUpdated      = "employee.updated"
	TypeEmployeeDeleted      = "employee.deleted"
	TypeDataModelChanged     = "datamodel.changed"
	TypeConnectionInvited    = "connection.invited"
	TypeConnectionAccepted   = "connection.accepted"
	TypeConnectionTerminated = "connection.terminated"
	TypePayrollSubmitted     = "payroll.submitted"
	TypeClockingCreated      = "clocking.created"
	TypeClockingUpdated      = "clocking.updated"
	TypeWebhookPing          = "webhook.ping"
	TypeWebhookTest          = "webhook.test"
	TypeWebhookDisabled      = "webhook.disabled"
)

// ReservedFamily is Hookstream's own family: producers cannot publish it.
// webhook.ping and webhook.test go to one webhook each and cannot be
// subscribed to; webhook.disabled goes to the tenant's webhooks that
// subscribe to it (or to "webhook.*" or "*").
const ReservedFamily = "webhook"

// EventType is one entry of the catalog.
type EventType struct {
	// Name is the type, "<family>.<action>".
	Name string `json:"name"`
	// Family is the part before the first dot; "<family>.*" subscribes to all.
	Family string `json:"family"`
	// Description says when the event is sent.
	Description string `json:"description"`
	// Schema is the JSON Schema (draft 2020-12) of the event's data.
	Schema json.RawMessage `json:"schema"`
	// Example is the data of an example event: the schema's first
	// "examples" entry, when it has one.
	Example json.RawMessage `json:"example,omitempty"`
	// ThinFields are the data's identifying fields, which the thin event
	// (include_payload off) keeps: the schema's "x-thin-fields", each a
	// key or key.subkey (of an object, or of each object in an array).
	ThinFields []string `json:"thin_fields,omitempty"`
}

type catalogEntry struct {
	EventType
	compiled *jsonschema.Schema
	quick    *quickSchema // the fast path; nil when the schema needs the full validator
}

//go:embed jsonschema/*.json
var schemaFiles embed.FS

var (
	catalogMu sync.Mutex // serialises Register
	catalog   atomic.Pointer[map[string]*catalogEntry]
)

var typeNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

func init() {
	entries, err := schemaFiles.ReadDir("jsonschema")
	if err != nil {
		panic(err)
	}
	m := map[string]*catalogEntry{}
	for _, e := range entries {
		raw, err := schemaFiles.ReadFile("jsonschema/" + e.Name())
		if err != nil {
			panic(err)
		}
		var doc struct {
			Description string `json:"description"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			panic(fmt.Sprintf("schemas: %s: %v", e.Name(), err))
		}
		name := strings.TrimSuffix(e.Name(), ".json")
		entry, err := compileEntry(EventType{Name: name, Description: doc.Description, Schema: raw})
		if err != nil {
			panic(err)
		}
		m[name] = entry
	}
	catalog.Store(&m)
}

func compileEntry(t EventType) (*catalogEntry, error) {
	if !typeNamePattern.MatchString(t.Name) {
		return nil, fmt.Errorf("schemas: event type %q: want lowercase dotted words like family.action", t.Name)
	}
	t.Family, _, _ = strings.Cut(t.Name, ".")
	if len(t.Schema) == 0 {
		t.Schema = json.RawMessage(`{"type":"object"}`)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(t.Schema))
	if err != nil {
		return nil, fmt.Errorf("schemas: event type %s: schema: %w", t.Name, err)
	}
	var extra struct {
		Examples   []json.RawMessage `json:"examples"`
		ThinFields []string          `json:"x-thin-fields"`
	}
	if err := json.Unmarshal(t.Schema, &extra); err != nil {
		return nil, fmt.Errorf("schemas: event type %s: schema: %w", t.Name, err)
	}
	if len(extra.Examples) > 0 {
		t.Example = extra.Examples[0]
	}
	for _, f := range extra.ThinFields {
		if f == "" || strings.Count(f, ".") > 1 {
			return nil, fmt.Errorf("schemas: event type %s: x-thin-fields: %q is not a key or key.subkey", t.Name, f)
		}
	}
	t.ThinFields = extra.ThinFields
	// Formats stay annotations (no AssertFormat), as the fast path of
	// Validate assumes (quick.go).
	c := jsonschema.NewCompiler()
	url := "hookstream:" + t.Name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schemas: event type %s: schema: %w", t.Name, err)
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schemas: event type %s: schema: %w", t.Name, err)
	}
	return &catalogEntry{EventType: t, compiled: compiled, quick: compileQuick(doc)}, nil
}

// Catalog returns every event type, sorted by name.
func Catalog() []EventType {
	m := *catalog.Load()
	out := make([]EventType, 0, len(m))
	for _, e := range m {
		out = append(out, e.EventType)
	}
	slices.SortFunc(out, func(a, b EventType) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// LookupType returns the catalog entry of name.
func LookupType(name string) (EventType, bool) {
	e, ok := (*catalog.Load())[name]
	if !ok {
		return EventType{}, false
	}
	return e.EventType, true
}

// Families returns the families of the catalog, sorted.
func Families() []string {
	seen := map[string]bool{}
	for _, e := range *catalog.Load() {
		seen[e.Family] = true
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Check reports whether t could be registered: a dotted lowercase name
// outside the reserved family and a schema that compiles.
func Check(t EventType) error {
	_, err := compileAdded(t)
	return err
}

// compileAdded compiles a type added at run time, which cannot be in the
// reserved family.
func compileAdded(t EventType) (*catalogEntry, error) {
	entry, err := compileEntry(t)
	if err != nil {
		return nil, err
	}
	if entry.Family == ReservedFamily {
		return nil, fmt.Errorf("schemas: event type %s: the %s family is reserved for Hookstream", entry.Name, ReservedFamily)
	}
	return entry, nil
}

// Register adds an event type at run time (Schema empty = any object).
// Webhooks subscribed to "*" or to its family receive it from then on.
func Register(t EventType) error {
	entry, err := compileAdded(t)
	if err != nil {
		return err
	}
	catalogMu.Lock()
	defer catalogMu.Unlock()
	old := *catalog.Load()
	if _, dup := old[entry.Name]; dup {
		return fmt.Errorf("schemas: event type %s is already in the catalog", entry.Name)
	}
	m := make(map[string]*catalogEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[entry.Name] = entry
	catalog.Store(&m)
	return nil
}
