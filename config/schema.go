package config

import (
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/elastic/go-ucfg"
)

// selfUnpacking types read their own settings (go-ucfg's ConfigUnpacker):
// any key below them is theirs to accept or refuse.
var configUnpacker = reflect.TypeOf((*ucfg.ConfigUnpacker)(nil)).Elem()

func selfUnpacking(t reflect.Type) bool {
	return t.Implements(configUnpacker) || reflect.PointerTo(t).Implements(configUnpacker)
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
)

// keyIn reports whether parts name a setting of the struct t, by the
// config tags of its fields (Owners.known has the whole schema).
func keyIn(t reflect.Type, parts []string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(parts) == 0 {
		return true
	}
	switch {
	case t == durationType:
		return false
	case selfUnpacking(t) && t.Kind() == reflect.Struct:
		return true
	case t.Kind() == reflect.Struct:
		return fieldIn(t, parts)
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		if _, err := strconv.Atoi(parts[0]); err != nil {
			return false
		}
		return keyIn(t.Elem(), parts[1:])
	case t.Kind() == reflect.Map || t.Kind() == reflect.Interface:
		return true // free-form: headers, custom fields
	}
	return false
}

func fieldIn(t reflect.Type, parts []string) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("config"), ",")
		if strings.Contains(opts, "inline") || (name == "" && f.Anonymous) {
			if keyIn(f.Type, parts) {
				return true
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		// A tag may itself be dotted ("reload.enabled").
		tag := strings.Split(name, ".")
		if len(parts) >= len(tag) && equalFold(parts[:len(tag)], tag) && keyIn(f.Type, parts[len(tag):]) {
			return true
		}
	}
	return false
}

func equalFold(a, b []string) bool {
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

func fileOwner(st fs.FileInfo) (int, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(s.Uid), true
}
