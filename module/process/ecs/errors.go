package ecs

import "errors"

// Sentinel errors of package ecs; compare with errors.Is.
var (
	// ErrInvalidMeta means meta.json exists but holds no valid agent id.
	ErrInvalidMeta = errors.New("invalid agent meta file")
	// ErrNoHostname means the host reported an empty hostname.
	ErrNoHostname = errors.New("empty hostname")
	// ErrInvalidMachineID means machine-id is not 32 hex digits.
	ErrInvalidMachineID = errors.New("invalid machine id")
)
