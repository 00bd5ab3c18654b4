package esserver

import (
	"errors"
	"fmt"
)

// ErrInvalidOptions is returned by Start for an inconsistent Options value.
var ErrInvalidOptions = errors.New("esserver: invalid options")

// esError is Elasticsearch's error object, as it appears under "error" in a
// whole-request failure and in a bulk item.
type esError struct {
	RootCause []*esError          `json:"root_cause,omitempty"`
	Type      string              `json:"type"`
	Reason    string              `json:"reason"`
	IndexUUID string              `json:"index_uuid,omitempty"`
	Shard     string              `json:"shard,omitempty"`
	Index     string              `json:"index,omitempty"`
	Header    map[string][]string `json:"header,omitempty"`
	CausedBy  *esError            `json:"caused_by,omitempty"`
}

// newErr builds an error object with a formatted reason.
func newErr(typ, format string, args ...any) *esError {
	return &esError{Type: typ, Reason: fmt.Sprintf(format, args...)}
}

// errorBody is the body of a whole-request failure:
// {"error": {"root_cause": [...], "type", "reason"}, "status": N}.
type errorBody struct {
	Error  *esError `json:"error"`
	Status int      `json:"status"`
}

// requestError wraps e for a whole-request failure; root_cause repeats the
// error without its cause, as Elasticsearch does.
func requestError(status int, e *esError) errorBody {
	root := *e
	root.CausedBy = nil
	root.RootCause = nil
	top := *e
	top.RootCause = []*esError{&root}
	return errorBody{Error: &top, Status: status}
}
