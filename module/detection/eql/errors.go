package eql

import (
	"errors"
	"fmt"
)

// ErrUnsupported is wrapped by the error Parse returns for valid EQL that
// spawnbeat does not run (samples, joins and pipes), and for a sequence,
// which only ParseStatement returns.
var ErrUnsupported = errors.New("unsupported EQL construct")

// ErrSyntax is wrapped by every *SyntaxError, so callers can test
// errors.Is(err, eql.ErrSyntax) without a type assertion.
var ErrSyntax = errors.New("EQL syntax error")

// SyntaxError is a parse failure at a 1-based line and column (columns count
// bytes). Msg says what the parser expected and what it found. It is a plain
// value, safe to share once returned.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

// Error formats the error as "line:col: msg".
func (e *SyntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// Is reports whether target is ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// UnsupportedError reports a recognised construct that spawnbeat does not
// run, at the position of its keyword. It wraps ErrUnsupported and is safe
// to share once returned.
type UnsupportedError struct {
	Line, Col int
	What      string // "sequence", "sample", "join", "pipe", ...
}

// Error formats the error as "line:col: <what>: unsupported EQL construct".
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%d:%d: %s: %v", e.Line, e.Col, e.What, ErrUnsupported)
}

// Unwrap returns ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }
