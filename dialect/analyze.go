package dialect

import (
	"strconv"

	"github.com/itchyny/gojq"
)

// This file decides, from a program's syntax, whether its output depends
// only on the event: then it runs once per event, not once per delivery.
// The analysis is conservative: it may call a program per delivery that
// is not, never the reverse.
//
// At the top of a program "." is the input object. A program reads only
// the event when, wherever "." is that object, it is used only as .event,
// .event_name (or .["event"]) or .webhook.include_payload. Anything derived from those (the right side
// of a pipe, a reduce's update, a variable bound to them) is free to use its
// own "." as it likes.

// eventKeys are the input's keys a per-event program may read.
var eventKeys = map[string]bool{"event": true, "event_name": true}

// inputBlind are builtins (name/arity) whose output does not depend on
// their input, and whose arguments see the caller's input. Any other
// builtin called where "." is the input object reads it.
var inputBlind = map[string]bool{
	"empty/0": true, "error/1": true, "now/0": true, "infinite/0": true, "nan/0": true,
	"range/1": true, "range/2": true, "range/3": true,
	"limit/2": true, "skip/2": true, "first/1": true, "last/1": true, "nth/2": true, "isempty/1": true,
	"add/1": true, "any/2": true, "all/2": true, "input_line_number/0": true, "builtins/0": true,
}

// analyzer walks one program.
type analyzer struct {
	defs map[string][]*gojq.FuncDef // every definition, by name/arity
	// visiting are the definitions being analysed with the input object
	// as ".": a recursive call assumes they are fine, which their own
	// analysis then decides.
	visiting map[*gojq.FuncDef]bool
}

// readsOnlyEvent reports whether q reads its input only through .event and
// .event_name.
func readsOnlyEvent(q *gojq.Query) bool {
	a := &analyzer{defs: map[string][]*gojq.FuncDef{}, visiting: map[*gojq.FuncDef]bool{}}
	a.collect(q)
	return a.query(q, nil)
}

func funcKey(name string, arity int) string { return name + "/" + strconv.Itoa(arity) }

// collect records every function definition in q.
func (a *analyzer) collect(q *gojq.Query) {
	walkQueries(q, func(q *gojq.Query) {
		for _, fd := range q.FuncDefs {
			k := funcKey(fd.Name, len(fd.Args))
			a.defs[k] = append(a.defs[k], fd)
		}
	})
}

// query reports whether q, run with the input object as ".", uses it only
// through the event keys. params are the closure parameters in scope (a
// call to one runs an argument already checked where it was given).
func (a *analyzer) query(q *gojq.Query, params map[string]bool) bool {
	if q == nil {
		return true
	}
	if q.Term != nil {
		return a.term(q.Term, params)
	}
	switch q.Op {
	case gojq.OpPipe:
		if len(q.Patterns) > 0 {
			// E as $x | body: the body keeps the input as ".".
			return a.query(q.Left, params) && a.patterns(q.Patterns, params) && a.query(q.Right, params)
		}
		// The right side's "." is the left side's output: derived from
		// the event when the left side is fine.
		return a.query(q.Left, params)
	case gojq.OpAssign, gojq.OpModify, gojq.OpUpdateAdd, gojq.OpUpdateSub, gojq.OpUpdateMul,
		gojq.OpUpdateDiv, gojq.OpUpdateMod, gojq.OpUpdateAlt:
		return false // outputs the input object, changed
	default:
		return a.query(q.Left, params) && a.query(q.Right, params)
	}
}

func (a *analyzer) patterns(ps []*gojq.Pattern, params map[string]bool) bool {
	for _, p := range ps {
		if !a.pattern(p, params) {
			return false
		}
	}
	return true
}

func (a *analyzer) pattern(p *gojq.Pattern, params map[string]bool) bool {
	for _, e := range p.Array {
		if !a.pattern(e, params) {
			return false
		}
	}
	for _, o := range p.Object {
		if (o.KeyString != nil && !a.str(o.KeyString, params)) || !a.query(o.KeyQuery, params) {
			return false
		}
		if o.Val != nil && !a.pattern(o.Val, params) {
			return false
		}
	}
	return true
}

