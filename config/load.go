package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/elastic/go-ucfg"
	"github.com/elastic/go-ucfg/parse"
	ucfgyaml "github.com/elastic/go-ucfg/yaml"
	yamlv3 "gopkg.in/yaml.v3"

	"github.com/spawnbeat/spawnbeat/config/keystore"
)

// ErrInvalid marks every configuration error; errors.Is(err, ErrInvalid).
var ErrInvalid = errors.New("invalid configuration")

// KeyError is a problem with one setting. File and Line say where it was
// set, when it was set in a file; "-E" when it came from the command line.
type KeyError struct {
	File string
	Line int
	Key  string
	Err  error
}

func (e *KeyError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Key, e.Err)
	case e.File != "":
		return fmt.Sprintf("%s: %s: %v", e.File, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Key, e.Err)
}

func (e *KeyError) Unwrap() []error { return []error{e.Err, ErrInvalid} }

// Source says where the YAML comes from.
type Source struct {
	// File is the config file. When Explicit is false and File does not
	// exist, Default is used instead (the embedded spawnbeat.yml).
	File     string
	Explicit bool
	Default  []byte

	Overrides   []string // -E key=value, applied in order over the file
	StrictPerms bool     // refuse a file that group or others can write
}

// ucfgOptions are the options every config is read with, as in Beats:
// dotted keys, ${VAR} and ${VAR:default} from the keystore (see
// withKeystore) and the environment, and references to other settings
// (${path.data}). go-ucfg tries resolvers from the last to the first, so
// undefinedReference comes first.
var ucfgOptions = []ucfg.Option{ucfg.PathSep("."), ucfg.Resolve(undefinedReference), ucfg.ResolveEnv, ucfg.VarExp}

// Loaded is the outcome of Load.
type Loaded struct {
	*Config
	Source   string       // the file read, or "embedded spawnbeat.yml"
	Keystore string       // the keystore whose keys ${KEY} may name; "" when there is none
	Raw      *ucfg.Config // the merged settings as given

	export *ucfg.Config // Raw with each keystore key laid as its own ${KEY}
	laid   []string     // the keystore keys laid at export's top level
}

// Load reads the settings: defaults, then the YAML file (or the embedded
// default), then each -E override, with ${KEY} taken from the keystore under
// path.data before the environment. The sections that owners own are
// checked by their owners and handed on as given. Every problem is returned
// at once, joined, each naming the file, line and key where it can.
func Load(src Source, owners Owners) (*Loaded, error) {
	in, err := parseSource(src)
	if err != nil {
		return nil, err
	}
	// path.data says where the keystore is, so the paths are read first,
	// with the environment alone.
	ksPath, err := in.keystorePath()
	if err != nil {
		return nil, err
	}
	secrets, err := readKeystore(ksPath, src.StrictPerms)
	if err != nil {
		return nil, err
	}
	resolved, _, err := withKeystore(in.raw, secrets, owners.known)
	if err != nil {
		return nil, err
	}
	export, laid, err := withKeystore(in.raw, masked(secrets), owners.known)
	if err != nil {
		return nil, err
	}
	errs := in.errs
	for _, key := range in.raw.FlattenedKeys(ucfgOptions...) {
		if !owners.known(key) {
			errs = append(errs, in.locate(key, errors.New("unknown setting (check its spelling and the reference config)")))
		}
	}
	cfg := Default()
	errs = append(errs, unpackSections(resolved, &cfg, in.locate)...)
	if err := cfg.Check(); err != nil {
		errs = append(errs, relocate(in.locate, err)...)
	}
	var ownedErrs []error
	cfg.Output, cfg.Queue, cfg.sections, ownedErrs = owners.owned(resolved, in.locate)
	errs = append(errs, ownedErrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.Path.resolve()
	l := &Loaded{Config: &cfg, Source: in.name, Raw: in.raw, export: export, laid: laid}
	if secrets != nil {
		l.Keystore = ksPath
	}
	return l, nil
}

// KeystorePath is where the keystore of the configuration src names lives:
// path.data/spawnbeat.keystore. Only the paths are read, so that a setting
// that names a key not yet added does not stand in the way of adding it.
func KeystorePath(src Source) (string, error) {
	in, err := parseSource(src)
	if err != nil {
		return "", err
	}
	if len(in.errs) > 0 {
		return "", errors.Join(in.errs...)
	}
	return in.keystorePath()
}

// source is a configuration parsed and merged with its -E overrides.
type source struct {
	name   string
	raw    *ucfg.Config
	locate func(key string, err error) error
	errs   []error // the overrides that could not be applied
}

func parseSource(src Source) (*source, error) {
	name, text, err := readSource(src)
	if err != nil {
		return nil, err
	}
	raw, err := ucfgyaml.NewConfig(text, ucfgOptions...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrInvalid, err)
	}
	var errs []error
	fromFlags := map[string]bool{}
	for _, kv := range src.Overrides {
		key, over, err := parseOverride(kv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fromFlags[key] = true
		// A list given with -E replaces the file's (the config structs'
		// lists are tagged "replace" for the same reason): go-ucfg merges
		// lists element by element, and [exec] over [exec, end, existing]
		// would change nothing.
		if err := raw.Merge(over, append(slices.Clip(ucfgOptions), ucfg.ReplaceArrValues)...); err != nil {
			errs = append(errs, &KeyError{File: "-E", Key: key, Err: err})
		}
	}
	if err := setPaths(raw); err != nil {
		errs = append(errs, err)
	}
	return &source{name: name, raw: raw, locate: lineFinder(name, text, fromFlags), errs: errs}, nil
}

// keystorePath reads path.* alone, with the environment but no keystore.
func (in *source) keystorePath() (string, error) {
	var p Paths
	if in.raw.HasField("path") {
		child, err := in.raw.Child("path", -1, ucfgOptions...)
		if err == nil {
			err = child.Unpack(&p, ucfgOptions...)
		}
		if err != nil {
			return "", errors.Join(locateUcfg(in.locate, "path", err)...)
		}
	}
	p.resolve()
	return filepath.Join(p.Data, keystore.FileName), nil
}

func readSource(src Source) (string, []byte, error) {
	text, err := os.ReadFile(src.File)
	switch {
	case errors.Is(err, os.ErrNotExist) && !src.Explicit:
		return "embedded spawnbeat.yml", src.Default, nil
	case err != nil:
		return src.File, nil, fmt.Errorf("read config %s: %w", src.File, err)
	}
	if src.StrictPerms {
		if err := checkPerms(src.File); err != nil {
			return src.File, nil, err
		}
	}
	return src.File, text, nil
}

// checkPerms refuses a config file that someone other than its owner could
// have changed, as Beats do: spawnbeat runs as root and the file names the
// rules and where events go.
func checkPerms(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("stat config %s: %w", path, err)
	}
	if mode := st.Mode().Perm(); mode&0o022 != 0 {
		return fmt.Errorf("config file %s is writable by group or others (mode %#o): %w; run `chmod go-w %s`, or start with --strict.perms=false",
			path, mode, ErrInvalid, path)
	}
	if uid, ok := fileOwner(st); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("config file %s is owned by uid %d, neither root nor the user running spawnbeat: %w; use --strict.perms=false to allow it",
			path, uid, ErrInvalid)
	}
	return nil
}

