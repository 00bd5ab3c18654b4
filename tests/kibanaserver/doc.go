// Package kibanaserver is an in-memory test server for the part of Kibana's
// HTTP API that spawnbeat uses, as tests/esserver is for Elasticsearch.
//
// No Kibana can be installed on the build machines, so this package answers
// the way Kibana 8.x does, with its status codes and error bodies: the
// status API (GET /api/status, 503 while not available), the saved objects
// import API (multipart/form-data with a *.ndjson file part; overwrite or a
// conflict per existing object; unsupported types, missing references and
// non-unique objects reported as Kibana reports them), _find, _export and
// GET of one object to read back what was imported, the detection engine's
// rules import (validation of the required rule fields, 409 per existing
// rule without overwrite), its _find and GET by rule_id, and the spaces API
// (GET /api/spaces/space/<id>, 404 for an unknown space).
//
// Around them it enforces what Kibana's HTTP layer does: Basic and ApiKey
// authentication (401 with Kibana's body), the kbn-xsrf header on every
// write (400 without it), Kibana's base path (server.basePath), the
// /s/<space>/ prefix of a space, and Kibana's validation of query
// parameters and multipart bodies. Fault injection answers chosen requests
// with a status, delays them, cuts their connection, fails chosen objects
// inside a 200 answer, or reports Kibana unavailable. Every request is
// recorded (method, path, kbn-xsrf, who it authenticated as, the answer's
// status) for tests to inspect.
//
// Like Kibana (elastic/kibana issue 67164), the import APIs do not check
// that the space of a /s/<id>/ request exists: the objects are stored under
// that space id. Only the spaces API answers 404 for it.
//
// Where Kibana's behaviour is not obvious, the code names the Kibana source
// file it follows.
package kibanaserver