func (a *analyzer) term(t *gojq.Term, params map[string]bool) bool {
	if !a.suffixes(t.SuffixList, params) {
		return false
	}
	switch t.Type {
	case gojq.TermTypeIdentity, gojq.TermTypeRecurse:
		return false
	case gojq.TermTypeNull, gojq.TermTypeTrue, gojq.TermTypeFalse, gojq.TermTypeNumber, gojq.TermTypeBreak:
		return true
	case gojq.TermTypeIndex:
		return eventIndex(t.Index) || includePayload(t)
	case gojq.TermTypeFunc:
		return a.call(t.Func, params)
	case gojq.TermTypeObject:
		for _, kv := range t.Object.KeyVals {
			if kv.Val == nil { // {event}, {$x}, {"event"}: shorthand for .event
				switch {
				case len(kv.Key) > 0 && kv.Key[0] == '$':
				case kv.Key != "" && eventKeys[kv.Key]:
				case kv.KeyString != nil && kv.KeyString.Queries == nil && eventKeys[kv.KeyString.Str]:
				default:
					return false
				}
				continue
			}
			if (kv.KeyString != nil && !a.str(kv.KeyString, params)) || !a.query(kv.KeyQuery, params) || !a.query(kv.Val, params) {
				return false
			}
		}
		return true
	case gojq.TermTypeArray:
		return t.Array == nil || a.query(t.Array.Query, params)
	case gojq.TermTypeUnary:
		return a.term(t.Unary.Term, params)
	case gojq.TermTypeFormat:
		return t.Str != nil && a.str(t.Str, params) // a bare @base64 formats "."
	case gojq.TermTypeString:
		return a.str(t.Str, params)
	case gojq.TermTypeIf:
		if !a.query(t.If.Cond, params) || !a.query(t.If.Then, params) || !a.query(t.If.Else, params) {
			return false
		}
		for _, e := range t.If.Elif {
			if !a.query(e.Cond, params) || !a.query(e.Then, params) {
				return false
			}
		}
		return true
	case gojq.TermTypeTry:
		// The catch's "." is the error, but it is checked as if it were
		// the input: simpler, and errors rarely matter here.
		return a.query(t.Try.Body, params) && a.query(t.Try.Catch, params)
	case gojq.TermTypeReduce:
		// The update's "." is the accumulator, which starts from Start.
		return a.query(t.Reduce.Query, params) && a.patterns(t.Reduce.Patterns, params) && a.query(t.Reduce.Start, params)
	case gojq.TermTypeForeach:
		return a.query(t.Foreach.Query, params) && a.patterns(t.Foreach.Patterns, params) && a.query(t.Foreach.Start, params)
	case gojq.TermTypeLabel:
		return a.query(t.Label.Body, params)
	case gojq.TermTypeQuery:
		return a.query(t.Query, params)
	}
	return false
}

// suffixes checks the index expressions of .x[e], which see the term's
// input, not the value indexed.
func (a *analyzer) suffixes(ss []*gojq.Suffix, params map[string]bool) bool {
	for _, s := range ss {
		if s.Index != nil && !a.indexExprs(s.Index, params) {
			return false
		}
	}
	return true
}

func (a *analyzer) indexExprs(ix *gojq.Index, params map[string]bool) bool {
	return (ix.Str == nil || a.str(ix.Str, params)) && a.query(ix.Start, params) && a.query(ix.End, params)
}

// eventIndex reports whether ix, applied to the input object, is .event or
// .event_name (also spelt .["event"]).
func eventIndex(ix *gojq.Index) bool {
	switch {
	case ix.IsSlice || ix.End != nil:
		return false
	case ix.Name != "":
		return eventKeys[ix.Name]
	case ix.Str != nil:
		return ix.Str.Queries == nil && eventKeys[ix.Str.Str]
	case ix.Start != nil:
		s, ok := constString(ix.Start)
		return ok && eventKeys[s]
	}
	return false
}

// includePayload reports whether t is .webhook.include_payload, which a
// per-event program may read: its output is kept per event and per
// include_payload setting (the event it sees differs by it anyway).
func includePayload(t *gojq.Term) bool {
	if t.Index.Name != "webhook" || len(t.SuffixList) == 0 {
		return false
	}
	s := t.SuffixList[0]
	return s.Index != nil && s.Index.Name == "include_payload"
}

// constString returns the value of a query that is a plain string literal.
func constString(q *gojq.Query) (string, bool) {
	if q == nil || q.Term == nil || q.Term.Type != gojq.TermTypeString || len(q.Term.SuffixList) > 0 || q.Term.Str.Queries != nil {
		return "", false
	}
	return q.Term.Str.Str, true
}

func (a *analyzer) str(s *gojq.String, params map[string]bool) bool {
	for _, q := range s.Queries {
		if !a.query(q, params) {
			return false
		}
	}
	return true
}

