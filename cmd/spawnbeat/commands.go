package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/spawnbeat/spawnbeat/beater"
	"github.com/spawnbeat/spawnbeat/beater/output/file"
)

// version and commit are set at build time with -ldflags "-X main.version=…".
var (
	version = "0.1.0"
	commit  = ""
)

func runBeat(cmd *cobra.Command, g *globals) error {
	cfg, err := g.load(cmd)
	if err != nil {
		return err
	}
	// Before anything is logged or opened: on success this process image
	// is replaced by one that starts over with fewer capabilities.
	var narrowErr error
	if cfg.Spawnbeat.DropCapabilities && reexecNarrowed != nil {
		narrowErr = reexecNarrowed(keptCapabilities(cfg.Config))
	}
	log, closeLog, err := newLoggerIn(g.environment, cfg.Logging, cfg.Path.Logs, g.selectors, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer closeLog()
	defer func() { _ = log.Sync() }()
	log.Info("configuration loaded", zap.String("config", cfg.Source), zap.String("keystore", cfg.Keystore))
	if narrowErr != nil {
		log.Warn("capabilities not dropped: running with all it was given", zap.Error(narrowErr))
	} else if cfg.Spawnbeat.DropCapabilities {
		log.Info("capabilities within what capture needs",
			zap.String("effective", capabilitySet("CapEff")), zap.String("bounding", capabilitySet("CapBnd")))
	}
	if n := cfg.MaxProcs; n > 0 {
		runtime.GOMAXPROCS(n)
		log.Info("max_procs set", zap.Int("max_procs", n))
	}
	if cfg.Output.Name == file.Name {
		// The one line a newcomer needs: where the documents go.
		if f, err := file.Unpack(cfg.Output.Config); err == nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "spawnbeat: writing events to %s/%s.ndjson\n", f.Dir(cfg.Path.Data), f.Filename)
		}
	}
	b := beater.New(cfg.Config, log, beater.Info{Version: version, StrictPerms: g.strictPerms})
	// An error is returned, not logged: run prints it once, on stderr
	// (which a service manager keeps too).
	return b.Run(cmd.Context())
}

func newTestCommand(g *globals) *cobra.Command {
	test := &cobra.Command{Use: "test", Short: "Test the configuration or the output"}
	test.AddCommand(&cobra.Command{
		Use:   "config",
		Short: "Check the configuration and exit (0 when it is valid)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return &exitError{Code: statusError, Err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Config OK (%s)\n", cfg.Source)
			return nil
		},
	}, newTestOutputCommand(g))
	return test
}

func newExportCommand(g *globals) *cobra.Command {
	export := &cobra.Command{Use: "export", Short: "Print the configuration, the index template, the lifecycle policy or the Kibana saved objects"}
	export.AddCommand(&cobra.Command{
		Use:   "config",
		Short: "Print the configuration in force (file and -E merged; secrets masked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			m, err := cfg.Export()
			if err != nil {
				return err
			}
			out, err := yaml.Marshal(m)
			if err != nil {
				return fmt.Errorf("export config: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}, newExportTemplateCommand(g), newExportILMCommand(g), newExportKibanaCommand(g))
	return export
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			rev := commit
			if info, ok := debug.ReadBuildInfo(); ok && rev == "" {
				for _, s := range info.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			if rev == "" {
				rev = "unknown"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "spawnbeat version %s (%s), commit %s, built with %s\n",
				version, runtime.GOARCH, rev, runtime.Version())
		},
	}
}

var errNotElasticsearch = errors.New("output.elasticsearch is not the enabled output")
