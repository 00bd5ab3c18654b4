package config

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/elastic/go-ucfg"
	"github.com/elastic/go-ucfg/parse"

	"github.com/spawnbeat/spawnbeat/config/keystore"
)

// How a ${KEY} finds the keystore's value. go-ucfg resolves a reference in
// the configuration itself first (${path.data}), then through its resolvers
// (the environment). Its Env option, the other place it looks, misses names
// without a dot, and a resolver's answer is parsed as YAML ("0123" would
// become the number 83). So the keystore's values are laid at the top level
// of a copy of the configuration, where they are plain strings taken as they
// are: a key comes after the configuration's own settings and before the
// environment, the order Beats document. A key named like a setting is never
// laid there: it cannot change the configuration.

// readKeystore returns the keystore's values, or nil when there is no
// keystore. One that cannot be read, or that others can read, is an error:
// spawnbeat does not start without the secrets it was given.
func readKeystore(path string, strictPerms bool) (map[string]string, error) {
	ks, err := keystore.Open(path, strictPerms)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return ks.Values(), nil
}

// withKeystore returns a copy of raw with values laid at its top level, and
// the keys it laid; known says which keys are settings.
func withKeystore(raw *ucfg.Config, values map[string]string, known func(string) bool) (*ucfg.Config, []string, error) {
	out := ucfg.New()
	if err := out.Merge(raw, ucfgOptions...); err != nil {
		return nil, nil, fmt.Errorf("copy configuration: %w", err)
	}
	top := map[string]any{}
	var laid []string
	for k, v := range values {
		if raw.HasField(k) || known(k) {
			continue
		}
		top[k] = v
		laid = append(laid, k)
	}
	if len(top) == 0 {
		return out, nil, nil
	}
	// Without VarExp: a secret that contains "${" is not a reference.
	secrets, err := ucfg.NewFrom(top, ucfg.PathSep("."))
	if err == nil {
		err = out.Merge(secrets, ucfg.PathSep("."))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: keystore: %w", ErrInvalid, err)
	}
	return out, laid, nil
}

// CheckKeystoreKey accepts a key for `keystore add`: one that a ${KEY}
// reference can name (keystore.CheckKey) and that is not the name of a
// top-level setting, config's or an owner's, which a reference would find
// first.
func CheckKeystoreKey(key string, owners Owners) error {
	if err := keystore.CheckKey(key); err != nil {
		return err
	}
	if owners.known(key) {
		return fmt.Errorf("%q is the name of a setting, which ${%s} would name first; choose another (keys are usually upper case, as ES_PWD): %w",
			key, key, keystore.ErrKey)
	}
	return nil
}

// masked maps each key to its own reference, so that `export config` prints
// ${ES_PWD} where the configuration says so, never the value.
func masked(values map[string]string) map[string]string {
	m := make(map[string]string, len(values))
	for k := range values {
		m[k] = "${" + k + "}"
	}
	return m
}

// undefinedReference is the last resolver go-ucfg tries: its error names
// the reference that nothing defines.
func undefinedReference(name string) (string, parse.Config, error) {
	return "", parse.DefaultConfig, fmt.Errorf("${%s} is not defined: no key %s in the keystore, no environment variable %s", name, name, name)
}

// Export is the configuration in force for `export config`: the file and
// the -E overrides merged, environment variables expanded, keystore values
// left as their ${KEY} reference and secret settings masked, so that it can
// be pasted into a ticket.
func (l *Loaded) Export() (map[string]any, error) {
	var m map[string]any
	if err := l.export.Unpack(&m, ucfgOptions...); err != nil {
		return nil, fmt.Errorf("export config: %w", err)
	}
	for _, k := range l.laid {
		delete(m, k)
	}
	MaskSecrets(m)
	return m, nil
}
