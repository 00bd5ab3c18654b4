package elasticsearch

import (
	"errors"
	"fmt"
)

// Sentinel errors of the package; compare with errors.Is.
var (
	// ErrInvalidConfig wraps every configuration problem.
	ErrInvalidConfig = errors.New("invalid elasticsearch output configuration")
	// ErrClosed is returned by Publish after Close.
	ErrClosed = errors.New("elasticsearch output closed")
	// ErrUnauthorized marks a 401 or 403 answer: bad credentials or missing
	// privileges.
	ErrUnauthorized = errors.New("elasticsearch refused the credentials")
	// ErrFields wraps problems of a fields.yml file.
	ErrFields = errors.New("invalid fields.yml")
	// ErrCheckFailed is returned by TestOutput when a check fails.
	ErrCheckFailed = errors.New("elasticsearch output check failed")
	// ErrNoNodeAvailable is reported while every host is marked down.
	ErrNoNodeAvailable = errors.New("no elasticsearch host available")
)

// StatusError is an unexpected HTTP answer from Elasticsearch, with the
// error type and reason from its JSON body when there is one. Immutable once
// returned; safe to share.
type StatusError struct {
	Op     string // what was attempted, e.g. "bulk", "put index template"
	Host   string // scheme://host:port of the node
	Status int
	Type   string // error.type, e.g. security_exception
	Reason string // error.reason
}

// Error implements error.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s on %s: %d", e.Op, e.Host, e.Status)
	if e.Type != "" {
		s += " " + e.Type
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is makes errors.Is(err, ErrUnauthorized) true for 401 and 403.
func (e *StatusError) Is(target error) bool {
	return target == ErrUnauthorized && (e.Status == 401 || e.Status == 403)
}
