package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/spawnbeat/spawnbeat/config"
)

// newLogger builds the agent's logger from logging.* and -d selectors.
// Debug entries pass only for loggers whose name matches a selector (or any
// with "*"); repeated entries are sampled so that a storm of identical
// warnings cannot flood the log.
func newLogger(cfg config.Logging, logsDir string, selectors []string, stderr io.Writer) (*zap.Logger, func(), error) {
	return newLoggerIn(envDefault, cfg, logsDir, selectors, stderr)
}

// newLoggerIn is newLogger for the environment spawnbeat runs under: under
// systemd the lines written to stderr carry no timestamp, since the journal
// stamps each line it receives (log files keep theirs).
func newLoggerIn(env environment, cfg config.Logging, logsDir string, selectors []string, stderr io.Writer) (*zap.Logger, func(), error) {
	level, err := zapcore.ParseLevel(strings.Replace(cfg.Level, "warning", "warn", 1))
	if err != nil {
		return nil, nil, fmt.Errorf("logging.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "@timestamp"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.NameKey = "log.logger"
	encCfg.LevelKey = "log.level"
	encCfg.MessageKey = "message"
	encCfg.CallerKey = ""
	if !cfg.JSON {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	encoder := func(withTime bool) zapcore.Encoder {
		c := encCfg
		if !withTime {
			c.TimeKey = ""
		}
		if cfg.JSON {
			return zapcore.NewJSONEncoder(c)
		}
		return zapcore.NewConsoleEncoder(c)
	}
	selectors = append(slices.Clone(cfg.Selectors), selectors...)
	if len(selectors) > 0 {
		level = zapcore.DebugLevel
	}

	var cores []zapcore.Core
	closeFn := func() {}
	if cfg.ToStderr {
		cores = append(cores, zapcore.NewCore(encoder(env != envSystemd), zapcore.AddSync(stderr), level))
	}
	if cfg.ToFiles {
		dir := cfg.Files.Path
		if dir == "" {
			dir = logsDir
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, nil, fmt.Errorf("create log directory %s: %w", dir, err)
		}
		path := filepath.Join(dir, cfg.Files.Name+".log")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, os.FileMode(cfg.Files.Permissions))
		if err != nil {
			return nil, nil, fmt.Errorf("open log file: %w", err)
		}
		_ = f.Close()
		lj := &lumberjack.Logger{
			Filename:   path,
			MaxSize:    max(1, int(cfg.Files.RotateEveryBytes>>20)), // lumberjack counts MiB
			MaxBackups: cfg.Files.KeepFiles - 1,
		}
		cores = append(cores, zapcore.NewCore(encoder(true), zapcore.AddSync(lj), level))
		closeFn = func() { _ = lj.Close() }
	}
	if len(cores) == 0 {
		return zap.NewNop(), closeFn, nil
	}
	core := zapcore.NewSamplerWithOptions(zapcore.NewTee(cores...), time.Second, 100, 100)
	if len(selectors) > 0 {
		core = &selectorCore{Core: core, selectors: selectors}
	}
	return zap.New(core), closeFn, nil
}

// selectorCore lets debug entries through only for the selected loggers.
type selectorCore struct {
	zapcore.Core
	selectors []string
}

func (c *selectorCore) With(fields []zapcore.Field) zapcore.Core {
	return &selectorCore{Core: c.Core.With(fields), selectors: c.selectors}
}

func (c *selectorCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level == zapcore.DebugLevel && !c.selected(e.LoggerName) {
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c *selectorCore) selected(name string) bool {
	for _, s := range c.selectors {
		if s == "*" || name == s || strings.HasPrefix(name, s+".") {
			return true
		}
	}
	return false
}
