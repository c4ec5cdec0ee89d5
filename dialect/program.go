package dialect

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/itchyny/gojq"
)

// Kind says what a program is for.
type Kind int

// Kinds of programs.
const (
	// KindTransform programs output the body sent: one JSON object.
	KindTransform Kind = iota + 1
	// KindFilter programs output true for the events a webhook wants.
	KindFilter
)

func (k Kind) String() string {
	switch k {
	case KindTransform:
		return "transform"
	case KindFilter:
		return "filter"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MaxSource bounds a program's source text.
const MaxSource = 16 << 10

// Program is a compiled transform or filter. It is immutable and safe for
// concurrent use.
type Program struct {
	kind   Kind
	source string
	code   *gojq.Code
	// perEvent: the program reads its input only through .event and
	// .event_name, once late fields are set aside, so its output is the
	// same for every webhook and delivery of an event (for the same event
	// name).
	perEvent bool
	// late are the output's values taken whole from .webhook or .delivery:
	// the per-event output carries a placeholder for each, which Bind
	// replaces.
	late []latePath
	runs atomic.Uint64 // runs made, for tests and benchmarks
}

// Kind returns what the program is for.
func (p *Program) Kind() Kind { return p.kind }

// Source returns the program as written.
func (p *Program) Source() string { return p.source }

// PerEvent reports whether the program's output depends only on the event
// and its name, not on the webhook or the delivery (but for the values Bind
// fills in): it then runs once per event for every webhook that shares it.
func (p *Program) PerEvent() bool { return p.perEvent }

// Error is a program that does not compile. Offset, Line and Column say
// where (1-based line and column; zero when unknown).
type Error struct {
	Kind    Kind
	Message string
	Offset  int
	Line    int
	Column  int
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d, column %d: %s", e.Kind, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

// Compile parses and compiles src as a program of kind k. A program that
// does not compile is an *Error naming where.
func Compile(k Kind, src string) (*Program, error) {
	if k != KindTransform && k != KindFilter {
		return nil, fmt.Errorf("dialect: unknown program kind %d", int(k))
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Kind: k, Message: "is empty"}
	}
	if len(src) > MaxSource {
		return nil, &Error{Kind: k, Message: fmt.Sprintf("is %d bytes long; the limit is %d", len(src), MaxSource)}
	}
	q, err := parse(k, src)
	if err != nil {
		return nil, err
	}
	p := &Program{kind: k, source: src}
	if k == KindTransform {
		// Try the program with its late fields set aside; if the rest
		// still reads more than the event, it runs per delivery as written.
		p.late = bindLate(q)
		p.perEvent = readsOnlyEvent(q)
		if !p.perEvent {
			p.late = nil
			if q, err = parse(k, src); err != nil {
				return nil, err
			}
		}
	} else {
		p.perEvent = readsOnlyEvent(q)
	}
	guard(q)
	code, err := gojq.Compile(q, compilerOptions...)
	if err != nil {
		return nil, compileError(k, src, err)
	}
	p.code = code
	return p, nil
}

// parse parses src and refuses what programs may not use.
func parse(k Kind, src string) (*gojq.Query, error) {
	q, err := gojq.Parse(src)
	if err != nil {
		var pe *gojq.ParseError
		if errors.As(err, &pe) {
			// Offset is past the token at fault; point at its start.
			e := &Error{Kind: k, Message: pe.Error(), Offset: max(pe.Offset-len(pe.Token), 0)}
			e.Line, e.Column = position(src, e.Offset)
			return nil, e
		}
		return nil, &Error{Kind: k, Message: err.Error()}
	}
	if len(q.Imports) > 0 || q.Meta != nil {
		return nil, &Error{Kind: k, Message: "modules (import, include) are not available"}
	}
	if name := internalCall(q); name != "" {
		e := &Error{Kind: k, Message: fmt.Sprintf("%s is internal to jq and not available", name)}
		if i := strings.Index(src, name); i >= 0 {
			e.Offset = i
			e.Line, e.Column = position(src, i)
		}
		return nil, e
	}
	return q, nil
}

// internalCall returns the first name q uses that programs may not: jq's
// internal functions (_multiply, _index, ...; a program's own _helper is
// fine) and the names guard adds (_hs_*, $__hs_*).
func internalCall(q *gojq.Query) string {
	defs := map[string]bool{}
	walkQueries(q, func(q *gojq.Query) {
		for _, fd := range q.FuncDefs {
			defs[funcKey(fd.Name, len(fd.Args))] = true
		}
	})
	var bad string
	check := func(name string, own bool) {
		switch {
		case bad != "":
		case strings.HasPrefix(name, "_hs_"), strings.HasPrefix(name, "$__hs"):
			bad = name
		case strings.HasPrefix(name, "_") && !own:
			bad = name
		}
	}
	walkQueries(q, func(q *gojq.Query) {
		for _, fd := range q.FuncDefs {
			check(fd.Name, true)
		}
		for _, p := range q.Patterns {
			checkPatternNames(p, func(n string) { check(n, true) })
		}
	})
	eachTerm(q, func(t *gojq.Term) {
		if t.Type == gojq.TermTypeFunc {
			check(t.Func.Name, defs[funcKey(t.Func.Name, len(t.Func.Args))])
		}
	})
	return bad
}

func checkPatternNames(p *gojq.Pattern, fn func(string)) {
	if p.Name != "" {
		fn(p.Name)
	}
	for _, e := range p.Array {
		checkPatternNames(e, fn)
	}
	for _, o := range p.Object {
		if strings.HasPrefix(o.Key, "$") {
			fn(o.Key)
		}
		if o.Val != nil {
			checkPatternNames(o.Val, fn)
		}
	}
}

// position turns a byte offset into a 1-based line and column (in bytes).
func position(src string, offset int) (line, col int) {
	offset = min(max(offset, 0), len(src))
	before := src[:offset]
	line = strings.Count(before, "\n") + 1
	col = offset - strings.LastIndexByte(before, '\n')
	return line, col
}

// nameInError finds the name a compile error is about: "function not
// defined: foo/1", "variable not defined: $x".
var nameInError = regexp.MustCompile(`not defined: (\$?[A-Za-z_][A-Za-z0-9_]*)`)

// compileError turns gojq's compile error into an *Error, placed at the
// first use of the name it is about when it names one.
func compileError(k Kind, src string, err error) *Error {
	msg := err.Error()
	e := &Error{Kind: k, Message: msg}
	if m := nameInError.FindStringSubmatch(msg); m != nil {
		re := regexp.MustCompile(`(^|[^A-Za-z0-9_$])(` + regexp.QuoteMeta(m[1]) + `)($|[^A-Za-z0-9_])`)
		if loc := re.FindStringSubmatchIndex(src); loc != nil {
			e.Offset = loc[4]
			e.Line, e.Column = position(src, e.Offset)
		}
	}
	return e
}
