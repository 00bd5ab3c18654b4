// Package esserver is an in-memory, Elasticsearch wire-compatible test server
// for spawnbeat's output, end-to-end tests and benchmarks.
//
// No Elasticsearch can be installed on the build machines, so this package
// owns a small server that answers the subset of the REST API that spawnbeat
// uses the way the Elasticsearch reference documents it: the product header
// and GET / (which the go-elasticsearch v8 client checks), the _bulk API with
// per-item results, data streams created from composable index templates,
// mapping enforcement for the common field types, ILM policies, ingest
// pipelines (stored, listed and deleted; their set processors run on each
// document whose index names them as default or final pipeline, or whose
// request names one), _count and a small _search, Basic and ApiKey
// authentication, TLS, gzip in both directions, filter_path, and fault
// injection (whole-request 429/503, per-item 429, latency, cut connections
// before and after applying a bulk, a node that goes down and comes back on
// the same port).
//
// Where Elasticsearch's behaviour is not obvious, the code cites the page or
// source file it follows. Documents are kept as json.RawMessage so that large
// tests stay cheap.
package esserver
