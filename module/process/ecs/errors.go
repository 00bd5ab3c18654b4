package ecs

import "errors"

// Sentinel errors of package ecs; compare with errors.Is.
var (
	// ErrInvalidMeta: meta.json exists but holds no valid agent id.
	ErrInvalidMeta = errors.New("invalid agent meta file")
	// ErrNoHostname: the host reported an empty hostname.
	ErrNoHostname = errors.New("empty hostname")
	// ErrInvalidMachineID: machine-id is not 32 hex digits.
	ErrInvalidMachineID = errors.New("invalid machine id")
)
