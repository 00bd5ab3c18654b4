package elasticsearch

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v2"

	"github.com/spawnbeat/spawnbeat/config"
)

// Defaults of setup.template.* and setup.ilm.*.
const (
	DefaultTemplateName     = "logs-spawnbeat.process"
	DefaultTemplatePattern  = "logs-spawnbeat.process-*"
	DefaultTemplatePriority = 200 // above the built-in logs template (100)
	DefaultILMPolicyName    = "spawnbeat"
	defaultIgnoreAbove      = 1024 // ECS's ignore_above for keyword fields
	defaultScalingFactor    = 1000 // libbeat's default for scaled_float
	defaultTotalFieldsLimit = 10000
)

// SetupConfig is the setup section: setup.template.* and setup.ilm.*. A
// plain value; not safe for concurrent mutation.
type SetupConfig struct {
	Template TemplateConfig `config:"template"`
	ILM      ILMConfig      `config:"ilm"`
}

// TemplateConfig is setup.template.*. A plain value, like SetupConfig.
type TemplateConfig struct {
	Enabled   bool   `config:"enabled"`
	Name      string `config:"name"`
	Pattern   string `config:"pattern"`
	Priority  int    `config:"priority"`
	Overwrite bool   `config:"overwrite"` // replace an existing template
	Settings  struct {
		// Index holds extra index settings, e.g. number_of_shards.
		Index map[string]any `config:"index"`
	} `config:"settings"`
}

// ILMConfig is setup.ilm.*: the lifecycle policy of the data stream. A
// plain value, like SetupConfig.
type ILMConfig struct {
	Enabled                     bool   `config:"enabled"`
	PolicyName                  string `config:"policy_name"`
	Overwrite                   bool   `config:"overwrite"`
	RolloverMaxPrimaryShardSize string `config:"rollover_max_primary_shard_size"`
	RolloverMaxAge              string `config:"rollover_max_age"`
	DeleteAfter                 string `config:"delete_after"` // empty: keep forever
}

// DefaultSetupConfig returns the defaults: template logs-spawnbeat.process
// with priority 200, ILM policy "spawnbeat" rolling over at 50gb per
// primary shard or 30 days and deleting after 90 days.
func DefaultSetupConfig() SetupConfig {
	return SetupConfig{
		Template: TemplateConfig{
			Enabled:  true,
			Name:     DefaultTemplateName,
			Pattern:  DefaultTemplatePattern,
			Priority: DefaultTemplatePriority,
		},
		ILM: ILMConfig{
			Enabled:                     true,
			PolicyName:                  DefaultILMPolicyName,
			RolloverMaxPrimaryShardSize: "50gb",
			RolloverMaxAge:              "30d",
			DeleteAfter:                 "90d",
		},
	}
}

