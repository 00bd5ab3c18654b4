// Package kibana owns spawnbeat's side of Kibana: the setup.kibana.* and
// setup.dashboards.* settings, and the client that loads spawnbeat's assets
// through Kibana's HTTP API as Beats load theirs: GET /api/status first
// (a Kibana older than 8.0 is refused, naming its version), a check that
// the configured space exists, then POST /api/saved_objects/_import and
// POST /api/detection_engine/rules/_import, both with overwrite=true so
// that loading twice leaves one copy of each object. Every request carries
// the credentials (Basic, or "ApiKey <base64 id:key>"), the configured
// headers and kbn-xsrf; requests in a space go under /s/<space.id>.
//
// Failures say what failed, where and why: an unreachable Kibana
// (ErrUnreachable), a refused one (ErrUnauthorized, with the status), any
// other status (*StatusError, with Kibana's message), and an import that
// Kibana answered 200 while some objects failed (*ImportError, naming each
// object's type, id and reason; the others were imported).
package kibana