func parseOverride(kv string) (string, *ucfg.Config, error) {
	key, value, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return key, nil, &KeyError{File: "-E", Key: kv, Err: errors.New("want key=value")}
	}
	v, err := parse.Value(value)
	if err != nil {
		return key, nil, &KeyError{File: "-E", Key: key, Err: err}
	}
	c, err := ucfg.NewFrom(map[string]any{key: v}, ucfgOptions...)
	if err != nil {
		return key, nil, &KeyError{File: "-E", Key: key, Err: err}
	}
	return key, c, nil
}

// lineFinder returns a function that attaches a key's file and line to an
// error. The line comes from the YAML node that sets the key (a dotted key
// like `output.file.path:` counts as setting each of its parts).
func lineFinder(name string, text []byte, fromFlags map[string]bool) func(key string, err error) error {
	lines := map[string]int{}
	var doc yamlv3.Node
	if yamlv3.Unmarshal(text, &doc) == nil && len(doc.Content) > 0 {
		collectLines(doc.Content[0], "", lines)
	}
	return func(key string, err error) error {
		if flagKey(key, fromFlags) {
			return &KeyError{File: "-E", Key: key, Err: err}
		}
		for k := key; k != ""; k = parentKey(k) {
			if line, ok := lines[k]; ok {
				return &KeyError{File: name, Line: line, Key: key, Err: err}
			}
		}
		return &KeyError{File: name, Key: key, Err: err}
	}
}

func flagKey(key string, fromFlags map[string]bool) bool {
	for k := key; k != ""; k = parentKey(k) {
		if fromFlags[k] {
			return true
		}
	}
	return false
}

func parentKey(k string) string {
	i := strings.LastIndexByte(k, '.')
	if i < 0 {
		return ""
	}
	return k[:i]
}

func collectLines(n *yamlv3.Node, prefix string, lines map[string]int) {
	switch n.Kind {
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			lines[key] = n.Content[i].Line
			collectLines(n.Content[i+1], key, lines)
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			key := fmt.Sprintf("%s.%d", prefix, i)
			lines[key] = c.Line
			collectLines(c, key, lines)
		}
	}
}