// Validate reports every problem at once, each a *config.KeyError naming
// its key below setup.
func (c *SetupConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.KeyError{Key: key, Err: fmt.Errorf(format, args...)})
	}
	if c.Template.Enabled {
		if c.Template.Name == "" {
			bad("template.name", "must not be empty")
		}
		if c.Template.Pattern == "" {
			bad("template.pattern", "must not be empty")
		}
		if c.Template.Priority < 0 {
			bad("template.priority", "must be >= 0, got %d", c.Template.Priority)
		}
	}
	if c.ILM.Enabled {
		if c.ILM.PolicyName == "" {
			bad("ilm.policy_name", "must not be empty")
		}
		if c.ILM.RolloverMaxPrimaryShardSize == "" && c.ILM.RolloverMaxAge == "" {
			bad("ilm", "rollover_max_primary_shard_size or rollover_max_age is required")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("setup: %w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// Field is one entry of a Beats-style fields.yml. Top-level entries are
// sections (Key, Title, Fields); below them each field has a Name, a Type
// and, for groups, Fields. A plain value; ParseFields returns fresh ones.
type Field struct {
	Key           string   `yaml:"key"`
	Title         string   `yaml:"title"`
	Name          string   `yaml:"name"`
	Type          string   `yaml:"type"`
	Description   string   `yaml:"description"`
	Fields        []Field  `yaml:"fields"`
	MultiFields   []Field  `yaml:"multi_fields"`
	IgnoreAbove   *int     `yaml:"ignore_above"`
	ScalingFactor *float64 `yaml:"scaling_factor"`
	Index         *bool    `yaml:"index"`
	DocValues     *bool    `yaml:"doc_values"`
	Value         string   `yaml:"value"` // constant_keyword's value
}

// ParseFields reads a fields.yml document.
func ParseFields(fieldsYAML []byte) ([]Field, error) {
	var sections []Field
	if err := yaml.Unmarshal(fieldsYAML, &sections); err != nil {
		return nil, fmt.Errorf("parse fields.yml: %w: %w", ErrFields, err)
	}
	if len(sections) == 0 {
		return nil, fmt.Errorf("parse fields.yml: %w: no sections", ErrFields)
	}
	return sections, nil
}

// Mappings builds the "mappings" object of the index template from
// fields.yml: explicit properties for every declared field, strings of
// undeclared fields as keyword (dynamic for the rest), no date detection.
// Fields that Elasticsearch fills rather than the agent are added when
// fields.yml does not declare them: data_stream.{type,dataset,namespace}
// as constant_keyword, because a data stream needs them, and
// event.ingested as date, which the ingest pipeline sets (see
// IngestPipelineName; dynamic mapping would make it a keyword, which no
// rule can range over). Pure: the same bytes give the same JSON.
func Mappings(fieldsYAML []byte) (map[string]any, error) {
	sections, err := ParseFields(fieldsYAML)
	if err != nil {
		return nil, err
	}
	root := map[string]any{}
	for i, s := range sections {
		if s.Key == "" && s.Name != "" {
			// Tolerate a flat list of fields without sections.
			if err := addField(root, "", s); err != nil {
				return nil, err
			}
			continue
		}
		for _, f := range s.Fields {
			if err := addField(root, "", f); err != nil {
				return nil, fmt.Errorf("section %d (%s): %w", i, s.Key, err)
			}
		}
	}
	serverFilled := []Field{
		{Name: "data_stream.type", Type: "constant_keyword"},
		{Name: "data_stream.dataset", Type: "constant_keyword"},
		{Name: "data_stream.namespace", Type: "constant_keyword"},
		{Name: "event.ingested", Type: "date"},
	}
	for _, f := range serverFilled {
		if _, err := lookup(root, f.Name); err != nil {
			if err := addField(root, "", f); err != nil {
				return nil, err
			}
		}
	}
	return map[string]any{
		"date_detection": false,
		"dynamic":        true,
		"dynamic_templates": []any{
			map[string]any{"strings_as_keyword": map[string]any{
				"match_mapping_type": "string",
				"mapping":            map[string]any{"type": "keyword", "ignore_above": defaultIgnoreAbove},
			}},
		},
		"properties": root,
	}, nil
}

// lookup finds a dotted path in a properties tree.
func lookup(props map[string]any, path string) (map[string]any, error) {
	parts := strings.Split(path, ".")
	cur := props
	for i, p := range parts {
		m, ok := cur[p].(map[string]any)
		if !ok {
			return nil, errors.New("not found")
		}
		if i == len(parts)-1 {
			return m, nil
		}
		next, ok := m["properties"].(map[string]any)
		if !ok {
			return nil, errors.New("not found")
		}
		cur = next
	}
	return nil, errors.New("not found")
}

// addField adds f (whose name may contain dots) under props.
func addField(props map[string]any, prefix string, f Field) error {
	if f.Name == "" {
		return fmt.Errorf("%w: field without a name under %q", ErrFields, prefix)
	}
	full := f.Name
	if prefix != "" {
		full = prefix + "." + f.Name
	}
	parts := strings.Split(f.Name, ".")
	// Walk or create the objects of a dotted name ("os.type").
	for _, p := range parts[:len(parts)-1] {
		obj, err := objectNode(props, p, full)
		if err != nil {
			return err
		}
		props = obj
	}
	last := parts[len(parts)-1]
	switch f.Type {
	case "group", "", "object", "nested":
		if len(f.Fields) == 0 {
			if f.Type == "" || f.Type == "group" {
				return fmt.Errorf("%w: %s: group without fields", ErrFields, full)
			}
			return setLeaf(props, last, full, map[string]any{"type": f.Type})
		}
		if f.Type == "nested" {
			if _, ok := props[last]; ok {
				return fmt.Errorf("%w: %s: declared twice", ErrFields, full)
			}
			props[last] = map[string]any{"type": "nested", "properties": map[string]any{}}
		}
		obj, err := objectNode(props, last, full)
		if err != nil {
			return err
		}
		for _, c := range f.Fields {
			if err := addField(obj, full, c); err != nil {
				return err
			}
		}
		return nil
	}
	if len(f.Fields) > 0 {
		return fmt.Errorf("%w: %s: type %s cannot have fields", ErrFields, full, f.Type)
	}
	m, err := leafMapping(f, full)
	if err != nil {
		return err
	}
	if len(f.MultiFields) > 0 {
		mf := map[string]any{}
		for _, sub := range f.MultiFields {
			if sub.Name == "" || strings.Contains(sub.Name, ".") {
				return fmt.Errorf("%w: %s: bad multi_field name %q", ErrFields, full, sub.Name)
			}
			if _, dup := mf[sub.Name]; dup {
				return fmt.Errorf("%w: %s.%s: declared twice", ErrFields, full, sub.Name)
			}
			sm, err := leafMapping(sub, full+"."+sub.Name)
			if err != nil {
				return err
			}
			mf[sub.Name] = sm
		}
		m["fields"] = mf
	}
	return setLeaf(props, last, full, m)
}

// objectNode returns the properties of the object called name under props,
// creating it; a leaf of that name is a conflict.
func objectNode(props map[string]any, name, full string) (map[string]any, error) {
	if existing, ok := props[name]; ok {
		m, _ := existing.(map[string]any)
		p, ok := m["properties"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s: %s is declared both as a field and as an object", ErrFields, full, name)
		}
		return p, nil
	}
	p := map[string]any{}
	props[name] = map[string]any{"properties": p}
	return p, nil
}

func setLeaf(props map[string]any, name, full string, m map[string]any) error {
	if _, ok := props[name]; ok {
		return fmt.Errorf("%w: %s: declared twice", ErrFields, full)
	}
	props[name] = m
	return nil
}

// leafMapping is the mapping of one typed field.
func leafMapping(f Field, full string) (map[string]any, error) {
	m := map[string]any{"type": f.Type}
	switch f.Type {
	case "keyword":
		m["ignore_above"] = defaultIgnoreAbove
		if f.IgnoreAbove != nil {
			m["ignore_above"] = *f.IgnoreAbove
		}
	case "wildcard", "flattened":
		if f.IgnoreAbove != nil {
			m["ignore_above"] = *f.IgnoreAbove
		}
	case "scaled_float":
		m["scaling_factor"] = float64(defaultScalingFactor)
		if f.ScalingFactor != nil {
			m["scaling_factor"] = *f.ScalingFactor
		}
	case "constant_keyword":
		if f.Value != "" {
			m["value"] = f.Value
		}
	case "match_only_text", "text", "long", "integer", "short", "byte", "double", "float",
		"half_float", "unsigned_long", "date", "date_nanos", "boolean", "ip", "binary",
		"geo_point", "version":
	case "alias":
		return nil, fmt.Errorf("%w: %s: alias fields are not supported", ErrFields, full)
	default:
		return nil, fmt.Errorf("%w: %s: unknown type %q", ErrFields, full, f.Type)
	}
	if f.Index != nil {
		m["index"] = *f.Index
	}
	if f.DocValues != nil {
		m["doc_values"] = *f.DocValues
	}
	return m, nil
}

// Template returns the composable index template for the data stream as
// indented JSON, the body of PUT _index_template/<name> and the output of
// `spawnbeat export template`. It names IngestPipelineName as the final
// pipeline unless setup.template.settings.index.final_pipeline says
// otherwise. Pure: fields.yml bytes in, JSON out.
func Template(fieldsYAML []byte, setup SetupConfig) ([]byte, error) {
	mappings, err := Mappings(fieldsYAML)
	if err != nil {
		return nil, err
	}
	index := map[string]any{
		"mapping":        map[string]any{"total_fields": map[string]any{"limit": defaultTotalFieldsLimit}},
		"final_pipeline": IngestPipelineName,
	}
	for k, v := range setup.Template.Settings.Index {
		index[k] = v
	}
	if setup.ILM.Enabled {
		index["lifecycle"] = map[string]any{"name": setup.ILM.PolicyName}
	}
	pattern := setup.Template.Pattern
	if pattern == "" {
		pattern = DefaultTemplatePattern
	}
	t := map[string]any{
		"index_patterns": []string{pattern},
		"data_stream":    map[string]any{},
		"priority":       setup.Template.Priority,
		"template": map[string]any{
			"settings": map[string]any{"index": index},
			"mappings": mappings,
		},
		"_meta": map[string]any{
			"description": "spawnbeat process events (ECS)",
			"managed_by":  "spawnbeat",
		},
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode index template: %w", err)
	}
	return append(b, '\n'), nil
}

// ILMPolicy returns the lifecycle policy as indented JSON, the body of PUT
// _ilm/policy/<name> and the output of `spawnbeat export ilm-policy`.
func ILMPolicy(cfg ILMConfig) ([]byte, error) {
	rollover := map[string]any{}
	if cfg.RolloverMaxPrimaryShardSize != "" {
		rollover["max_primary_shard_size"] = cfg.RolloverMaxPrimaryShardSize
	}
	if cfg.RolloverMaxAge != "" {
		rollover["max_age"] = cfg.RolloverMaxAge
	}
	phases := map[string]any{
		"hot": map[string]any{"min_age": "0ms", "actions": map[string]any{"rollover": rollover}},
	}
	if cfg.DeleteAfter != "" {
		phases["delete"] = map[string]any{"min_age": cfg.DeleteAfter, "actions": map[string]any{"delete": map[string]any{}}}
	}
	p := map[string]any{"policy": map[string]any{
		"phases": phases,
		"_meta":  map[string]any{"managed_by": "spawnbeat"},
	}}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode lifecycle policy: %w", err)
	}
	return append(b, '\n'), nil
}

// fieldNames lists the dotted names of the leaves of a properties tree, for
// tests and diagnostics.
func fieldNames(props map[string]any, prefix string, out []string) []string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m, _ := props[k].(map[string]any)
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if sub, ok := m["properties"].(map[string]any); ok {
			out = fieldNames(sub, name, out)
			continue
		}
		out = append(out, name)
	}
	return out
}
