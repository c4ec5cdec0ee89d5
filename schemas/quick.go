package schemas

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	segjson "github.com/segmentio/encoding/json"
)

// quickSchema is a JSON Schema compiled for one pass over the JSON text,
// without building the document: the fast path of Validate, for the
// keywords the catalog's schemas use (type, properties, required, items,
// minLength, minimum, string enum, and the annotations). It only answers
// "certainly valid": whenever it is not sure (an escaped string it would
// have to measure, a number written 1.0, a duplicate key...) it says no,
// and Validate runs the full validator (santhosh-tekuri/jsonschema), which
// decides and names the field. A schema using any other keyword compiles to
// nil and always takes the full validator. FuzzQuickSchema checks that what
// the fast path accepts, the full validator accepts.
//
// On a page of three employee records it takes a fifth of the time of the
// full validator and allocates nothing (BenchmarkValidate).
type quickSchema struct {
	types     typeSet // zero: any type
	props     map[string]*quickSchema
	required  []string // at most maxRequired
	items     *quickSchema
	minLength int
	minimum   *int64
	enum      []string // nil: no enum
}

// typeSet is a set of JSON Schema types.
type typeSet uint8

const (
	tNull typeSet = 1 << iota
	tBoolean
	tInteger
	tNumber // includes integers
	tString
	tArray
	tObject
)

var typeNames = map[string]typeSet{
	"null": tNull, "boolean": tBoolean, "integer": tInteger, "number": tNumber,
	"string": tString, "array": tArray, "object": tObject,
}

func (s typeSet) allows(t typeSet) bool { return s == 0 || s&t != 0 }

// maxRequired bounds a required list (a bit each while an object is read).
const maxRequired = 64

// draft2020 is the only dialect the fast path knows; format is an
// annotation there (the full validator asserts it in drafts before 2019).
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// compileQuick compiles a schema document, as jsonschema.UnmarshalJSON
// decodes it (numbers as json.Number), for the fast path, or returns nil
// when it uses anything the fast path does not implement.
func compileQuick(doc any) *quickSchema {
	root, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	if s, ok := root["$schema"]; ok && s != draft2020 && s != draft2020+"#" {
		return nil
	}
	q, ok := quickFrom(root, true)
	if !ok {
		return nil
	}
	return q
}

// quickFrom compiles one schema object; ok is false if it uses a keyword the
// fast path does not implement.
func quickFrom(v any, root bool) (q *quickSchema, ok bool) {
	doc, isObject := v.(map[string]any)
	if !isObject {
		return nil, false // boolean schemas and the like
	}
	q = &quickSchema{}
	for k, v := range doc {
		switch k {
		case "title", "description", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly", "format",
			"x-thin-fields":
			// annotations
		case "$schema", "$id":
			if !root {
				return nil, false // a new resource or dialect inside
			}
		case "type":
			if q.types, ok = typesFrom(v); !ok {
				return nil, false
			}
		case "properties":
			props, isMap := v.(map[string]any)
			if !isMap {
				return nil, false
			}
			q.props = make(map[string]*quickSchema, len(props))
			for name, sub := range props {
				if q.props[name], ok = quickFrom(sub, false); !ok {
					return nil, false
				}
			}
		case "required":
			names, isList := v.([]any)
			if !isList || len(names) > maxRequired {
				return nil, false
			}
			for _, n := range names {
				s, isString := n.(string)
				if !isString || slices.Contains(q.required, s) {
					return nil, false
				}
				q.required = append(q.required, s)
			}
		case "items":
			if q.items, ok = quickFrom(v, false); !ok {
				return nil, false
			}
		case "minLength":
			n, isInt := intFrom(v)
			if !isInt || n < 0 || n > 1<<20 {
				return nil, false
			}
			q.minLength = int(n)
		case "minimum":
			n, isInt := intFrom(v)
			if !isInt {
				return nil, false
			}
			q.minimum = &n
		case "enum":
			values, isList := v.([]any)
			if !isList {
				return nil, false
			}
			q.enum = make([]string, 0, len(values))
			for _, e := range values {
				s, isString := e.(string)
				if !isString {
					return nil, false
				}
				q.enum = append(q.enum, s)
			}
		default:
			return nil, false
		}
	}
	return q, true
}

