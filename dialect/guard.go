package dialect

import (
	"fmt"
	"math"
	"strings"

	"github.com/itchyny/gojq"
)

// A run is bounded in time, but a few jq operations build a huge value in
// one step, before the next check of the deadline: "x" * 1e9 (a string of
// up to 2 GiB in gojq) and setting an array element at a huge index, as in
// .[536870000] = 1 (8 GiB at once). guard rewrites a program so that these
// go through checked functions instead: every index expression .[e] passes
// e through _hs_index, every multiplication is _hs_multiply, and the
// builtins that set paths given by the program (setpath, getpath in path
// expressions, pick, fromstream) are redefined over checked paths.

// MaxIndex bounds the array indexes a program may use.
const MaxIndex = 1 << 20

// prelude redefines the builtins that take paths from the program. Each
// definition sees the ones before it, so _hs_setpath is the builtin.
const prelude = `
def _hs_getpath($p): getpath($p);
def _hs_setpath($p; $v): setpath($p; $v);
def getpath($p): _hs_path($p) as $_ | _hs_getpath($p);
def setpath($p; $v): _hs_path($p) as $_ | _hs_setpath($p; $v);
def pick(f): . as $v | reduce path(f) as $p (null; setpath($p; $v | getpath($p)));
def fromstream(f):
  foreach f as $pv (
    null;
    if .e then null end |
    $pv as [$p, $v] |
    if $pv | length == 2 then
      setpath(["v"] + $p; $v) |
      setpath(["e"]; $p | length == 0)
    else
      setpath(["e"]; $p | length == 1)
    end;
    if .e then .v else empty end
  );
.`

var preludeDefs = func() []*gojq.FuncDef {
	q, err := gojq.Parse(prelude)
	if err != nil {
		panic("dialect: prelude: " + err.Error())
	}
	return q.FuncDefs
}()

// multiply is gojq's own multiplication, for what _hs_multiply lets through.
var multiply = func() *gojq.Code {
	q, err := gojq.Parse(".[0] * .[1]")
	if err != nil {
		panic(err)
	}
	c, err := gojq.Compile(q)
	if err != nil {
		panic(err)
	}
	return c
}()

// compilerOptions are those of every program: the checked functions, and
// nothing of the process (gojq gives no environment, files or input without
// options asking for them).
var compilerOptions = []gojq.CompilerOption{
	gojq.WithFunction("_hs_index", 0, 0, func(v any, _ []any) any { return checkIndex(v) }),
	gojq.WithFunction("_hs_path", 1, 1, func(_ any, args []any) any { return checkPath(args[0]) }),
	gojq.WithFunction("_hs_multiply", 2, 2, func(_ any, args []any) any { return checkedMultiply(args[0], args[1]) }),
}

// guard rewrites q in place (see above).
func guard(q *gojq.Query) {
	walkQueries(q, func(q *gojq.Query) {
		switch q.Op {
		case gojq.OpMul:
			l, r := q.Left, q.Right
			*q = gojq.Query{FuncDefs: q.FuncDefs, Term: &gojq.Term{Type: gojq.TermTypeFunc,
				Func: &gojq.Func{Name: "_hs_multiply", Args: []*gojq.Query{l, r}}}}
		case gojq.OpUpdateMul:
			// l *= r is r as $x | l |= . * $x.
			l, r := q.Left, q.Right
			mul := &gojq.Query{Term: &gojq.Term{Type: gojq.TermTypeFunc, Func: &gojq.Func{Name: "_hs_multiply",
				Args: []*gojq.Query{{Term: &gojq.Term{Type: gojq.TermTypeIdentity}},
					{Term: &gojq.Term{Type: gojq.TermTypeFunc, Func: &gojq.Func{Name: "$__hs_mul"}}}}}}}
			*q = gojq.Query{FuncDefs: q.FuncDefs, Op: gojq.OpPipe, Left: r, Patterns: []*gojq.Pattern{{Name: "$__hs_mul"}},
				Right: &gojq.Query{Op: gojq.OpModify, Left: l, Right: mul}}
		}
	})
	eachTerm(q, func(t *gojq.Term) {
		guardIndex(t.Index)
		for _, s := range t.SuffixList {
			guardIndex(s.Index)
		}
	})
	q.FuncDefs = append(append([]*gojq.FuncDef(nil), preludeDefs...), q.FuncDefs...)
}

// guardIndex passes the index expressions of .[e] and .[a:b] through
// _hs_index.
func guardIndex(ix *gojq.Index) {
	if ix == nil {
		return
	}
	wrap := func(e *gojq.Query) *gojq.Query {
		if e == nil {
			return nil
		}
		if _, ok := constString(e); ok {
			return e
		}
		return &gojq.Query{Op: gojq.OpPipe, Left: e,
			Right: &gojq.Query{Term: &gojq.Term{Type: gojq.TermTypeFunc, Func: &gojq.Func{Name: "_hs_index"}}}}
	}
	ix.Start, ix.End = wrap(ix.Start), wrap(ix.End)
}

// limitError is a run that tried to build too much in one step.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

func checkIndex(v any) any {
	if n, ok := gojq.ToFloat64(v); ok && math.Abs(n) >= MaxIndex {
		return &limitError{fmt.Sprintf("array index %s is too large (the limit is %d)", gojq.Preview(v), MaxIndex)}
	}
	return v
}

func checkPath(p any) any {
	ps, ok := p.([]any)
	if !ok {
		return p // getpath and setpath report it
	}
	for _, e := range ps {
		switch e := e.(type) {
		case map[string]any: // a slice: {"start": a, "end": b}
			for _, k := range []string{"start", "end"} {
				if err, bad := checkIndex(e[k]).(error); bad {
					return err
				}
			}
		default:
			if err, bad := checkIndex(e).(error); bad {
				return err
			}
		}
	}
	return p
}

// checkedMultiply is l * r, refusing to repeat a string past MaxOutput.
func checkedMultiply(l, r any) any {
	s, n, repeat := l, r, false
	if _, ok := s.(string); ok {
		_, repeat = gojq.ToFloat64(n)
	} else if _, ok := r.(string); ok {
		s, n = r, l
		_, repeat = gojq.ToFloat64(n)
	}
	if repeat {
		str := s.(string)
		count, _ := gojq.ToFloat64(n)
		if count < 0 {
			return nil // as gojq
		}
		c := int(min(count, math.MaxInt32))
		if uint64(len(str))*uint64(c) > MaxOutput {
			return &limitError{fmt.Sprintf("repeating a string of %d bytes %d times exceeds %d KiB", len(str), c, MaxOutput>>10)}
		}
		return strings.Repeat(str, c)
	}
	v, _ := multiply.Run([]any{l, r}).Next()
	return v
}
