package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/elastic/go-ucfg"
)

// Owners are the parts of the settings that packages other than config own,
// as the beater registers them: the outputs (output.<name>), the queue types
// (queue.<type>) and sections at fixed keys (setup.kibana). config checks
// that their keys exist and that the owner accepts their values, reporting
// each problem with its file and line, and hands the section on as given;
// the owner reads it again (Unpack) where it is used. A plain value.
type Owners struct {
	Outputs       []Section // exactly one output.<name> is enabled
	DefaultOutput string    // the output enabled when none is
	Queues        []Section // at most one queue.<type> is configured
	DefaultQueue  string    // the queue type used when none is
	Sections      []Section // sections at fixed keys
}

// Section is a part of the settings that another package reads: its key
// (for outputs and queues, the name under output. or queue.), the struct
// its settings unpack into, whose config tags are the keys it takes, and
// the owner's unpack, which lays them over the defaults and validates them.
type Section struct {
	Key    string
	schema reflect.Type
	check  func(*ucfg.Config) error
}

// Own returns the Section at key whose settings unpack reads. unpack reads
// the section as config hands it on (see Unpack); a problem it reports as a
// *KeyError names its key below the section, so that config can say on
// which line it is.
func Own[T any](key string, unpack func(*ucfg.Config) (T, error)) Section {
	return Section{
		Key:    key,
		schema: reflect.TypeFor[T](),
		check: func(raw *ucfg.Config) error {
			_, err := unpack(raw)
			return err
		},
	}
}

// Namespace is the one choice made in a namespace (output.<Name>,
// queue.<Name>) and its settings as given, for its owner to unpack.
type Namespace struct {
	Name   string
	Config *ucfg.Config // never nil; empty when the choice is the default
}

// Unpack is an owner's Unpack: it lays the settings of raw over defaults,
// resolving ${...} references as Load does, and returns them once go-ucfg
// has run their Validate method; the zero T with the error. A nil raw
// yields the defaults.
func Unpack[T any](raw *ucfg.Config, defaults T) (T, error) {
	if raw == nil {
		return defaults, nil
	}
	if err := raw.Unpack(&defaults, ucfgOptions...); err != nil {
		var zero T
		return zero, err
	}
	return defaults, nil
}

// Section returns the settings of the fixed section at key as given, empty
// when the file and the -E flags set none.
func (c *Config) Section(key string) *ucfg.Config {
	if s := c.sections[key]; s != nil {
		return s
	}
	return ucfg.New()
}

// enabledKey is the setting every output has: output.<name>.enabled.
const enabledKey = "enabled"

// known reports whether a flattened key ("output.file.path",
// "spawnbeat.detection.rules.0") names a setting, config's or an owner's,
// so that a typo is an error instead of a setting silently ignored.
func (o *Owners) known(key string) bool {
	parts := strings.Split(key, ".")
	switch parts[0] {
	case "output":
		return inNamespace(o.Outputs, parts[1:], true)
	case "queue":
		return inNamespace(o.Queues, parts[1:], false)
	}
	for _, s := range o.Sections {
		sp := strings.Split(s.Key, ".")
		if len(parts) <= len(sp) {
			if slices.Equal(parts, sp[:len(parts)]) {
				return true // the section, or a key above it
			}
			continue
		}
		if slices.Equal(parts[:len(sp)], sp) && keyIn(s.schema, parts[len(sp):]) {
			return true
		}
	}
	return keyIn(reflect.TypeFor[Config](), parts)
}

// inNamespace reports whether parts (below output. or queue.) name a
// setting of one of kinds.
func inNamespace(kinds []Section, parts []string, hasEnabled bool) bool {
	if len(parts) == 0 {
		return true
	}
	s := find(kinds, parts[0])
	switch {
	case s == nil:
		return false
	case hasEnabled && len(parts) == 2 && parts[1] == enabledKey:
		return true
	}
	return keyIn(s.schema, parts[1:])
}

func find(kinds []Section, name string) *Section {
	for i := range kinds {
		if kinds[i].Key == name {
			return &kinds[i]
		}
	}
	return nil
}

// owned checks the owners' sections of raw and returns them as they are
// handed on: the enabled output, the queue and the fixed sections. Every
// problem is returned with its file and line.
func (o *Owners) owned(raw *ucfg.Config, locate func(string, error) error) (out, queue Namespace, sections map[string]*ucfg.Config, errs []error) {
	out, errs = o.output(raw, locate)
	queue, qerrs := o.queue(raw, locate)
	errs = append(errs, qerrs...)
	sections = map[string]*ucfg.Config{}
	for _, s := range o.Sections {
		if ok, _ := raw.Has(s.Key, -1, ucfgOptions...); !ok {
			continue
		}
		child, err := raw.Child(s.Key, -1, ucfgOptions...)
		if err != nil {
			errs = append(errs, locateUcfg(locate, s.Key, err)...)
			continue
		}
		errs = append(errs, ownerErrors(locate, s.Key, s.check(child))...)
		sections[s.Key] = child
	}
	return out, queue, sections, errs
}