func typesFrom(v any) (typeSet, bool) {
	var names []any
	switch v := v.(type) {
	case string:
		names = []any{v}
	case []any:
		names = v
	default:
		return 0, false
	}
	var set typeSet
	for _, n := range names {
		s, _ := n.(string)
		t, known := typeNames[s]
		if !known {
			return 0, false
		}
		set |= t
	}
	if set == 0 {
		return 0, false // "type": [] allows nothing
	}
	return set, true
}

func intFrom(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

// valid reports whether data is certainly valid JSON that the schema
// accepts; false means "not sure".
func (q *quickSchema) valid(data []byte) bool {
	if !segjson.Valid(data) { // the tokenizer alone is lenient
		return false
	}
	var t segjson.Tokenizer
	t.Reset(data)
	return t.Next() && q.value(&t) && t.Err == nil
}

// value checks the value the tokenizer is on and moves past it. A nil
// schema (a property or items without one) accepts anything.
func (q *quickSchema) value(t *segjson.Tokenizer) bool {
	if q == nil {
		return skip(t)
	}
	switch t.Delim {
	case '{':
		return q.types.allows(tObject) && q.object(t)
	case '[':
		return q.types.allows(tArray) && q.array(t)
	}
	switch k := t.Kind(); k.Class() {
	case segjson.Null:
		return q.types.allows(tNull) && q.enum == nil
	case segjson.Bool:
		return q.types.allows(tBoolean) && q.enum == nil
	case segjson.Num:
		// 1.0 and 1e2 are integers to JSON Schema: left to the full
		// validator, as are numbers too long to compare here.
		isInt := (k == segjson.Uint || k == segjson.Int) && len(t.Value) <= 18
		if q.enum != nil || !(q.types.allows(tNumber) || isInt && q.types&tInteger != 0) {
			return false
		}
		if q.minimum != nil {
			return isInt && t.Int() >= *q.minimum
		}
		return true
	case segjson.String:
		if !q.types.allows(tString) {
			return false
		}
		if q.minLength == 0 && q.enum == nil {
			return true
		}
		raw := t.Value[1 : len(t.Value)-1]
		if bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
			return false // measured and compared decoded, by the full validator
		}
		if utf8.RuneCount(raw) < q.minLength {
			return false
		}
		return q.enum == nil || slices.Contains(q.enum, string(raw))
	}
	return false
}

// object checks an object, the tokenizer on its '{', and moves past its '}'.
func (q *quickSchema) object(t *segjson.Tokenizer) bool {
	if q.enum != nil {
		return false
	}
	var seen uint64
	for t.Next() {
		switch t.Delim {
		case '}':
			return seen == 1<<len(q.required)-1
		case ',':
			continue
		}
		if !t.IsKey || bytes.IndexByte(t.Value, '\\') >= 0 {
			return false // an escaped key is matched decoded, by the full validator
		}
		name := t.Value[1 : len(t.Value)-1]
		for i, r := range q.required {
			if r == string(name) {
				seen |= 1 << i
			}
		}
		sub := q.props[string(name)]
		if !t.Next() || t.Delim != ':' || !t.Next() {
			return false
		}
		// A key seen twice has both values checked here (the full
		// validator checks the last): stricter, never more lenient.
		if !sub.value(t) {
			return false
		}
	}
	return false
}

// array checks an array, the tokenizer on its '[', and moves past its ']'.
func (q *quickSchema) array(t *segjson.Tokenizer) bool {
	if q.enum != nil {
		return false
	}
	for t.Next() {
		switch t.Delim {
		case ']':
			return true
		case ',':
			continue
		}
		if !q.items.value(t) {
			return false
		}
	}
	return false
}

// skip moves past the value the tokenizer is on (the text is valid JSON).
func skip(t *segjson.Tokenizer) bool {
	if t.Delim != '{' && t.Delim != '[' {
		return true
	}
	for depth := 1; depth > 0; {
		if !t.Next() {
			return false
		}
		switch t.Delim {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return true
}
