package ecs

import (
	"encoding/json"
	"fmt"
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
// since that would silently change the agent's identity.
func LoadOrCreateAgentID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, MetaFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var m agentMeta
		if err := json.Unmarshal(b, &m); err != nil {
			return "", fmt.Errorf("load agent id %s: %w: %w", path, ErrInvalidMeta, err)
		}
		if !validUUID(m.UUID) {
			return "", fmt.Errorf("load agent id %s: uuid %q: %w", path, m.UUID, ErrInvalidMeta)
		}
		return m.UUID, nil
	case !isNotExist(err):
		return "", fmt.Errorf("load agent id %s: %w", path, err)
	}

	m := agentMeta{UUID: NewUUID(), FirstStart: time.Now().UTC()}
	b, err = json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("create agent id %s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("create agent id: create data dir %s: %w", dataDir, err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		return "", fmt.Errorf("create agent id %s: %w", path, err)
	}
	return m.UUID, nil
}

// writeFileAtomic writes b to a temporary file beside path and renames it
// into place after an fsync, so that a crash leaves either no meta.json or
// a complete one, never a truncated one that would block the next start.
func writeFileAtomic(path string, b []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		// Best effort: persist the rename itself.
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
