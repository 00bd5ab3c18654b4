package kibanaserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
)

// SavedObject is a stored saved object, as the _find API returns it.
type SavedObject struct {
	Type                 string          `json:"type"`
	ID                   string          `json:"id"`
	Attributes           json.RawMessage `json:"attributes"`
	References           []Reference     `json:"references"`
	Namespaces           []string        `json:"namespaces"`
	Managed              bool            `json:"managed"`
	CoreMigrationVersion string          `json:"coreMigrationVersion,omitempty"`
	TypeMigrationVersion string          `json:"typeMigrationVersion,omitempty"`
	UpdatedAt            string          `json:"updated_at"`
	CreatedAt            string          `json:"created_at"`
	Version              string          `json:"version"`
}

// Reference is one entry of a saved object's references.
type Reference struct {
	Name string `json:"name"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Rule is a stored detection rule: the imported JSON with the fields the
// detection engine adds (id, created_at, updated_at, revision).
type Rule struct {
	RuleID string
	Body   map[string]any
}

// store holds saved objects and rules per space. Safe for concurrent use.
type store struct {
	mu      sync.Mutex
	seq     int
	objects map[string]map[string]SavedObject // space -> "type:id" -> object
	rules   map[string]map[string]Rule        // space -> rule_id -> rule
}

func newStore() *store {
	return &store{objects: map[string]map[string]SavedObject{}, rules: map[string]map[string]Rule{}}
}

func objectKey(typ, id string) string { return typ + ":" + id }

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// nextVersion is the optimistic-concurrency version Kibana returns: the
// base64 of Elasticsearch's [seq_no, primary_term].
func (st *store) nextVersion() string {
	st.seq++
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "[%d,1]", st.seq))
}

// Objects returns the saved objects of a space ("" is the default space),
// sorted by type and id. The attributes are shared and must not be
// modified.
func (s *Server) Objects(space string) []SavedObject {
	if space == "" {
		space = defaultSpace
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]SavedObject, 0, len(st.objects[space]))
	for _, o := range st.objects[space] {
		out = append(out, o)
	}
	sortObjects(out)
	return out
}

// ObjectKeys lists "type:id" of the saved objects of a space ("" is the
// default space), sorted as Objects sorts them.
func (s *Server) ObjectKeys(space string) []string {
	objs := s.Objects(space)
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = objectKey(o.Type, o.ID)
	}
	return out
}

func sortObjects(objs []SavedObject) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].Type != objs[j].Type {
			return objs[i].Type < objs[j].Type
		}
		return objs[i].ID < objs[j].ID
	})
}

// Rules returns the detection rules of a space ("" is the default space),
// sorted by rule_id. The bodies are shared and must not be modified.
func (s *Server) Rules(space string) []Rule {
	if space == "" {
		space = defaultSpace
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]Rule, 0, len(st.rules[space]))
	for _, r := range st.rules[space] {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RuleID < out[j].RuleID })
	return out
}
