// Package esserver is an in-memory, Elasticsearch wire-compatible test server
// for spawnbeat's output, end-to-end tests and benchmarks.
//
// No Elasticsearch can be installed on the build machines, so this package
// owns a small server that answers, the way the Elasticsearch reference
// documents them, the requests spawnbeat and its tests send, and no others
// (another path answers 400 "no handler found", as Elasticsearch does for a
// path it does not know). What it serves, and who needs it:
//
//   - the product header and GET / (version.number), which the
//     go-elasticsearch v8 client checks on its first answer: every client;
//   - _bulk with per-item results, data streams created from composable
//     index templates (logs-*-* and metrics-*-* built in, as Elasticsearch
//     installs them), mapping enforcement for the common field types,
//     filter_path, gzip in both directions and the 100mb request limit:
//     the output's delivery tests (beater/output/elasticsearch), the
//     end-to-end tests (tests/), the delivery and capture harnesses
//     (tests/bench), which write with create items; the index, update and
//     delete items and plain indices are what this package's own tests
//     write to check the mappings and the item results that create shares;
//   - _index_template, _ilm/policy and _ingest/pipeline (PUT, GET, DELETE),
//     and the set processors of the pipelines named as an index's default
//     or final pipeline or by the request: `spawnbeat setup` and
//     `spawnbeat test output` (beater/output/elasticsearch, cmd/spawnbeat,
//     tests/es_e2e_test.go, tests/kibana_e2e_test.go);
//   - _security/_authenticate, Basic and ApiKey authentication and TLS
//     (NewTestCA, CommandTLS): `spawnbeat test output`, beater/tlsconfig's
//     tests and the keystore end-to-end test;
//   - _count and _search with match_all and term: the delivery harness
//     counts what arrived, the capture harness's -es mode finds its
//     documents; the in-process tests use Count and Docs instead;
//   - fault injection (whole-request 429/503, per-item 429, latency, cut
//     connections before and after applying a bulk, a node that goes down
//     and comes back on the same port): the delivery tests and harness.
//
// TestRealCluster (beater/output/elasticsearch, with ES_URL) runs the same
// delivery checks against a real cluster; it counts there with _refresh and
// _count, which a real cluster answers.
//
// Where Elasticsearch's behaviour is not obvious, the code cites the page or
// source file it follows. Documents are kept as json.RawMessage so that large
// tests stay cheap.
package esserver
