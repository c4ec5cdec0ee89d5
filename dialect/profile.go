package dialect

import (
	"cmp"
	"embed"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schemas"
)

// Profile is one vendor's dialect under a name: nothing but settings a
// user could have written on a webhook themselves. A webhook with a profile
// takes its transform, event names and retry schedule from the profile
// unless it sets its own; the signature preset, include_payload and signing
// key are the defaults the API gives a webhook created with it.
type Profile struct {
	// Name is what a webhook's "profile" says: "tartan".
	Name string
	// Vendor is whose receivers it speaks to: "Tartan".
	Vendor string
	// Description says in a line what the receiver gets.
	Description string
	// Signature is the signature preset.
	Signature string
	// Transform is the jq program of the body (profiles/<name>.jq).
	Transform string
	// EventNames maps catalog types to the vendor's names; types it does
	// not name keep the catalog's.
	EventNames Names
	// IncludePayload is the include_payload default.
	IncludePayload bool
	// RetrySchedule is the waits before each retry; nil means the
	// sender's default.
	RetrySchedule []time.Duration
	// SigningKey is the signing key default: SigningKeyWebhook or
	// SigningKeyTenant.
	SigningKey string
}

// Where a webhook's signing secrets come from (schemas.Webhook.SigningKey).
const (
	// SigningKeyWebhook: the webhook's own secrets (the default).
	SigningKeyWebhook = "webhook"
	// SigningKeyTenant: the tenant's organisation-wide signing key,
	// shared by its webhooks that ask for it.
	SigningKeyTenant = "tenant"
)

//go:embed profiles/*.jq
var programs embed.FS

func program(name string) string {
	b, err := programs.ReadFile("profiles/" + name + ".jq")
	if err != nil {
		panic("dialect: profile program " + name + ": " + err.Error())
	}
	return string(b)
}

// familyNames names every type of the catalog by its family, as TruTac
// names both clocking types "clocking".
func familyNames() Names {
	n := Names{}
	for _, t := range schemas.Catalog() {
		n[t.Name] = t.Family
	}
	return n
}

var profiles = map[string]*Profile{
	"tartan": {
		Name: "tartan", Vendor: "Tartan", Signature: "tartan", IncludePayload: true, SigningKey: SigningKeyWebhook,
		Description: "Tartan HyperSync: one flat camelCase object (syncSessionId, requestId, orgId, event, body, ...), " +
			"signed in tartan-signature; a few quick retries, then the dead letters, so the same day's end-of-day replay re-triggers it.",
		Transform: program("tartan"),
		// Three retries within about 12 minutes: a delivery that fails
		// today is in the dead letters, and so in tonight's replay.
		RetrySchedule: []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute},
	},
	"bindbee": {
		Name: "bindbee", Vendor: "Bindbee", Signature: "bindbee", IncludePayload: true, SigningKey: SigningKeyTenant,
		Description: "Bindbee: {webhook, connector, data} with Bindbee's event names (connector_sync_started, ...), " +
			"signed in X-Bindbee-Webhook-Signature with the organisation-wide signing key.",
		Transform: program("bindbee"),
		EventNames: Names{
			schemas.TypeSyncStarted:      "connector_sync_started",
			schemas.TypeSyncCompleted:    "connector_synced",
			schemas.TypeSyncFailed:       "connector_sync_error",
			schemas.TypeEmployeeCreated:  "employee_data_changed",
			schemas.TypeEmployeeUpdated:  "employee_data_changed",
			schemas.TypeEmployeeDeleted:  "employee_data_changed",
			schemas.TypeDataModelChanged: "connector_data_modified",
		},
	},
	"trutac": {
		Name: "trutac", Vendor: "TruTac", Signature: "trutac", IncludePayload: true, SigningKey: SigningKeyWebhook,
		Description: `TruTac: {"action": ..., "<entity>": {...camelCase}}, TT-Hook-Event: clocking (or ping, on creation), ` +
			"signed in TT-Hook-Signature (sha1=).",
		Transform: program("trutac"),
		EventNames: func() Names {
			n := familyNames()
			n[schemas.TypeWebhookPing] = "ping"
			n[schemas.TypeWebhookTest] = "ping"
			return n
		}(),
	},
	"teal": {
		Name: "teal", Vendor: "Teal", Signature: "teal", IncludePayload: false, SigningKey: SigningKeyWebhook,
		Description: "Teal: user-payroll-submitted with the user's ids, the payroll entry under payload only when " +
			"include_payload is set, signed in X-Teal-Signature (HMAC-SHA512).",
		Transform:  program("teal"),
		EventNames: Names{schemas.TypePayrollSubmitted: "user-payroll-submitted"},
	},
}

// LookupProfile returns the profile of that name.
func LookupProfile(name string) (*Profile, bool) {
	p, ok := profiles[name]
	return p, ok
}

// Profiles returns every profile, by name.
func Profiles() []*Profile {
	out := slices.Collect(maps.Values(profiles))
	slices.SortFunc(out, func(a, b *Profile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ProfileNames lists the profiles' names, sorted.
func ProfileNames() []string { return slices.Sorted(maps.Keys(profiles)) }

// Names maps catalog types to the names a receiver expects.
type Names map[string]string

// Of returns typ's name: its entry, or typ itself.
func (n Names) Of(typ string) string {
	if name, ok := n[typ]; ok {
		return name
	}
	return typ
}

// Types returns the catalog types named name, sorted; none when no entry
// has that name.
func (n Names) Types(name string) []string {
	var out []string
	for typ, v := range n {
		if v == name {
			out = append(out, typ)
		}
	}
	slices.Sort(out)
	return out
}

// Over returns n with over's entries put over it.
func (n Names) Over(over map[string]string) Names {
	if len(over) == 0 {
		return n
	}
	out := make(Names, len(n)+len(over))
	maps.Copy(out, n)
	maps.Copy(out, over)
	return out
}

// Settings are a webhook's effective dialect settings: its own, or its
// profile's where it has none.
type Settings struct {
	Transform     string
	Filter        string
	Names         Names
	RetrySchedule []time.Duration
}

// SettingsOf resolves w's settings over its profile.
func SettingsOf(w *schemas.Webhook) Settings {
	s := Settings{Transform: w.Transform, Filter: w.Filter, RetrySchedule: w.RetrySchedule}
	var names Names
	if p, ok := profiles[w.Profile]; ok {
		s.Transform = cmp.Or(s.Transform, p.Transform)
		if s.RetrySchedule == nil {
			s.RetrySchedule = p.RetrySchedule
		}
		names = p.EventNames
	}
	s.Names = names.Over(w.EventNames)
	return s
}