// output finds the one enabled output, checking every output configured
// (a disabled one too: its settings are still read).
func (o *Owners) output(raw *ucfg.Config, locate func(string, error) error) (Namespace, []error) {
	kinds, errs := o.configured(raw, "output", o.Outputs, locate)
	var enabled []string
	var chosen Namespace
	for _, k := range kinds {
		on := true
		if k.child.HasField(enabledKey) {
			var err error
			if on, err = k.child.Bool(enabledKey, -1, ucfgOptions...); err != nil {
				errs = append(errs, locateUcfg(locate, "output."+k.name+"."+enabledKey, err)...)
				continue
			}
		}
		if on {
			enabled = append(enabled, k.name)
			chosen = Namespace{Name: k.name, Config: k.child}
		}
	}
	switch len(enabled) {
	case 0:
		// So that naming another output (one -E) is all it takes to switch.
		return Namespace{Name: o.DefaultOutput, Config: ucfg.New()}, errs
	case 1:
		return chosen, errs
	}
	return Namespace{}, append(errs, locate("output",
		fmt.Errorf("%s are all enabled: enable exactly one output (set enabled: false on the others)", strings.Join(enabled, ", "))))
}

// queue finds the one queue type configured.
func (o *Owners) queue(raw *ucfg.Config, locate func(string, error) error) (Namespace, []error) {
	kinds, errs := o.configured(raw, "queue", o.Queues, locate)
	switch len(kinds) {
	case 0:
		return Namespace{Name: o.DefaultQueue, Config: ucfg.New()}, errs
	case 1:
		return Namespace{Name: kinds[0].name, Config: kinds[0].child}, errs
	}
	var given []string
	for _, k := range kinds {
		given = append(given, "queue."+k.name)
	}
	return Namespace{}, append(errs, locate("queue",
		fmt.Errorf("only one of %s may be configured", strings.Join(given, " and "))))
}

type configuredKind struct {
	name  string
	child *ucfg.Config
}

// configured returns the kinds of a namespace that raw configures, in the
// order they were registered, each checked by its owner. A name that is
// not registered is left to the unknown-key check.
func (o *Owners) configured(raw *ucfg.Config, namespace string, kinds []Section, locate func(string, error) error) ([]configuredKind, []error) {
	if !raw.HasField(namespace) {
		return nil, nil
	}
	ns, err := raw.Child(namespace, -1, ucfgOptions...)
	if err != nil {
		return nil, locateUcfg(locate, namespace, err)
	}
	var out []configuredKind
	var errs []error
	for _, k := range kinds {
		if !ns.HasField(k.Key) {
			continue
		}
		key := namespace + "." + k.Key
		child, err := ns.Child(k.Key, -1, ucfgOptions...)
		if err != nil {
			errs = append(errs, locateUcfg(locate, key, err)...)
			continue
		}
		errs = append(errs, ownerErrors(locate, key, k.check(child))...)
		out = append(out, configuredKind{name: k.Key, child: child})
	}
	return out, errs
}

// ownerErrors locates what an owner's unpack of the section at key
// returned. Its *KeyErrors name keys below the section; when it returned
// none (a value go-ucfg could not convert, say), the error is located
// where go-ucfg says it is, or at the section.
func ownerErrors(locate func(string, error) error, key string, err error) []error {
	if err == nil {
		return nil
	}
	var keyed []*KeyError
	collectKeyErrors(err, &keyed)
	if len(keyed) == 0 {
		return locateUcfg(locate, key, err)
	}
	out := make([]error, len(keyed))
	for i, ke := range keyed {
		k := key
		if ke.Key != "" {
			k += "." + ke.Key
		}
		out[i] = locate(k, ke.Err)
	}
	return out
}

// collectKeyErrors appends every *KeyError in err's tree, looking through
// go-ucfg's errors (which keep a Validate method's error as their reason).
// An owner reports each of its problems as a *KeyError; whatever else the
// tree holds (a sentinel, the section's name) is context for messages
// printed outside config.
func collectKeyErrors(err error, into *[]*KeyError) {
	switch e := err.(type) { //nolint:errorlint // walks the tree node by node; errors.As would find only the first
	case *KeyError:
		*into = append(*into, e)
	case ucfg.Error:
		if r := e.Reason(); r != nil {
			collectKeyErrors(r, into)
		}
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			collectKeyErrors(inner, into)
		}
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			collectKeyErrors(inner, into)
		}
	}
}
