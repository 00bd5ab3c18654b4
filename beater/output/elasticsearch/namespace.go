package elasticsearch

import "bytes"

var (
	dataStreamKey = []byte(`"data_stream":{`)
	namespaceKey  = []byte(`"namespace":"`)
)

// docNamespace returns the data_stream.namespace a document carries, or
// nil. data_stream holds only flat strings, so the object ends at the first
// '}' after its key; inside a JSON string a quote is always escaped, so the
// unescaped key pattern cannot come from a value such as an argument.
func docNamespace(body []byte) []byte {
	i := bytes.Index(body, dataStreamKey)
	if i < 0 {
		return nil
	}
	obj := body[i+len(dataStreamKey):]
	if end := bytes.IndexByte(obj, '}'); end >= 0 {
		obj = obj[:end]
	}
	j := bytes.Index(obj, namespaceKey)
	if j < 0 {
		return nil
	}
	v := obj[j+len(namespaceKey):]
	k := bytes.IndexByte(v, '"')
	if k <= 0 || bytes.IndexByte(v[:k], '\\') >= 0 {
		return nil
	}
	return v[:k]
}

// indexNames maps a document's namespace to its data stream name, caching
// the strings so that routing allocates only once per namespace. Owned by
// one worker; not safe for concurrent use.
type indexNames struct {
	def   string // the configured namespace's data stream
	names map[string]string
}

// For returns the data stream for body: logs-spawnbeat.process-<namespace
// of the document>, or the configured one when the document has none or
// one Elasticsearch would refuse as part of an index name.
func (n *indexNames) For(body []byte) string {
	ns := docNamespace(body)
	if ns == nil {
		return n.def
	}
	if name, ok := n.names[string(ns)]; ok { // no allocation for the lookup
		return name
	}
	if validNamespace(string(ns)) != nil {
		return n.def
	}
	if n.names == nil {
		n.names = map[string]string{}
	}
	if len(n.names) >= 64 { // bound the cache against documents with ever new namespaces
		clear(n.names)
	}
	name := DataStreamPrefix + string(ns)
	n.names[string(ns)] = name
	return name
}
