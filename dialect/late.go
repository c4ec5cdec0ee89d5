package dialect

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"

	"github.com/itchyny/gojq"
)

// A transform's output may take values whole from .webhook and .delivery,
// as in {requestId: .delivery.id}: Tartan's and Bindbee's bodies do. Such a
// value is not looked at by the rest of the program, so the program can run
// once per event with a placeholder in its place, and each delivery's body
// is that output with the placeholder replaced. This holds only for values
// of the object literals the program ends with (possibly added together,
// possibly after bindings such as `.event as $e | ...`), nested in object
// literals only: nothing runs on them after they are placed.

// latePath is one such value.
type latePath struct {
	path        string // "delivery.id"
	placeholder []byte // the placeholder as it appears in the output's JSON
}

// lateValues are the values a transform's output may take late, by path.
var lateValues = map[string]func(in *Input) any{
	"delivery.id":      func(in *Input) any { return in.Delivery.ID },
	"delivery.attempt": func(in *Input) any { return in.Delivery.Attempt },
	"webhook.id":       func(in *Input) any { return in.Webhook.ID },
	"webhook.name":     func(in *Input) any { return in.Webhook.Name },
	"webhook.url":      func(in *Input) any { return in.Webhook.URL },
	"webhook.org_ids":  func(in *Input) any { return stringsToAny(in.Webhook.OrgIDs) },
}

// placeholderToken makes placeholders no event can contain by chance; it is
// new in every process.
var placeholderToken = func() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

func placeholder(path string) string { return "\x00hookstream-late:" + placeholderToken + ":" + path }

// bindLate replaces, in q's final object literals, every value that is a
// late path by its placeholder, and returns the paths replaced.
func bindLate(q *gojq.Query) []latePath {
	var out []latePath
	seen := map[string]bool{}
	var tail func(q *gojq.Query)
	var object func(o *gojq.Object)
	tail = func(q *gojq.Query) {
		switch {
		case q == nil:
		case q.Term != nil:
			if len(q.Term.SuffixList) > 0 {
				return
			}
			switch q.Term.Type {
			case gojq.TermTypeObject:
				object(q.Term.Object)
			case gojq.TermTypeQuery:
				tail(q.Term.Query)
			}
		case q.Op == gojq.OpPipe && len(q.Patterns) > 0: // E as $x | body
			tail(q.Right)
		case q.Op == gojq.OpAdd: // object + object
			tail(q.Left)
			tail(q.Right)
		}
	}
	object = func(o *gojq.Object) {
		for _, kv := range o.KeyVals {
			if kv.Val == nil {
				continue
			}
			if path, ok := latePathOf(kv.Val); ok {
				ph := placeholder(path)
				kv.Val = &gojq.Query{Term: &gojq.Term{Type: gojq.TermTypeString, Str: &gojq.String{Str: ph}}}
				if !seen[path] {
					seen[path] = true
					enc, _ := gojq.Marshal(ph)
					out = append(out, latePath{path: path, placeholder: enc})
				}
				continue
			}
			if t := kv.Val.Term; t != nil && t.Type == gojq.TermTypeObject && len(t.SuffixList) == 0 {
				object(t.Object)
			}
		}
	}
	tail(q)
	return out
}

// latePathOf reports whether q is exactly .webhook.<x> or .delivery.<x> for
// a late value.
func latePathOf(q *gojq.Query) (string, bool) {
	t := q.Term
	if t == nil || t.Type != gojq.TermTypeIndex || t.Index.Name == "" || len(t.SuffixList) != 1 {
		return "", false
	}
	s := t.SuffixList[0]
	if s.Index == nil || s.Iter || s.Optional || s.Index.Name == "" {
		return "", false
	}
	path := t.Index.Name + "." + s.Index.Name
	_, ok := lateValues[path]
	return path, ok
}

// Bind fills a per-event output with the delivery's late values; it returns
// out itself when the program takes none.
func (p *Program) Bind(out []byte, in *Input) []byte {
	for _, l := range p.late {
		v, _ := gojq.Marshal(lateValues[l.path](in))
		out = bytes.ReplaceAll(out, l.placeholder, v)
	}
	return out
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
