package schemas

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// fullValid is the full validator's verdict, the reference of the fast path.
func fullValid(e *catalogEntry, data []byte) bool {
	doc, err := decodeJSON(data)
	return err == nil && e.compiled.Validate(doc) == nil
}

// catalogExamples are the data of the golden events, by type.
func catalogExamples(t testing.TB) map[string][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var ev struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(raw, &ev), f)
		out[ev.Type] = []byte(ev.Data)
	}
	require.NotEmpty(t, out)
	return out
}

func builtIn(t testing.TB) []*catalogEntry {
	var out []*catalogEntry
	for name := range catalogExamples(t) {
		e := (*catalog.Load())[name]
		require.NotNil(t, e, name)
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *catalogEntry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Every built-in schema takes the fast path, and its example passes it: a
// schema edited to use a keyword the fast path lacks would silently make
// every event of its type four times slower to validate.
func TestQuickCoversTheCatalog(t *testing.T) {
	t.Parallel()
	examples := catalogExamples(t)
	for _, e := range builtIn(t) {
		require.NotNil(t, e.quick, "%s: its schema uses a keyword the fast path lacks (quick.go)", e.Name)
		require.True(t, e.quick.valid(examples[e.Name]), "%s: the example takes the slow path", e.Name)
		require.True(t, fullValid(e, examples[e.Name]), e.Name)
	}
}

func TestQuickRefusesWhatItDoesNotImplement(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`, // format asserts there
		`{"type":"object","additionalProperties":false}`,
		`{"properties":{"a":{"pattern":"^x"}}}`,
		`{"properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{}}}`,
		`{"anyOf":[{"type":"string"}]}`,
		`{"properties":{"a":true}}`,
		`{"items":[{"type":"string"}]}`,
		`{"type":"text"}`,
		`{"type":[]}`,
		`{"minimum":1.5}`,
		`{"minLength":-1}`,
		`{"enum":[1,"a"]}`,
		`{"required":["a","a"]}`,
		`{"properties":{"a":{"$id":"x"}}}`,
		`true`,
	} {
		require.Nil(t, quickOf(t, schema), schema)
	}
	require.NotNil(t, quickOf(t, `{}`))
	require.NotNil(t, quickOf(t, `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":["string","null"],"format":"date-time"}`))
}

// quickOf compiles a schema for the fast path as the catalog does.
func quickOf(t *testing.T, schema string) *quickSchema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	require.NoError(t, err, schema)
	return compileQuick(doc)
}

// The fast path decides some documents by itself, both ways.
func TestQuickDecides(t *testing.T) {
	t.Parallel()
	q := quickOf(t, `{"type":"object","required":["n","s"],"properties":{
		"n":{"type":"integer","minimum":1},"s":{"type":"string","minLength":2,"enum":["ab","cd","é!"]},
		"l":{"type":"array","items":{"type":["string","null"]}},"b":{"type":"boolean"},"f":{"type":"number"}}}`)
	require.NotNil(t, q)
	for doc, want := range map[string]bool{
		`{"n":1,"s":"ab"}`: true,
		`{"s":"é!","n":9223372036,"x":[{"y":[1,{}]}]}`:       true,
		`{"n":1,"s":"ab","l":["x",null],"b":false,"f":-2.5}`: true,
		` {"n":1,"s":"ab"} `:                                 true,
		`{"n":1}`:                                            false, // s is required
		`{"n":0,"s":"ab"}`:                                   false, // minimum
		`{"n":1.5,"s":"ab"}`:                                 false,
		`{"n":1,"s":"ef"}`:                                   false, // enum
		`{"n":1,"s":"ab","l":[1]}`:                           false,
		`{"n":1,"s":"ab","b":"true"}`:                        false,
		`{"n":1,"s":"ab",}`:                                  false, // invalid JSON
		`{"n":1,"s":"ab"}{}`:                                 false,
		`[]`:                                                 false,
		// Not sure: left to the full validator.
		`{"n":1.0,"s":"ab"}`:                  false,
		`{"n":1,"s":"a\u0062"}`:               false,
		`{"n":1,"\u0073":"ab"}`:               false,
		`{"n":1,"s":"x","s":"ab"}`:            false,
		`{"n":1e2,"s":"ab"}`:                  false,
		`{"n":12345678901234567890,"s":"ab"}`: false,
	} {
		require.Equal(t, want, q.valid([]byte(doc)), doc)
	}
}

// quickMutations are values put in place of others to make documents the
// fast path must judge: other types, edges of the catalog's minimums and
// minLengths, numbers it leaves to the full validator, escapes.
var quickMutations = []string{
	`null`, `true`, `false`, `0`, `1`, `-1`, `-0`, `1.0`, `0.5`, `1e2`, `-1e-2`, `123456789012345678901234567890`,
	`-9223372036854775809`, `""`, `"x"`, `"é"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\ud800"`, `"a\"b"`, `"active"`,
	`[]`, `[1]`, `[{}]`, `[{"id":""}]`, `[{"id":"x"}]`, `[{"id":"\u0000"}]`, `{}`, `{"code":""}`, `{"code":"E"}`,
}

// mutate returns doc with one value, key or piece of text changed.
func mutate(r *rand.Rand, doc []byte) []byte {
	if len(doc) == 0 {
		return doc
	}
	var v any
	if r.IntN(8) == 0 || json.Unmarshal(doc, &v) != nil {
		// Text edits: mostly invalid JSON, sometimes a duplicate key.
		b := slices.Clone(doc)
		i := r.IntN(len(b))
		switch r.IntN(3) {
		case 0:
			b[i] = `{}[],:"\ 01-.eé`[r.IntN(16)]
		case 1:
			b = slices.Delete(b, i, i+1)
		default:
			if b[0] == '{' && len(b) > 2 {
				keys := []string{"id", "webhook_counter", "records", "sync_session_id", "hrms", "status", "code"}
				dup := `"` + keys[r.IntN(len(keys))] + `":` + quickMutations[r.IntN(len(quickMutations))] + ","
				b = slices.Insert(b, 1, []byte(dup)...)
			}
		}
		return b
	}
	v = mutateValue(r, v)
	out, _ := json.Marshal(v)
	return out
}

func mutateValue(r *rand.Rand, v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 || r.IntN(4) == 0 {
			break
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		k := keys[r.IntN(len(keys))]
		switch r.IntN(6) {
		case 0:
			delete(x, k)
		case 1:
			x["extra_"+k] = x[k]
		default:
			x[k] = mutateValue(r, x[k])
		}
		return x
	case []any:
		if len(x) == 0 || r.IntN(4) == 0 {
			break
		}
		i := r.IntN(len(x))
		x[i] = mutateValue(r, x[i])
		return x
	}
	var m any
	_ = json.Unmarshal([]byte(quickMutations[r.IntN(len(quickMutations))]), &m)
	return m
}

// The fast path never accepts what the full validator rejects, over
// thousands of mutations of every built-in example (FuzzQuickSchema goes
// further); and it still decides most of the valid ones itself.
func TestQuickNeverAcceptsWhatTheValidatorRejects(t *testing.T) {
	t.Parallel()
	examples := catalogExamples(t)
	r := rand.New(rand.NewPCG(7, 11))
	var valid, quick int
	for _, e := range builtIn(t) {
		for range 2000 {
			doc := examples[e.Name]
			for range 1 + r.IntN(3) {
				doc = mutate(r, doc)
			}
			if len(doc) == 0 {
				continue
			}
			full := fullValid(e, doc)
			if e.quick.valid(doc) {
				quick++
				require.True(t, full, "%s: the fast path accepted what the validator rejects: %s", e.Name, doc)
			}
			if full {
				valid++
			}
		}
	}
	require.Greater(t, quick, valid/2, "the fast path decides most valid documents (%d of %d)", quick, valid)
}

func FuzzQuickSchema(f *testing.F) {
	entries := builtIn(f)
	examples := catalogExamples(f)
	for i, e := range entries {
		f.Add(uint8(i), examples[e.Name])
	}
	f.Add(uint8(0), []byte(`{"n":1.0}`))
	f.Fuzz(func(t *testing.T, typ uint8, doc []byte) {
		e := entries[int(typ)%len(entries)]
		if e.quick.valid(doc) && !fullValid(e, doc) {
			t.Fatalf("%s: the fast path accepted what the validator rejects: %q", e.Name, doc)
		}
	})
}

// BenchmarkValidate is what the producer spends checking one event: a page
// of three employee records, about 1 KiB of data; full-validator is what
// an event takes whose schema the fast path does not cover, or that it is
// not sure of.
func BenchmarkValidate(b *testing.B) {
	recs := make([]Employee, 3)
	for j := range recs {
		recs[j] = Employee{ID: "emp_1_" + string(rune('0'+j)), RemoteID: "D-000042", FirstName: "Asha",
			LastName: "Krishnamurthy", Email: "asha@acme-india.example", EmploymentStatus: "active",
			JobTitle: "Senior Software Engineer", Department: "Platform Engineering", ManagerID: "emp_manager_0042",
			StartDate: "2021-04-01"}
	}
	data, err := json.Marshal(EmployeeData{SyncSessionID: "ss_bench", HRMS: "darwinbox", WebhookCounter: 1,
		RecordCount: len(recs), Records: recs})
	require.NoError(b, err)
	ev := Event{ID: "evt_0190f1a2b3c4", Type: TypeEmployeeUpdated, TenantID: "acme", OrgID: "org_42",
		OccurredAt: time.Now(), Data: data}
	b.Run("fast-path", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := Validate(&ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full-validator", func(b *testing.B) {
		e := (*catalog.Load())[TypeEmployeeUpdated]
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if !fullValid(e, data) {
				b.Fatal("invalid")
			}
		}
	})
}
