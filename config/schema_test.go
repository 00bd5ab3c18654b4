package config

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

// leafKeys lists every setting of Config as a dotted key.
func leafKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || selfUnpacking(t) && t != reflect.TypeOf(Output{}) {
			keys = append(keys, prefix)
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("config"), ",")
			if !f.IsExported() || name == "" && !strings.Contains(opts, "inline") {
				continue
			}
			if _, derived := derivedKeys[prefix+"."+name]; derived {
				continue
			}
			key := name
			if prefix != "" && name != "" {
				key = prefix + "." + name
			} else if name == "" {
				key = prefix
			}
			walk(f.Type, key)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	sort.Strings(keys)
	return keys
}

func TestKnownKey(t *testing.T) {
	for key, want := range map[string]bool{
		"spawnbeat.capture.mode":         true,
		"spawnbeat.detection.rules.3":    true,
		"spawnbeat.detection.rules.x":    false,
		"spawnbeat.capture.mode.sub":     false,
		"spawnbeat.capture.poll_period":  true,
		"spawnbeat.capture.poll_period.": false,
		"output.file.path":               true,
		"output.file":                    true,
		"output.kafka.hosts":             false,
		"logging.files.keepfiles":        true,
		"loging.level":                   false,
		"setup.template.name":            true,
		"setup.kibana.space.id":          true,
		"setup.kibana.space.name":        false,
		"setup.kibana.ssl.key":           true,
		"setup.dashboards.directory":     true,
		"setup.dashboards.url":           false,
	} {
		if got := knownKey(key); got != want {
			t.Errorf("knownKey(%q) = %v, want %v", key, got, want)
		}
	}
}
