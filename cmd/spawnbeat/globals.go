package main

import (
	"fmt"
	"path/filepath"

	"github.com/elastic/go-ucfg"
	"github.com/spf13/cobra"

	"github.com/spawnbeat/spawnbeat/beater"
	"github.com/spawnbeat/spawnbeat/config"
)

// globals are the flags every Beat accepts.
type globals struct {
	configFile  string
	toStderr    bool
	overrides   []string
	selectors   []string
	home        string
	configDir   string
	dataDir     string
	logsDir     string
	strictPerms bool
	environment environment
}

// environment is what spawnbeat runs under (--environment), as in Beats:
// under systemd or in a container its log goes to stderr by default, where
// the journal or the container runtime collects it.
type environment string

const (
	envDefault   environment = "default"
	envSystemd   environment = "systemd"
	envContainer environment = "container"
)

func (e *environment) String() string { return string(*e) }
func (e *environment) Type() string   { return "environment" }

func (e *environment) Set(v string) error {
	switch environment(v) {
	case envDefault, envSystemd, envContainer:
		*e = environment(v)
		return nil
	}
	return fmt.Errorf("%q is not one of default, systemd, container", v)
}

func (g *globals) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVarP(&g.configFile, "c", "c", "spawnbeat.yml", "configuration file, relative to path.config")
	f.BoolVarP(&g.toStderr, "e", "e", false, "log to stderr and disable file logging")
	f.StringArrayVarP(&g.overrides, "E", "E", nil, "configuration overwrite, key=value (repeatable)")
	f.StringSliceVarP(&g.selectors, "d", "d", nil, `enable debug output for selected components ("*" for all)`)
	f.StringVar(&g.home, "path.home", "", "home path (default: the working directory)")
	f.StringVar(&g.configDir, "path.config", "", "configuration path (default: path.home)")
	f.StringVar(&g.dataDir, "path.data", "", "data path (default: path.home/data)")
	f.StringVar(&g.logsDir, "path.logs", "", "logs path (default: path.home/logs)")
	f.BoolVar(&g.strictPerms, "strict.perms", true, "refuse a configuration file that group or others can write, or a keystore they can read")
	g.environment = envDefault
	f.Var(&g.environment, "environment", "what spawnbeat runs under: default, systemd or container (log to stderr unless logging.to_files or logging.to_stderr is set)")
}

// load reads the configuration the flags point at.
func (g *globals) load(cmd *cobra.Command) (*config.Loaded, error) {
	l, err := config.Load(g.source(cmd), beater.Settings())
	if err != nil {
		return nil, err
	}
	if (g.environment == envSystemd || g.environment == envContainer) && !setsAny(l.Raw, "logging.to_stderr", "logging.to_files") {
		// The journal or the container runtime keeps stderr; log files
		// would keep everything twice.
		l.Logging.ToStderr, l.Logging.ToFiles = true, false
	}
	return l, nil
}

func setsAny(raw *ucfg.Config, keys ...string) bool {
	for _, k := range keys {
		if ok, _ := raw.Has(k, -1, ucfg.PathSep(".")); ok {
			return true
		}
	}
	return false
}

// source says where the configuration comes from, from the flags.
func (g *globals) source(cmd *cobra.Command) config.Source {
	var overrides []string
	for key, v := range map[string]string{"path.home": g.home, "path.config": g.configDir, "path.data": g.dataDir, "path.logs": g.logsDir} {
		if v != "" {
			overrides = append(overrides, key+"="+v)
		}
	}
	if g.toStderr {
		overrides = append(overrides, "logging.to_stderr=true", "logging.to_files=false")
	}
	if len(g.selectors) > 0 {
		overrides = append(overrides, "logging.level=debug")
	}
	overrides = append(overrides, g.overrides...)

	file := g.configFile
	if !filepath.IsAbs(file) {
		dir := g.configDir
		if dir == "" {
			dir = g.home
		}
		file = filepath.Join(dir, file)
	}
	return config.Source{
		File:        file,
		Explicit:    cmd.Flags().Changed("c"),
		Default:     config.DefaultYAML,
		Overrides:   overrides,
		StrictPerms: g.strictPerms,
	}
}
