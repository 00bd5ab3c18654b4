package kibana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// The conformance tests read the saved objects from the NDJSON that
// SavedObjects(Assets()) produces, the bytes `spawnbeat export kibana`
// prints and `spawnbeat setup` imports, and check them against the shapes
// of Kibana 8.8: those of the sample data sets Kibana 8.8 ships
// (src/plugins/home/server/services/sample_data/data_sets/flights: a
// dashboard whose Lens panels are by value, each Lens layer with its
// "indexpattern-datasource-layer-<layerId>" reference, repeated in the
// dashboard's references as "<panelIndex>:indexpattern-datasource-layer-
// <layerId>", and a by-reference search panel "4" with panelRefName
// "panel_4" and the reference "4:panel_4"; coreMigrationVersion 8.8.0) and
// of Elastic's integration packages exported from 8.x (elastic/integrations
// packages/*/kibana/<type>/<id>.json: embedded JSON decoded).

// gridColumns is the width of Kibana's dashboard grid.
const gridColumns = 48

// datasetQuery is the condition every visualization and search applies.
const datasetQuery = `data_stream.dataset : "spawnbeat.process"`

type reference struct {
	Name string `json:"name"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

// object is one saved object of the NDJSON with its embedded JSON decoded.
type object struct {
	Type                 string         `json:"type"`
	ID                   string         `json:"id"`
	Attributes           map[string]any `json:"attributes"`
	References           []reference    `json:"references"`
	CoreMigrationVersion string         `json:"coreMigrationVersion"`
	TypeMigrationVersion string         `json:"typeMigrationVersion"`
	Managed              *bool          `json:"managed"`
	embedded             map[string]any // dotted attribute path -> decoded JSON text
}

type gridData struct {
	X, Y, W, H int
	I          string
}

// panel is one entry of a dashboard's panelsJSON.
type panel struct {
	Version          string          `json:"version"`
	Type             string          `json:"type"`
	GridData         gridData        `json:"gridData"`
	PanelIndex       string          `json:"panelIndex"`
	PanelRefName     string          `json:"panelRefName"`
	Title            string          `json:"title"`
	EmbeddableConfig json.RawMessage `json:"embeddableConfig"`
}

// lensAttributes is a Lens visualization, by value or saved.
type lensAttributes struct {
	Title             string      `json:"title"`
	VisualizationType string      `json:"visualizationType"`
	References        []reference `json:"references"`
	State             struct {
		Visualization    json.RawMessage `json:"visualization"`
		Query            kqlQuery        `json:"query"`
		Filters          []any           `json:"filters"`
		DatasourceStates struct {
			FormBased struct {
				Layers map[string]lensLayer `json:"layers"`
			} `json:"formBased"`
			IndexPattern json.RawMessage `json:"indexpattern"` // before 8.6: must not be used
		} `json:"datasourceStates"`
	} `json:"state"`
}

type kqlQuery struct {
	Query    string `json:"query"`
	Language string `json:"language"`
}

type lensLayer struct {
	Columns     map[string]lensColumn `json:"columns"`
	ColumnOrder []string              `json:"columnOrder"`
}

type lensColumn struct {
	Label         string    `json:"label"`
	DataType      string    `json:"dataType"`
	OperationType string    `json:"operationType"`
	SourceField   string    `json:"sourceField"`
	IsBucketed    bool      `json:"isBucketed"`
	Filter        *kqlQuery `json:"filter"`
	Params        struct {
		Size            int      `json:"size"`
		SecondaryFields []string `json:"secondaryFields"`
		OrderDirection  string   `json:"orderDirection"`
		OrderBy         struct {
			Type     string `json:"type"`
			ColumnID string `json:"columnId"`
		} `json:"orderBy"`
	} `json:"params"`
}

// loadAssets parses the NDJSON of the shipped assets.
func loadAssets(t *testing.T) (ndjson []byte, objs []*object) {
	t.Helper()
	ndjson, err := SavedObjects(Assets())
	if err != nil {
		t.Fatalf("SavedObjects(Assets()): %v", err)
	}
	for i, line := range lines(t, ndjson) {
		var o object
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("line %d does not parse as a saved object: %v\n%s", i+1, err, line)
		}
		o.embedded = map[string]any{}
		for _, dotted := range embeddedJSON(o.Type) {
			v, ok := lookupPath(o.Attributes, dotted)
			if !ok {
				continue
			}
			s, isString := v.(string)
			if !isString {
				t.Fatalf("line %d (%s/%s): attributes.%s is %T, want JSON text as Kibana stores it", i+1, o.Type, o.ID, dotted, v)
			}
			var decoded any
			if err := json.Unmarshal([]byte(s), &decoded); err != nil {
				t.Fatalf("line %d (%s/%s): attributes.%s: %v", i+1, o.Type, o.ID, dotted, err)
			}
			o.embedded[dotted] = decoded
		}
		objs = append(objs, &o)
	}
	return ndjson, objs
}

func lookupPath(m map[string]any, dotted string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(dotted, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// reencode turns a decoded value into a typed one.
func reencode(t *testing.T, v any, into any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// templateFields flattens the index template's mappings (what `spawnbeat
// export template` prints) into field name -> type, multi-fields included.
func templateFields(t *testing.T) map[string]string {
	t.Helper()
	b, err := elasticsearch.Template(ecs.FieldsYAML, elasticsearch.DefaultSetupConfig())
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Template struct {
			Mappings struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, props map[string]json.RawMessage)
	walk = func(prefix string, props map[string]json.RawMessage) {
		for name, raw := range props {
			var f struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
				Fields     map[string]struct {
					Type string `json:"type"`
				} `json:"fields"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			full := prefix + name
			if f.Properties != nil {
				walk(full+".", f.Properties)
				continue
			}
			out[full] = f.Type
			for sub, sf := range f.Fields {
				out[full+"."+sub] = sf.Type
			}
		}
	}
	walk("", tpl.Template.Mappings.Properties)
	return out
}

// capable says whether a field of type typ can do what operation asks.
func capable(operation, typ string) bool {
	numeric := []string{"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
	exact := append([]string{"keyword", "constant_keyword", "ip", "boolean"}, numeric...)
	switch operation {
	case "terms":
		return slices.Contains(exact, typ)
	case "date_histogram":
		return typ == "date" || typ == "date_nanos"
	case "sum", "average", "median", "percentile", "standard_deviation":
		return slices.Contains(numeric, typ)
	case "min", "max":
		return slices.Contains(numeric, typ) || typ == "date"
	case "unique_count", "last_value", "count", "sort", "filter":
		// Aggregatable: doc values (text fields have none).
		return typ != "text" && typ != "match_only_text" && typ != ""
	case "display", "query":
		return typ != ""
	}
	return false
}

// kqlFields lists the field names a KQL query names (field : value).
var kqlFieldPattern = regexp.MustCompile(`([@A-Za-z_][\w.@]*)\s*:`)

func kqlFields(q string) []string {
	var out []string
	for _, m := range kqlFieldPattern.FindAllStringSubmatch(q, -1) {
		out = append(out, m[1])
	}
	return out
}

// filteredOnDataset reports whether q is a conjunction one of whose terms
// is datasetQuery.
func filteredOnDataset(q string) bool {
	if strings.Contains(q, " or ") || strings.Contains(q, " OR ") || strings.Contains(q, "not ") {
		return false
	}
	for _, c := range strings.Split(q, " and ") {
		if strings.TrimSpace(c) == datasetQuery {
			return true
		}
	}
	return false
}

// versionAtMost compares dotted versions numerically.
func versionAtMost(v, limit string) bool {
	a, b := strings.Split(v, "."), strings.Split(limit, ".")
	for i := range 3 {
		var x, y int
		if i < len(a) {
			x, _ = strconv.Atoi(a[i])
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x < y
		}
	}
	return true
}

// lensUse is a Lens visualization with where it sits.
type lensUse struct {
	where string // e.g. dashboard/x panel hosts
	attrs lensAttributes
}

func TestSavedObjectsConformance(t *testing.T) {
	ndjson, objs := loadAssets(t)
	fields := templateFields(t)
	byKey := map[string]*object{}
	for _, o := range objs {
		byKey[o.Type+"/"+o.ID] = o
	}

	t.Run("fixed ids, deterministic bytes", func(t *testing.T) {
		var keys []string
		for _, o := range objs {
			keys = append(keys, o.Type+"/"+o.ID)
		}
		want := []string{"index-pattern/" + DataViewID, "search/" + AlertsSearchID, "dashboard/" + DashboardID}
		if !slices.Equal(keys, want) {
			t.Errorf("objects %v, want %v in that order", keys, want)
		}
		for range 3 {
			again, err := SavedObjects(Assets())
			if err != nil || !bytes.Equal(again, ndjson) {
				t.Fatalf("SavedObjects is not deterministic (%v)", err)
			}
		}
	})

	t.Run("references resolve", func(t *testing.T) {
		for _, o := range objs {
			names := map[string]bool{}
			for _, r := range o.References {
				if byKey[r.Type+"/"+r.ID] == nil {
					t.Errorf("%s/%s: reference %q to %s/%s, which the set does not hold", o.Type, o.ID, r.Name, r.Type, r.ID)
				}
				if names[r.Name] {
					t.Errorf("%s/%s: reference name %q twice", o.Type, o.ID, r.Name)
				}
				names[r.Name] = true
			}
		}
	})

	t.Run("migration versions within the minimum Kibana", func(t *testing.T) {
		for _, o := range objs {
			if o.CoreMigrationVersion == "" || o.TypeMigrationVersion == "" {
				t.Errorf("%s/%s: coreMigrationVersion %q typeMigrationVersion %q: both are needed, or Kibana runs every migration since 7.0 on import",
					o.Type, o.ID, o.CoreMigrationVersion, o.TypeMigrationVersion)
			}
			for _, v := range []string{o.CoreMigrationVersion, o.TypeMigrationVersion} {
				if !versionAtMost(v, MinimumKibanaVersion) {
					t.Errorf("%s/%s: migration version %s is newer than %s, which would refuse it", o.Type, o.ID, v, MinimumKibanaVersion)
				}
			}
		}
	})

	t.Run("no legacy visualizations", func(t *testing.T) {
		for _, o := range objs {
			if o.Type == "visualization" {
				t.Errorf("%s: a legacy visualization object", o.ID)
			}
		}
	})

	dataView := byKey["index-pattern/"+DataViewID]
	if dataView == nil {
		t.Fatal("no data view " + DataViewID)
	}
	t.Run("data view", func(t *testing.T) {
		a := dataView.Attributes
		if a["title"] != elasticsearch.DefaultTemplatePattern {
			t.Errorf("title %v, want the data streams' pattern %s", a["title"], elasticsearch.DefaultTemplatePattern)
		}
		if tf, _ := a["timeFieldName"].(string); fields[tf] != "date" {
			t.Errorf("timeFieldName %q is not a date field of the template", tf)
		}
		for _, attr := range []string{"fieldFormatMap", "fieldAttrs"} {
			m, _ := dataView.embedded[attr].(map[string]any)
			if len(m) == 0 {
				t.Errorf("%s is empty", attr)
			}
			for f := range m {
				if fields[f] == "" {
					t.Errorf("%s names %s, which the template does not map", attr, f)
				}
			}
		}
		popular, _ := dataView.embedded["fieldAttrs"].(map[string]any)
		for _, f := range []string{"host.name", "user.name", "process.command_line", "process.parent.command_line", "rule.name"} {
			if fa, _ := popular[f].(map[string]any); fa["count"] == nil {
				t.Errorf("%s is not among the popular fields (fieldAttrs count)", f)
			}
		}
		var sev struct {
			ID     string `json:"id"`
			Params struct {
				LookupEntries []struct{ Key, Value string } `json:"lookupEntries"`
			} `json:"params"`
		}
		reencode(t, dataView.embedded["fieldFormatMap"].(map[string]any)["event.severity"], &sev)
		for _, word := range []string{"low", "medium", "high", "critical"} {
			key := strconv.Itoa(ecs.SeverityNumber(word))
			if !slices.ContainsFunc(sev.Params.LookupEntries, func(e struct{ Key, Value string }) bool {
				return e.Key == key && strings.HasPrefix(e.Value, word)
			}) {
				t.Errorf("event.severity format %+v does not show %s as %s", sev, key, word)
			}
		}
	})

	// Collect every Lens visualization and check each dashboard's panels.
	var lenses []lensUse
	var searchPanels int
	for _, o := range objs {
		if o.Type == "lens" {
			var la lensAttributes
			reencode(t, o.Attributes, &la)
			la.References = o.References
			lenses = append(lenses, lensUse{where: "lens/" + o.ID, attrs: la})
		}
		if o.Type != "dashboard" {
			continue
		}
		var panels []panel
		reencode(t, o.embedded["panelsJSON"], &panels)
		dashRefs := map[string]reference{}
		for _, r := range o.References {
			dashRefs[r.Name] = r
		}
		used := map[string]bool{}
		t.Run(o.ID+" panels", func(t *testing.T) {
			if len(panels) == 0 {
				t.Fatal("no panels")
			}
			seen := map[string]bool{}
			for i, p := range panels {
				where := fmt.Sprintf("panel %q", p.PanelIndex)
				if p.PanelIndex == "" || seen[p.PanelIndex] {
					t.Errorf("panel %d: panelIndex %q missing or repeated", i, p.PanelIndex)
				}
				seen[p.PanelIndex] = true
				if p.GridData.I != p.PanelIndex {
					t.Errorf("%s: gridData.i %q", where, p.GridData.I)
				}
				if !versionAtMost(p.Version, MinimumKibanaVersion) {
					t.Errorf("%s: version %s newer than %s", where, p.Version, MinimumKibanaVersion)
				}
				if p.Title == "" {
					t.Errorf("%s: no title", where)
				}
				switch p.Type {
				case "lens":
					var cfg struct {
						Attributes *lensAttributes `json:"attributes"`
						SavedVis   json.RawMessage `json:"savedVis"`
					}
					if err := json.Unmarshal(p.EmbeddableConfig, &cfg); err != nil || cfg.Attributes == nil {
						t.Errorf("%s: a lens panel without attributes (by value) (%v)", where, err)
						continue
					}
					lenses = append(lenses, lensUse{where: o.ID + " " + where, attrs: *cfg.Attributes})
					for _, r := range cfg.Attributes.References {
						name := p.PanelIndex + ":" + r.Name
						dr, ok := dashRefs[name]
						if !ok || dr.Type != r.Type || dr.ID != r.ID {
							t.Errorf("%s: the dashboard does not repeat the panel's reference as %q (%s/%s); it has %+v", where, name, r.Type, r.ID, dr)
						}
						used[name] = true
					}
				case "search":
					searchPanels++
					name := p.PanelIndex + ":" + p.PanelRefName
					if p.PanelRefName != "panel_"+p.PanelIndex {
						t.Errorf("%s: panelRefName %q, want panel_%s", where, p.PanelRefName, p.PanelIndex)
					}
					if dr, ok := dashRefs[name]; !ok || dr.Type != "search" {
						t.Errorf("%s: no search reference %q", where, name)
					}
					used[name] = true
				default:
					t.Errorf("%s: panel type %q: only Lens and saved searches", where, p.Type)
				}
			}
			for name := range dashRefs {
				if !used[name] {
					t.Errorf("reference %q belongs to no panel", name)
				}
			}
		})
		t.Run(o.ID+" grid", func(t *testing.T) {
			for i, p := range panels {
				g := p.GridData
				if g.X < 0 || g.Y < 0 || g.W < 1 || g.H < 1 || g.X+g.W > gridColumns {
					t.Errorf("panel %q: grid %+v outside the %d-column grid", p.PanelIndex, g, gridColumns)
				}
				for _, q := range panels[i+1:] {
					h := q.GridData
					if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
						t.Errorf("panels %q %+v and %q %+v overlap", p.PanelIndex, g, q.PanelIndex, h)
					}
				}
			}
		})
	}
	if searchPanels == 0 {
		t.Error("the dashboard shows no saved search")
	}

	t.Run("lens", func(t *testing.T) {
		if len(lenses) < 5 {
			t.Errorf("%d Lens visualizations, want at least the five of the dashboard", len(lenses))
		}
		modern := []string{"lnsXY", "lnsDatatable", "lnsMetric", "lnsPie", "lnsHeatmap", "lnsTagcloud", "lnsGauge"}
		for _, l := range lenses {
			a := l.attrs
			if !slices.Contains(modern, a.VisualizationType) {
				t.Errorf("%s: visualizationType %q", l.where, a.VisualizationType)
			}
			if len(a.State.DatasourceStates.IndexPattern) > 0 {
				t.Errorf("%s: datasourceStates.indexpattern is the shape before 8.6; use formBased", l.where)
			}
			if a.State.Query.Language != "kuery" || !filteredOnDataset(a.State.Query.Query) {
				t.Errorf("%s: query %+v is not filtered on %s", l.where, a.State.Query, datasetQuery)
			}
			for _, f := range kqlFields(a.State.Query.Query) {
				if !capable("query", fields[f]) {
					t.Errorf("%s: the query names %s, which the template does not map", l.where, f)
				}
			}
			layers := a.State.DatasourceStates.FormBased.Layers
			if len(layers) == 0 {
				t.Errorf("%s: no formBased layer", l.where)
			}
			for id, layer := range layers {
				name := "indexpattern-datasource-layer-" + id
				if !slices.ContainsFunc(a.References, func(r reference) bool {
					return r.Name == name && r.Type == "index-pattern" && r.ID == DataViewID
				}) {
					t.Errorf("%s: layer %q has no reference %q to the data view", l.where, id, name)
				}
				order := slices.Clone(layer.ColumnOrder)
				sort.Strings(order)
				var ids []string
				for cid := range layer.Columns {
					ids = append(ids, cid)
				}
				sort.Strings(ids)
				if !slices.Equal(order, ids) {
					t.Errorf("%s: columnOrder %v does not list the columns %v", l.where, layer.ColumnOrder, ids)
				}
				for cid, c := range layer.Columns {
					checkColumn(t, fmt.Sprintf("%s column %s", l.where, cid), c, layer, fields)
				}
			}
			checkVisualization(t, l.where, a, layers)
		}
	})

	t.Run("dashboard shows what the issue asks", func(t *testing.T) {
		want := map[string]func(lensAttributes) string{
			"executions over time by host (a date histogram of @timestamp split by host.name, counting execs)": overTimeBy("host.name", `event.action : "exec"`),
			"alerts over time by rule (a date histogram of @timestamp split by rule.name, counting alerts)":    overTimeBy("rule.name", `event.kind : "alert"`),
			"parent › child pairs (terms on process.parent.name with process.name, most frequent first)": func(a lensAttributes) string {
				c, ok := bucket(a, "process.parent.name")
				if !ok || !slices.Equal(c.Params.SecondaryFields, []string{"process.name"}) || c.Params.OrderDirection != "desc" {
					return "terms on process.parent.name with process.name, most frequent first"
				}
				return ""
			},
			"hosts with executions and alerts (rows by host.name, a count of execs, a count of alerts)": func(a lensAttributes) string {
				if _, ok := bucket(a, "host.name"); !ok || !hasCount(a, `event.action : "exec"`) || !hasCount(a, `event.kind : "alert"`) {
					return "rows by host.name with a count of execs and a count of alerts"
				}
				return ""
			},
			"rarest executables (terms on process.executable, least frequent first)": func(a lensAttributes) string {
				c, ok := bucket(a, "process.executable")
				if !ok || c.Params.OrderDirection != "asc" || c.Params.OrderBy.Type != "column" {
					return "terms on process.executable, least frequent first"
				}
				return ""
			},
		}
		for name, check := range want {
			if !slices.ContainsFunc(lenses, func(l lensUse) bool { return check(l.attrs) == "" }) {
				t.Errorf("no Lens panel shows %s", name)
			}
		}
	})

	t.Run("alerts search", func(t *testing.T) {
		o := byKey["search/"+AlertsSearchID]
		if o == nil {
			t.Fatal("no saved search " + AlertsSearchID)
		}
		var a struct {
			Title   string     `json:"title"`
			Columns []string   `json:"columns"`
			Sort    [][]string `json:"sort"`
		}
		reencode(t, o.Attributes, &a)
		var ss struct {
			Query        kqlQuery `json:"query"`
			IndexRefName string   `json:"indexRefName"`
		}
		reencode(t, o.embedded["kibanaSavedObjectMeta.searchSourceJSON"], &ss)
		for _, f := range []string{"host.name", "user.name", "process.parent.command_line", "process.command_line", "rule.name"} {
			if !slices.Contains(a.Columns, f) {
				t.Errorf("column %s missing from %v", f, a.Columns)
			}
		}
		for _, f := range a.Columns {
			if !capable("display", fields[f]) {
				t.Errorf("column %s: the template does not map it", f)
			}
		}
		if len(a.Sort) != 1 || !slices.Equal(a.Sort[0], []string{"@timestamp", "desc"}) || !capable("sort", fields["@timestamp"]) {
			t.Errorf("sort %v, want newest first on @timestamp (the data view's time field, shown as the first column)", a.Sort)
		}
		if ss.Query.Language != "kuery" || !filteredOnDataset(ss.Query.Query) || !slices.Contains(strings.Split(ss.Query.Query, " and "), `event.kind : "alert"`) {
			t.Errorf("query %+v: want %s and event.kind : \"alert\"", ss.Query, datasetQuery)
		}
		for _, f := range kqlFields(ss.Query.Query) {
			if fields[f] == "" {
				t.Errorf("the query names %s, which the template does not map", f)
			}
		}
		if !slices.ContainsFunc(o.References, func(r reference) bool {
			return r.Name == ss.IndexRefName && r.Type == "index-pattern" && r.ID == DataViewID
		}) {
			t.Errorf("indexRefName %q has no reference to the data view", ss.IndexRefName)
		}
	})
}

// checkColumn checks one Lens column's field, type and operation.
func checkColumn(t *testing.T, where string, c lensColumn, layer lensLayer, fields map[string]string) {
	t.Helper()
	if c.Filter != nil {
		if c.Filter.Language != "kuery" {
			t.Errorf("%s: filter language %q", where, c.Filter.Language)
		}
		for _, f := range kqlFields(c.Filter.Query) {
			if fields[f] == "" {
				t.Errorf("%s: the filter names %s, which the template does not map", where, f)
			}
		}
	}
	if c.OperationType == "count" && c.SourceField == "___records___" {
		if c.DataType != "number" {
			t.Errorf("%s: count of records with dataType %q", where, c.DataType)
		}
		return
	}
	for _, f := range append([]string{c.SourceField}, c.Params.SecondaryFields...) {
		typ := fields[f]
		if typ == "" {
			t.Errorf("%s: field %q is not in the template's mappings", where, f)
			continue
		}
		if !capable(c.OperationType, typ) {
			t.Errorf("%s: %s on %s, a %s field, which cannot do it", where, c.OperationType, f, typ)
		}
	}
	wantData := map[string]string{"keyword": "string", "constant_keyword": "string", "date": "date", "ip": "ip", "boolean": "boolean"}
	if c.IsBucketed && c.OperationType != "date_histogram" {
		if w, ok := wantData[fields[c.SourceField]]; ok && c.DataType != w {
			t.Errorf("%s: dataType %q for a %s field", where, c.DataType, fields[c.SourceField])
		}
	}
	if !c.IsBucketed && c.DataType != "number" && c.OperationType != "last_value" {
		t.Errorf("%s: a metric with dataType %q", where, c.DataType)
	}
	if c.OperationType == "terms" {
		if c.Params.Size < 1 {
			t.Errorf("%s: terms size %d", where, c.Params.Size)
		}
		if c.Params.OrderBy.Type == "column" {
			if _, ok := layer.Columns[c.Params.OrderBy.ColumnID]; !ok {
				t.Errorf("%s: ordered by column %q, which the layer does not have", where, c.Params.OrderBy.ColumnID)
			}
		}
	}
}

// checkVisualization checks that the visualization's layers and accessors
// name the datasource's layers and columns.
func checkVisualization(t *testing.T, where string, a lensAttributes, layers map[string]lensLayer) {
	t.Helper()
	has := func(layer, col string) bool {
		l, ok := layers[layer]
		if !ok {
			return false
		}
		_, ok = l.Columns[col]
		return ok
	}
	switch a.VisualizationType {
	case "lnsXY":
		var v struct {
			Layers []struct {
				LayerID       string   `json:"layerId"`
				LayerType     string   `json:"layerType"`
				XAccessor     string   `json:"xAccessor"`
				SplitAccessor string   `json:"splitAccessor"`
				Accessors     []string `json:"accessors"`
			} `json:"layers"`
		}
		if err := json.Unmarshal(a.State.Visualization, &v); err != nil || len(v.Layers) == 0 {
			t.Errorf("%s: XY visualization without layers (%v)", where, err)
			return
		}
		for _, l := range v.Layers {
			cols := append([]string{l.XAccessor}, l.Accessors...)
			if l.SplitAccessor != "" {
				cols = append(cols, l.SplitAccessor)
			}
			for _, c := range cols {
				if !has(l.LayerID, c) {
					t.Errorf("%s: XY layer %q names column %q, which the datasource does not have", where, l.LayerID, c)
				}
			}
		}
	case "lnsDatatable":
		var v struct {
			LayerID string `json:"layerId"`
			Columns []struct {
				ColumnID string `json:"columnId"`
			} `json:"columns"`
			Sorting struct {
				ColumnID string `json:"columnId"`
			} `json:"sorting"`
		}
		if err := json.Unmarshal(a.State.Visualization, &v); err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		if len(v.Columns) != len(layers[v.LayerID].Columns) {
			t.Errorf("%s: table shows %d columns of the layer's %d", where, len(v.Columns), len(layers[v.LayerID].Columns))
		}
		for _, c := range v.Columns {
			if !has(v.LayerID, c.ColumnID) {
				t.Errorf("%s: table column %q not in layer %q", where, c.ColumnID, v.LayerID)
			}
		}
		if v.Sorting.ColumnID != "" && !has(v.LayerID, v.Sorting.ColumnID) {
			t.Errorf("%s: sorted by %q, not a column", where, v.Sorting.ColumnID)
		}
	}
}

// bucket finds a terms column on field.
func bucket(a lensAttributes, field string) (lensColumn, bool) {
	for _, l := range a.State.DatasourceStates.FormBased.Layers {
		for _, c := range l.Columns {
			if c.OperationType == "terms" && c.SourceField == field {
				return c, true
			}
		}
	}
	return lensColumn{}, false
}

// hasCount reports whether the visualization counts documents matching
// kql, in its query or in a column's filter.
func hasCount(a lensAttributes, kql string) bool {
	inQuery := slices.Contains(strings.Split(a.State.Query.Query, " and "), kql)
	for _, l := range a.State.DatasourceStates.FormBased.Layers {
		for _, c := range l.Columns {
			if c.OperationType != "count" {
				continue
			}
			if inQuery && c.Filter == nil || c.Filter != nil && c.Filter.Query == kql {
				return true
			}
		}
	}
	return false
}

// overTimeBy checks a time chart split by field, counting documents that
// match kql.
func overTimeBy(field, kql string) func(lensAttributes) string {
	return func(a lensAttributes) string {
		if a.VisualizationType != "lnsXY" {
			return "an XY chart"
		}
		var hist bool
		for _, l := range a.State.DatasourceStates.FormBased.Layers {
			for _, c := range l.Columns {
				hist = hist || c.OperationType == "date_histogram" && c.SourceField == "@timestamp"
			}
		}
		if _, ok := bucket(a, field); !ok || !hist || !hasCount(a, kql) {
			return fmt.Sprintf("a date histogram of @timestamp split by %s counting %s", field, kql)
		}
		return ""
	}
}

// The promotion rule against the detection engine's import schema, as
// Kibana's source states it: x-pack/plugins/security_solution/common/api/
// detection_engine/model/rule_schema/rule_schemas.schema.yaml
// (BaseRequiredFields, BaseOptionalFields, BaseDefaultableFields,
// QueryRuleCreateFields) and common_attributes.schema.yaml (RiskScore
// 0..100 integer, Severity low|medium|high|critical, SeverityMapping and
// RiskScoreMapping items, KqlQueryLanguage kuery|lucene, MaxSignals >= 1,
// RuleVersion >= 1), with .../rule_management/import_rules/rule_to_import.ts
// (an imported rule needs rule_id and version; immutable, if present, must
// be false) and rule_to_import_validation.ts (timeline_id and
// timeline_title together); the same fields and types as the "Create rule"
// and "Import rules" API pages of the Elastic Security docs (8.x).

type fieldKind int

const (
	kString fieldKind = iota
	kNonEmptyString
	kBool
	kStringArray
	kArray
	kObject
	kRiskScore
	kSeverity
	kLanguage
	kPositiveInt
	kDuration
	kDateMath
	kFalse
)

// queryRuleImportSchema: field -> kind; required marks the ones an import
// of a query rule cannot leave out.
var queryRuleImportSchema = map[string]struct {
	kind     fieldKind
	required bool
}{
	"rule_id":     {kNonEmptyString, true},
	"version":     {kPositiveInt, true},
	"name":        {kNonEmptyString, true},
	"description": {kNonEmptyString, true},
	"risk_score":  {kRiskScore, true},
	"severity":    {kSeverity, true},
	"type":        {kNonEmptyString, true},

	"language": {kind: kLanguage}, "query": {kind: kString}, "index": {kind: kStringArray},
	"data_view_id": {kind: kString}, "filters": {kind: kArray}, "saved_id": {kind: kString},
	"enabled": {kind: kBool}, "interval": {kind: kDuration}, "from": {kind: kDateMath}, "to": {kind: kString},
	"max_signals": {kind: kPositiveInt}, "timestamp_override": {kind: kString},
	"timestamp_override_fallback_disabled": {kind: kBool}, "rule_name_override": {kind: kString},
	"severity_mapping": {kind: kArray}, "risk_score_mapping": {kind: kArray},
	"author": {kind: kStringArray}, "license": {kind: kString}, "references": {kind: kStringArray},
	"tags": {kind: kStringArray}, "false_positives": {kind: kStringArray}, "threat": {kind: kArray},
	"exceptions_list": {kind: kArray}, "actions": {kind: kArray}, "note": {kind: kString},
	"setup": {kind: kString}, "meta": {kind: kObject}, "building_block_type": {kind: kString},
	"timeline_id": {kind: kNonEmptyString}, "timeline_title": {kind: kNonEmptyString},
	"investigation_fields": {kind: kObject}, "response_actions": {kind: kArray},
	"alert_suppression": {kind: kObject}, "throttle": {kind: kString}, "immutable": {kind: kFalse},
	"output_index": {kind: kString}, "namespace": {kind: kString},
}

var (
	durationPattern = regexp.MustCompile(`^([1-9][0-9]*)([smhd])$`)
	dateMathPattern = regexp.MustCompile(`^now-([1-9][0-9]*)([smhd])$`)
)

func parseDuration(m []string) time.Duration {
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit
}

// checkSchema returns every violation of the import schema in rule.
func checkSchema(rule map[string]any) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for k, v := range rule {
		f, known := queryRuleImportSchema[k]
		if !known {
			bad("%s: not a field of a query rule (Kibana would drop it)", k)
			continue
		}
		switch f.kind {
		case kString, kNonEmptyString:
			s, ok := v.(string)
			if !ok || f.kind == kNonEmptyString && s == "" {
				bad("%s: %v is not a non-empty string", k, v)
			}
		case kBool:
			if _, ok := v.(bool); !ok {
				bad("%s: %v is not a boolean", k, v)
			}
		case kFalse:
			if v != false {
				bad("%s: an imported rule must not be immutable", k)
			}
		case kStringArray:
			arr, ok := v.([]any)
			if !ok {
				bad("%s: not an array", k)
			}
			for _, e := range arr {
				if _, ok := e.(string); !ok {
					bad("%s: element %v is not a string", k, e)
				}
			}
		case kArray:
			if _, ok := v.([]any); !ok {
				bad("%s: not an array", k)
			}
		case kObject:
			if _, ok := v.(map[string]any); !ok {
				bad("%s: not an object", k)
			}
		case kRiskScore:
			n, ok := v.(float64)
			if !ok || n != float64(int(n)) || n < 0 || n > 100 {
				bad("%s: %v is not an integer from 0 to 100", k, v)
			}
		case kPositiveInt:
			n, ok := v.(float64)
			if !ok || n != float64(int(n)) || n < 1 {
				bad("%s: %v is not an integer of at least 1", k, v)
			}
		case kSeverity:
			if !slices.Contains([]string{"low", "medium", "high", "critical"}, fmt.Sprint(v)) {
				bad("%s: %v is not low, medium, high or critical", k, v)
			}
		case kLanguage:
			if v != "kuery" && v != "lucene" {
				bad("%s: %v is not kuery or lucene", k, v)
			}
		case kDuration:
			if s, _ := v.(string); !durationPattern.MatchString(s) {
				bad("%s: %v is not a duration like 5m", k, v)
			}
		case kDateMath:
			if s, _ := v.(string); !dateMathPattern.MatchString(s) {
				bad("%s: %v is not date math like now-6m", k, v)
			}
		}
	}
	for k, f := range queryRuleImportSchema {
		if _, ok := rule[k]; f.required && !ok {
			bad("%s: required", k)
		}
	}
	if rule["type"] != "query" {
		bad("type: %v, want query", rule["type"])
	}
	_, id := rule["timeline_id"]
	_, title := rule["timeline_title"]
	if id != title {
		bad("timeline_id and timeline_title go together")
	}
	for i, m := range asObjects(rule["severity_mapping"]) {
		if s, _ := m["field"].(string); s == "" {
			bad("severity_mapping[%d].field: required", i)
		}
		if m["operator"] != "equals" {
			bad("severity_mapping[%d].operator: %v, want equals", i, m["operator"])
		}
		if _, ok := m["value"].(string); !ok {
			bad("severity_mapping[%d].value: %v is not a string (the mapping matches a field's values as text)", i, m["value"])
		}
		if !slices.Contains([]string{"low", "medium", "high", "critical"}, fmt.Sprint(m["severity"])) {
			bad("severity_mapping[%d].severity: %v", i, m["severity"])
		}
	}
	for i, m := range asObjects(rule["risk_score_mapping"]) {
		if s, _ := m["field"].(string); s == "" {
			bad("risk_score_mapping[%d].field: required", i)
		}
		if m["operator"] != "equals" {
			bad("risk_score_mapping[%d].operator: %v, want equals", i, m["operator"])
		}
		if _, ok := m["value"].(string); !ok {
			bad("risk_score_mapping[%d].value: not a string", i)
		}
	}
	sort.Strings(errs)
	return errs
}

func asObjects(v any) []map[string]any {
	arr, _ := v.([]any)
	var out []map[string]any
	for _, e := range arr {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

// promotionRule reads the shipped rule from the NDJSON DetectionRules
// produces.
func promotionRule(t *testing.T) map[string]any {
	t.Helper()
	b, err := DetectionRules(Assets())
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(t, b)
	if len(ls) != 1 {
		t.Fatalf("%d rules, want the promotion rule alone", len(ls))
	}
	var rule map[string]any
	if err := json.Unmarshal([]byte(ls[0]), &rule); err != nil {
		t.Fatal(err)
	}
	return rule
}

func TestPromotionRuleSchema(t *testing.T) {
	rule := promotionRule(t)
	if errs := checkSchema(rule); len(errs) > 0 {
		t.Errorf("the promotion rule breaks the import schema:\n%s", strings.Join(errs, "\n"))
	}
	t.Run("the schema check catches", func(t *testing.T) {
		broken := []struct {
			name  string
			edit  func(map[string]any)
			wants string
		}{
			{"a missing name", func(r map[string]any) { delete(r, "name") }, "name: required"},
			{"a numeric severity value", func(r map[string]any) {
				r["severity_mapping"] = []any{map[string]any{"field": "event.severity", "operator": "equals", "value": 73.0, "severity": "high"}}
			}, "severity_mapping[0].value"},
			{"a severity word outside the enum", func(r map[string]any) { r["severity"] = "severe" }, "severity: severe"},
			{"a risk score above 100", func(r map[string]any) { r["risk_score"] = 101.0 }, "risk_score: 101"},
			{"a typo", func(r map[string]any) { r["rule_name_overide"] = "rule.name" }, "rule_name_overide: not a field"},
			{"a bad look-back", func(r map[string]any) { r["from"] = "2m" }, "from: 2m"},
			{"an immutable rule", func(r map[string]any) { r["immutable"] = true }, "immutable"},
			{"a timeline id alone", func(r map[string]any) { r["timeline_id"] = "x" }, "timeline_id and timeline_title"},
		}
		for _, b := range broken {
			r := promotionRule(t)
			b.edit(r)
			if errs := strings.Join(checkSchema(r), "\n"); !strings.Contains(errs, b.wants) {
				t.Errorf("%s: errors %q, want one with %q", b.name, errs, b.wants)
			}
		}
	})
}

// TestPromotionRuleDesign: what the rule does, field by field, and that
// every field it reads is mapped with a type that can serve it.
func TestPromotionRuleDesign(t *testing.T) {
	rule := promotionRule(t)
	fields := templateFields(t)
	want := map[string]any{
		"rule_id":            PromotionRuleID,
		"type":               "query",
		"language":           "kuery",
		"query":              "event.kind: alert and event.module: spawnbeat",
		"rule_name_override": "rule.name",
		"timestamp_override": "event.ingested",
		"enabled":            true,
	}
	for k, v := range want {
		if rule[k] != v {
			t.Errorf("%s = %v, want %v", k, rule[k], v)
		}
	}
	if idx, _ := rule["index"].([]any); len(idx) != 1 || idx[0] != elasticsearch.DefaultTemplatePattern {
		t.Errorf("index = %v, want [%s]", rule["index"], elasticsearch.DefaultTemplatePattern)
	}
	for _, k := range []string{"author", "license", "description", "references", "max_signals", "version"} {
		if rule[k] == nil {
			t.Errorf("%s is missing", k)
		}
	}

	// Look-back: each run searches [now-from, now]; runs come every
	// interval. A look-back of at least two intervals gives every
	// document two runs, so one run that starts late or fails misses
	// nothing.
	interval := durationPattern.FindStringSubmatch(fmt.Sprint(rule["interval"]))
	from := dateMathPattern.FindStringSubmatch(fmt.Sprint(rule["from"]))
	if interval == nil || from == nil {
		t.Fatalf("interval %v from %v", rule["interval"], rule["from"])
	}
	if iv, lb := parseDuration(interval), parseDuration(from); iv > 5*time.Minute || lb < 2*iv {
		t.Errorf("interval %v, look-back %v: want a short interval and a look-back of two intervals or more", iv, lb)
	}

	// severity_mapping matches event.severity's values: spawnbeat writes
	// the number of the matching rule's severity word.
	sevs := asObjects(rule["severity_mapping"])
	for _, word := range []string{"low", "medium", "high", "critical"} {
		value := strconv.Itoa(ecs.SeverityNumber(word))
		if !slices.ContainsFunc(sevs, func(m map[string]any) bool {
			return m["field"] == "event.severity" && m["value"] == value && m["severity"] == word
		}) {
			t.Errorf("severity_mapping has no event.severity %s -> %s: %v", value, word, sevs)
		}
	}
	if len(sevs) != 4 {
		t.Errorf("severity_mapping has %d entries, want one per severity word", len(sevs))
	}
	risk := asObjects(rule["risk_score_mapping"])
	if len(risk) != 1 || risk[0]["field"] != "event.risk_score" || risk[0]["value"] != "" {
		t.Errorf("risk_score_mapping = %v, want event.risk_score's own value (value \"\")", risk)
	}

	for field, need := range map[string][]string{
		"event.kind": {"keyword"}, "event.module": {"keyword"}, "rule.name": {"keyword"},
		"event.severity": {"long", "integer"}, "event.risk_score": {"float", "long", "integer"},
		"event.ingested": {"date"},
	} {
		if !slices.Contains(need, fields[field]) {
			t.Errorf("%s is mapped as %q, want one of %v", field, fields[field], need)
		}
	}
}
