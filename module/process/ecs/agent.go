package ecs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// AgentType is agent.type.
const AgentType = "spawnbeat"

// MetaFile is the name of the file under path.data that keeps the agent id
// across restarts, as Beats' meta.json does.
const MetaFile = "meta.json"

// NewAgent returns the agent.* metadata of this run: agent.type
// "spawnbeat", the given version, name (the configured name, usually the
// hostname) and persistent id (see LoadOrCreateAgentID), and a fresh random
// ephemeral_id that changes with every start. The result is read-only once
// shared with events and then safe for concurrent reads.
func NewAgent(version, name, id string) *Agent {
	return &Agent{
		Type:        AgentType,
		Version:     version,
		ID:          id,
		Name:        name,
		EphemeralID: NewUUID(),
	}
}

// agentMeta is the content of meta.json, in Beats' layout.
type agentMeta struct {
	UUID       string    `json:"uuid"`
	FirstStart time.Time `json:"first_start"`
}

// LoadOrCreateAgentID returns the agent id kept in dataDir/meta.json,
// creating the directory (0750) and the file (0600) with a new random UUID
// when the file does not exist. A file that exists but does not hold a
// valid UUID is an error wrapping ErrInvalidMeta; it is never overwritten,
// since that would silently change the agent's identity. Two processes
// creating the file at once agree on one id: the file is published with
// link(2), which fails if another got there first, and the loser reads the
// winner's id.
func LoadOrCreateAgentID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, MetaFile)
	id, err := loadAgentID(path)
	if err == nil || !isNotExist(err) {
		return id, err
	}

	m := agentMeta{UUID: NewUUID(), FirstStart: time.Now().UTC()}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("create agent id %s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("create agent id: create data dir %s: %w", dataDir, err)
	}
	created, err := createFileAtomic(path, b)
	if err != nil {
		return "", fmt.Errorf("create agent id %s: %w", path, err)
	}
	if !created {
		return loadAgentID(path)
	}
	return m.UUID, nil
}

// loadAgentID reads meta.json; a missing file is returned as an error
// matching fs.ErrNotExist.
func loadAgentID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("load agent id %s: %w", path, err)
	}
	var m agentMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("load agent id %s: %w: %w", path, ErrInvalidMeta, err)
	}
	if !validUUID(m.UUID) {
		return "", fmt.Errorf("load agent id %s: uuid %q: %w", path, m.UUID, ErrInvalidMeta)
	}
	return m.UUID, nil
}

// createFileAtomic writes b to a temporary file beside path, fsyncs it and
// links it to path unless path exists (created is then false). A crash
// leaves either no file at path or a complete one, never a truncated one
// that would block the next start.
func createFileAtomic(path string, b []byte) (created bool, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	// The temporary name goes in every case: after a link, path holds the
	// data.
	defer func() { _ = os.Remove(tmp) }()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return false, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return false, fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return false, fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("link %s: %w", tmp, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		// Best effort: persist the new directory entry itself.
		_ = d.Sync()
		_ = d.Close()
	}
	return true, nil
}
