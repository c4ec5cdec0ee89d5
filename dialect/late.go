package dialect

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"

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
	return p.fill(p.template(out), in)
}

// template is a per-event output cut at its placeholders, so that each
// delivery's body is made in one pass, not searched again.
type template struct {
	out  []byte
	cuts []cut // in the order they appear
}

type cut struct {
	at, n int // where the placeholder is in out, and its length
	late  int // which of the program's late paths
}

// template finds where out holds the program's placeholders.
func (p *Program) template(out []byte) template {
	t := template{out: out}
	for i, l := range p.late {
		for from := 0; ; {
			j := bytes.Index(out[from:], l.placeholder)
			if j < 0 {
				break
			}
			t.cuts = append(t.cuts, cut{at: from + j, n: len(l.placeholder), late: i})
			from += j + len(l.placeholder)
		}
	}
	slices.SortFunc(t.cuts, func(a, b cut) int { return a.at - b.at })
	return t
}

// fill is t with the delivery's values in place of its placeholders; t's
// own bytes when it has none.
func (p *Program) fill(t template, in *Input) []byte {
	if len(t.cuts) == 0 {
		return t.out
	}
	values := make([][]byte, len(p.late))
	size := len(t.out)
	for _, c := range t.cuts {
		if values[c.late] == nil {
			values[c.late], _ = gojq.Marshal(lateValues[p.late[c.late].path](in))
		}
		size += len(values[c.late]) - c.n
	}
	out := make([]byte, 0, size)
	last := 0
	for _, c := range t.cuts {
		out = append(out, t.out[last:c.at]...)
		out = append(out, values[c.late]...)
		last = c.at + c.n
	}
	return append(out, t.out[last:]...)
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
