package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

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
}

// load reads the configuration the flags point at.
func (g *globals) load(cmd *cobra.Command) (*config.Loaded, error) {
	return config.Load(g.source(cmd))
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
