package engine

import (
	"errors"
	"fmt"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

// ErrCompile is wrapped by every *CompileError.
var ErrCompile = errors.New("EQL compile error")

// CompileError is a query that parses but cannot be compiled: an unknown
// function, a wrong number of arguments, a bad regular expression or CIDR,
// an operand of the wrong type. Pos is where in the query; Name is the field
// or function concerned. A CompileError is not modified after Compile
// returns it and is safe to share.
type CompileError struct {
	Pos  eql.Pos
	Name string
	Msg  string
	Err  error // underlying error, if any (e.g. from regexp)
}

// Error formats the error as "line:col: name: msg".
func (e *CompileError) Error() string {
	s := fmt.Sprintf("%d:%d: ", e.Pos.Line, e.Pos.Col)
	if e.Name != "" {
		s += e.Name + ": "
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrCompile.
func (e *CompileError) Is(target error) bool { return target == ErrCompile }

// Unwrap returns the underlying error.
func (e *CompileError) Unwrap() error { return e.Err }
