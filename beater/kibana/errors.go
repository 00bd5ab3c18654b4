package kibana

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of the package; compare with errors.Is.
var (
	// ErrUnreachable marks a request that got no HTTP answer: a refused
	// or timed-out connection, a TLS failure.
	ErrUnreachable = errors.New("kibana is unreachable")
	// ErrUnauthorized marks a 401 or 403 answer: bad credentials or missing
	// privileges.
	ErrUnauthorized = errors.New("kibana refused the credentials")
	// ErrUnsupportedVersion marks a Kibana older than spawnbeat's assets
	// are written for.
	ErrUnsupportedVersion = errors.New("kibana version not supported")
	// ErrSpaceNotFound marks a setup.kibana.space.id that Kibana does not
	// have.
	ErrSpaceNotFound = errors.New("kibana space not found")
	// ErrImport marks an import that Kibana answered with 200 but where some
	// objects failed (an *ImportError).
	ErrImport = errors.New("kibana did not import every object")
)

// StatusError is an unexpected HTTP answer from Kibana, with the error and
// message of its JSON body when there is one. Immutable once returned;
// safe to share.
type StatusError struct {
	Op      string // what was attempted, e.g. "import saved objects"
	URL     string // the request's URL, without its query
	Status  int
	Kind    string // the body's "error", e.g. "Unauthorized"
	Message string // the body's "message"
}

// Error implements error.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: %s answered %d", e.Op, e.URL, e.Status)
	if e.Kind != "" {
		s += " " + e.Kind
	}
	if e.Message != "" && e.Message != e.Kind {
		s += ": " + e.Message
	}
	switch e.Status {
	case 401:
		s += " (check setup.kibana.username/password or api_key)"
	case 403:
		s += " (the user lacks a Kibana privilege this needs)"
	}
	return s
}

// Is makes errors.Is(err, ErrUnauthorized) true for 401 and 403.
func (e *StatusError) Is(target error) bool {
	return target == ErrUnauthorized && (e.Status == 401 || e.Status == 403)
}

// statusError builds a StatusError from an answer. Kibana's HTTP errors
// carry {"statusCode", "error", "message"}; the Security app's routes
// answer {"status_code", "message"}; anything else (a proxy's page) is
// quoted, shortened.
func statusError(op, url string, status int, body []byte) *StatusError {
	e := &StatusError{Op: op, URL: url, Status: status}
	var b struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &b) == nil && (b.Error != "" || b.Message != "") {
		// One line: Kibana passes on Elasticsearch's multi-line
		// security exceptions.
		e.Kind, e.Message = b.Error, strings.Join(strings.Fields(b.Message), " ")
		return e
	}
	e.Message = shorten(string(body), 200)
	return e
}

// Failure is one object that Kibana did not import.
type Failure struct {
	Type   string // saved object type, or "rule"
	ID     string // saved object id, or rule_id
	Title  string // the object's title, when Kibana gave it
	Reason string
}

func (f Failure) String() string {
	s := f.Type + " " + f.ID
	if f.Title != "" {
		s += fmt.Sprintf(" (%q)", f.Title)
	}
	return s + ": " + f.Reason
}

// ImportError is an import that Kibana answered with 200 but where some
// objects failed; the others were imported. Immutable once returned.
type ImportError struct {
	What     string // "saved objects" or "detection rules"
	URL      string
	Sent     int // objects in the request
	Imported int // objects Kibana says it imported
	Failures []Failure
}

// Error implements error: what failed, object by object.
func (e *ImportError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.String()
	}
	return fmt.Sprintf("import %s into %s: %d of %d imported, %d failed: %s",
		e.What, e.URL, e.Imported, e.Sent, len(e.Failures), strings.Join(parts, "; "))
}

// Unwrap makes errors.Is(err, ErrImport) true.
func (e *ImportError) Unwrap() error { return ErrImport }

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
