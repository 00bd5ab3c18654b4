// Package tests holds spawnbeat's end-to-end tests: they build the real
// binary, run it as root with a config file, start real processes (among
// them the real pty.spawn attacks) and read what arrives at the output — the
// file output, or the Elasticsearch test server in tests/esserver — and, for
// `spawnbeat setup`, what the Kibana test server in tests/kibanaserver was
// given.
package tests
