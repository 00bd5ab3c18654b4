package config

import (
	"reflect"
	"sort"
	"strings"
)

// Known and LeafKeys give the tests of whole configuration files, in
// package config_test, the schema as owners complete it.

// Known reports whether key names a setting, config's or an owner's.
func Known(o Owners, key string) bool { return o.known(key) }

// LeafKeys lists every setting, config's and the owners', as a dotted key.
func LeafKeys(o Owners) []string {
	keys := leafKeys(reflect.TypeFor[Config](), "")
	for _, s := range o.Outputs {
		keys = append(keys, "output."+s.Key+"."+enabledKey)
		keys = append(keys, leafKeys(s.schema, "output."+s.Key)...)
	}
	for _, s := range o.Queues {
		keys = append(keys, leafKeys(s.schema, "queue."+s.Key)...)
	}
	for _, s := range o.Sections {
		keys = append(keys, leafKeys(s.schema, s.Key)...)
	}
	sort.Strings(keys)
	return keys
}

func leafKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == durationType || selfUnpacking(t) {
		return []string{prefix}
	}
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("config"), ",")
		if !f.IsExported() || name == "-" || name == "" && !strings.Contains(opts, "inline") {
			continue
		}
		key := name
		if prefix != "" && name != "" {
			key = prefix + "." + name
		} else if name == "" {
			key = prefix
		}
		keys = append(keys, leafKeys(f.Type, key)...)
	}
	return keys
}
