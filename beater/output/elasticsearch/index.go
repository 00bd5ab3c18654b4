package elasticsearch

import "strings"

// indexNames decides where each event goes: the data stream its Event.Index
// names when that is one of spawnbeat's (DataStreamPrefix and a namespace
// Elasticsearch accepts), the configured one otherwise. Verdicts are cached,
// so that routing allocates only once per index; the cache keeps its own
// copies, not the queue's strings. Owned by one worker; not safe for
// concurrent use.
type indexNames struct {
	def   string            // the configured namespace's data stream
	names map[string]string // an event's index -> where it goes
}

// For returns the data stream for an event whose Event.Index is index.
func (n *indexNames) For(index string) string {
	if index == "" || index == n.def {
		return n.def
	}
	if name, ok := n.names[index]; ok { // no allocation for the lookup
		return name
	}
	name := n.def
	if ns, ok := strings.CutPrefix(index, DataStreamPrefix); ok && validNamespace(ns) == nil {
		name = strings.Clone(index)
	}
	if n.names == nil {
		n.names = map[string]string{}
	}
	if len(n.names) >= 64 { // bound the cache against events with ever new indexes
		clear(n.names)
	}
	n.names[strings.Clone(index)] = name
	return name
}