// unpackSections lays config's own settings over the defaults one
// top-level section at a time, so that a failure in one section does not
// hide the others'.
func unpackSections(raw *ucfg.Config, cfg *Config, locate func(string, error) error) []error {
	var errs []error
	for _, s := range []struct {
		key string
		to  any
	}{
		{"spawnbeat", &cfg.Spawnbeat}, {"logging", &cfg.Logging}, {"path", &cfg.Path}, {"http", &cfg.HTTP},
	} {
		if !raw.HasField(s.key) {
			continue
		}
		child, err := raw.Child(s.key, -1, ucfgOptions...)
		if err == nil {
			err = child.Unpack(s.to, ucfgOptions...)
		}
		if err != nil {
			errs = append(errs, locateUcfg(locate, s.key, err)...)
		}
	}
	// Unpacked rather than read with raw.String, whose error would hide
	// that of an undefined ${KEY}.
	if raw.HasField("name") {
		var top struct {
			Name string `config:"name"`
		}
		if err := raw.Unpack(&top, ucfgOptions...); err != nil {
			errs = append(errs, locateUcfg(locate, "name", err)...)
		}
		cfg.Name = top.Name
	}
	if raw.HasField("max_procs") {
		var top struct {
			MaxProcs int `config:"max_procs"`
		}
		if err := raw.Unpack(&top, ucfgOptions...); err != nil {
			errs = append(errs, locateUcfg(locate, "max_procs", err)...)
		}
		cfg.MaxProcs = top.MaxProcs
	}
	return errs
}

// accessing is how go-ucfg names the setting an error is about.
var accessing = regexp.MustCompile(`accessing '([^']*)'`)

// locateUcfg turns a go-ucfg unpack error (a value of the wrong type, an
// undefined ${KEY}) into KeyErrors with file and line: at the setting
// go-ucfg names, or at key when it names none.
func locateUcfg(locate func(string, error) error, key string, err error) []error {
	msg := err.Error()
	if m := accessing.FindStringSubmatch(msg); m != nil {
		key = m[1]
		msg = strings.TrimSpace(strings.Replace(msg, m[0], "", 1))
	}
	if i := strings.Index(msg, " (source:"); i >= 0 {
		msg = msg[:i]
	}
	var parts []error
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, locate(key, errors.New(line)))
		}
	}
	return parts
}

// relocate adds file and line to the KeyErrors that validation returned.
func relocate(locate func(string, error) error, err error) []error {
	var out []error
	for _, e := range flatten(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			out = append(out, locate(ke.Key, ke.Err))
			continue
		}
		out = append(out, e)
	}
	return out
}

func flatten(err error) []error {
	// The walk looks at each node's own type: a *KeyError also unwraps to
	// several errors, but it is one problem.
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if _, isKey := err.(*KeyError); !isKey { //nolint:errorlint // the node's own type
			var out []error
			for _, e := range j.Unwrap() {
				out = append(out, flatten(e)...)
			}
			return out
		}
	}
	return []error{err}
}

// setPaths sets path.home, path.config, path.data and path.logs in raw to
// the paths in force where they were not given, as Beats do, so that any
// setting can name them: rules: ["${path.config}/rules.d/*.toml"].
func setPaths(raw *ucfg.Config) error {
	var p Paths
	if raw.HasField("path") {
		child, err := raw.Child("path", -1, ucfgOptions...)
		if err == nil {
			err = child.Unpack(&p, ucfgOptions...)
		}
		if err != nil {
			return nil // reported with its line when the section is unpacked
		}
	}
	p.resolve()
	for key, v := range map[string]string{"path.home": p.Home, "path.config": p.Config, "path.data": p.Data, "path.logs": p.Logs} {
		if ok, _ := raw.Has(key, -1, ucfgOptions...); ok {
			continue
		}
		if err := raw.SetString(key, -1, v, ucfgOptions...); err != nil {
			return &KeyError{Key: key, Err: err}
		}
	}
	return nil
}

// resolve fills the paths that were not set from path.home.
func (p *Paths) resolve() {
	if p.Home == "" {
		p.Home, _ = os.Getwd()
	}
	for _, d := range []struct {
		dir  *string
		name string
	}{{&p.Config, ""}, {&p.Data, "data"}, {&p.Logs, "logs"}} {
		if *d.dir == "" {
			*d.dir = filepath.Join(p.Home, d.name)
		}
	}
}

// secretKeys are masked by MaskSecrets wherever they appear.
var secretKeys = map[string]bool{"password": true, "api_key": true, "key_passphrase": true, "headers": true}

// MaskSecrets replaces the values of secret settings in a decoded
// configuration, so that `export config` can be pasted into a ticket.
func MaskSecrets(m map[string]any) {
	for k, v := range m {
		if secretKeys[k] {
			m[k] = "xxxxx"
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			MaskSecrets(v)
		case []any:
			for _, e := range v {
				if mm, ok := e.(map[string]any); ok {
					MaskSecrets(mm)
				}
			}
		}
	}
}