// call checks a function called with the input object as ".".
func (a *analyzer) call(f *gojq.Func, params map[string]bool) bool {
	for _, arg := range f.Args {
		if !a.query(arg, params) {
			return false
		}
	}
	if len(f.Args) == 0 && params[f.Name] {
		return true // a closure parameter: its argument was checked
	}
	if len(f.Name) > 0 && f.Name[0] == '$' {
		return true // a variable ($x, $__loc__)
	}
	defs, own := a.defs[funcKey(f.Name, len(f.Args))]
	if !own {
		return inputBlind[funcKey(f.Name, len(f.Args))]
	}
	// Which definition a name refers to depends on scope; checking every
	// definition of that name and arity is enough.
	for _, fd := range defs {
		if a.visiting[fd] {
			continue
		}
		a.visiting[fd] = true
		inner := make(map[string]bool, len(params)+len(fd.Args))
		for k := range params {
			inner[k] = true
		}
		for _, p := range fd.Args {
			if len(p) > 0 && p[0] == '$' {
				inner[p[1:]] = true // def f($a) also defines a as a function
			} else {
				inner[p] = true
			}
		}
		ok := a.query(fd.Body, inner)
		delete(a.visiting, fd)
		if !ok {
			return false
		}
	}
	return true
}

// eachTerm calls fn with every term in q: those of its queries and of
// their unary operators (-x).
func eachTerm(q *gojq.Query, fn func(*gojq.Term)) {
	walkQueries(q, func(q *gojq.Query) {
		for t := q.Term; t != nil; {
			fn(t)
			if t.Unary == nil {
				break
			}
			t = t.Unary.Term
		}
	})
}

// walkQueries calls fn with q and every query inside it.
func walkQueries(q *gojq.Query, fn func(*gojq.Query)) {
	if q == nil {
		return
	}
	fn(q)
	for _, fd := range q.FuncDefs {
		walkQueries(fd.Body, fn)
	}
	walkQueries(q.Left, fn)
	walkQueries(q.Right, fn)
	for _, p := range q.Patterns {
		walkPattern(p, fn)
	}
	walkTerm(q.Term, fn)
}

func walkPattern(p *gojq.Pattern, fn func(*gojq.Query)) {
	for _, e := range p.Array {
		walkPattern(e, fn)
	}
	for _, o := range p.Object {
		walkString(o.KeyString, fn)
		walkQueries(o.KeyQuery, fn)
		if o.Val != nil {
			walkPattern(o.Val, fn)
		}
	}
}

func walkString(s *gojq.String, fn func(*gojq.Query)) {
	if s == nil {
		return
	}
	for _, q := range s.Queries {
		walkQueries(q, fn)
	}
}

func walkIndex(ix *gojq.Index, fn func(*gojq.Query)) {
	if ix == nil {
		return
	}
	walkString(ix.Str, fn)
	walkQueries(ix.Start, fn)
	walkQueries(ix.End, fn)
}

func walkTerm(t *gojq.Term, fn func(*gojq.Query)) {
	if t == nil {
		return
	}
	walkIndex(t.Index, fn)
	for _, s := range t.SuffixList {
		walkIndex(s.Index, fn)
	}
	if t.Func != nil {
		for _, a := range t.Func.Args {
			walkQueries(a, fn)
		}
	}
	if t.Object != nil {
		for _, kv := range t.Object.KeyVals {
			walkString(kv.KeyString, fn)
			walkQueries(kv.KeyQuery, fn)
			walkQueries(kv.Val, fn)
		}
	}
	if t.Array != nil {
		walkQueries(t.Array.Query, fn)
	}
	if t.Unary != nil {
		walkTerm(t.Unary.Term, fn)
	}
	walkString(t.Str, fn)
	if t.If != nil {
		walkQueries(t.If.Cond, fn)
		walkQueries(t.If.Then, fn)
		for _, e := range t.If.Elif {
			walkQueries(e.Cond, fn)
			walkQueries(e.Then, fn)
		}
		walkQueries(t.If.Else, fn)
	}
	if t.Try != nil {
		walkQueries(t.Try.Body, fn)
		walkQueries(t.Try.Catch, fn)
	}
	if t.Reduce != nil {
		walkQueries(t.Reduce.Query, fn)
		for _, p := range t.Reduce.Patterns {
			walkPattern(p, fn)
		}
		walkQueries(t.Reduce.Start, fn)
		walkQueries(t.Reduce.Update, fn)
	}
	if t.Foreach != nil {
		walkQueries(t.Foreach.Query, fn)
		for _, p := range t.Foreach.Patterns {
			walkPattern(p, fn)
		}
		walkQueries(t.Foreach.Start, fn)
		walkQueries(t.Foreach.Update, fn)
		walkQueries(t.Foreach.Extract, fn)
	}
	if t.Label != nil {
		walkQueries(t.Label.Body, fn)
	}
	walkQueries(t.Query, fn)
}
