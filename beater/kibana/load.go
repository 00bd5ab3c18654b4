package kibana

import (
	"context"
	"fmt"
)

// Content is what spawnbeat loads into Kibana: saved-object NDJSON for
// the saved objects import API and detection-rule NDJSON for the detection
// engine's. A plain value; the byte slices are not modified.
type Content struct {
	Source       string // where it comes from, for messages: "the built-in assets" or a directory
	SavedObjects []byte
	Rules        []byte
}

// Parts selects what Load imports.
type Parts struct {
	SavedObjects bool
	Rules        bool
}

// Report is what Load did, complete up to its first failure, for the
// caller to print or log: nothing in it was claimed before Kibana
// confirmed it.
type Report struct {
	Kibana       string // "Kibana 8.17.0 at http://kibana:5601/s/soc", once connected
	SavedObjects int    // saved objects Kibana imported
	Rules        int    // detection rules Kibana imported
	// Done lists the parts that finished, in order; a part with nothing
	// to import finishes without a request.
	Done     []string // "saved objects", "detection rules"
	Empty    []string // parts that had nothing to import
	Warnings []string // Kibana's warnings about the import
}

// Load puts c into Kibana as Beats load their assets: GET /api/status
// first (a Kibana older than MinimumKibanaVersion is refused, naming its
// version), a check that the configured space exists, then POST
// /api/saved_objects/_import and POST /api/detection_engine/rules/_import
// (as parts selects), both with overwrite=true so that loading twice leaves
// one copy of each object. Every request carries the credentials (Basic,
// or "ApiKey <base64 id:key>"), the configured headers and kbn-xsrf;
// requests in a space go under /s/<space.id>.
//
// It stops at the first failure and returns it with the report of what was
// done before. Failures say what failed, where and why: an unreachable
// Kibana (ErrUnreachable), a refused one (ErrUnauthorized, with the
// status), any other status (*StatusError, with Kibana's message), and an
// import that Kibana answered 200 while some objects failed (*ImportError,
// naming each object's type, id and reason; the others were imported).
func Load(ctx context.Context, cfg Config, c Content, parts Parts) (Report, error) {
	var rep Report
	client, st, err := Connect(ctx, cfg)
	if err != nil {
		return rep, err
	}
	defer client.Close()
	rep.Kibana = fmt.Sprintf("Kibana %s at %s", st.Version, client.URL())
	for _, p := range []struct {
		on     bool
		what   string
		ndjson []byte
		load   func(context.Context, []byte) (Imported, error)
		count  *int
	}{
		{parts.SavedObjects, "saved objects", c.SavedObjects, client.ImportSavedObjects, &rep.SavedObjects},
		{parts.Rules, "detection rules", c.Rules, client.ImportRules, &rep.Rules},
	} {
		if !p.on {
			continue
		}
		if countObjects(p.ndjson) == 0 {
			rep.Empty = append(rep.Empty, p.what)
			continue
		}
		got, err := p.load(ctx, p.ndjson)
		rep.Warnings = append(rep.Warnings, got.Warnings...)
		if err != nil {
			return rep, err
		}
		*p.count = got.Count
		rep.Done = append(rep.Done, p.what)
	}
	return rep, nil
}
