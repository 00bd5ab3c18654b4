package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spawnbeat/spawnbeat/beater/kibana"
	"github.com/spawnbeat/spawnbeat/beater/output/console"
	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/beater/output/file"
	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config/bytesize"
)

// Config is the whole of spawnbeat.yml.
type Config struct {
	Spawnbeat Spawnbeat       `config:"spawnbeat"`
	Name      string          `config:"name"`      // agent.name; the host name when empty
	MaxProcs  int             `config:"max_procs"` // CPUs running Go code at once (GOMAXPROCS); 0: all
	Output    Output          `config:"output"`
	Queue     pipeline.Config `config:"queue"`
	Setup     Setup           `config:"setup"`
	Logging   Logging         `config:"logging"`
	Path      Paths           `config:"path"`
	HTTP      HTTP            `config:"http"`
}

// Setup is the setup section: index management in Elasticsearch
// (setup.template, setup.ilm) and the Kibana assets (setup.kibana,
// setup.dashboards).
type Setup struct {
	elasticsearch.SetupConfig `config:",inline"`
	Kibana                    kibana.Config           `config:"kibana"`
	Dashboards                kibana.DashboardsConfig `config:"dashboards"`
}

// Spawnbeat is the spawnbeat.* section: what is captured and how.
type Spawnbeat struct {
	Namespace string `config:"namespace"` // data_stream.namespace
	// DropCapabilities narrows spawnbeat run to the capabilities capture
	// needs, by re-executing itself with a narrower bounding set.
	DropCapabilities bool      `config:"drop_capabilities"`
	Capture          Capture   `config:"capture"`
	Cache            Cache     `config:"cache"`
	Detection        Detection `config:"detection"`
}

// Capture modes.
const (
	ModeAuto    = "auto"    // the proc connector, or polling /proc where it cannot be used
	ModeNetlink = "netlink" // the proc connector only; fail when it cannot be used
	ModePoll    = "poll"    // poll /proc only
)

// Where exec'd processes' images (arguments, executable, working directory,
// process group and session) come from (capture.exec_args).
const (
	ExecArgsAuto   = "auto"   // taken in the kernel at each exec (BPF) where it allows, else /proc
	ExecArgsKernel = "kernel" // taken in the kernel; fail to start when it cannot be
	ExecArgsProc   = "proc"   // read from /proc after each exec event
)

// Capture configures the sources.
type Capture struct {
	Mode          string        `config:"mode"`
	ExecArgs      string        `config:"exec_args"`        // where exec'd processes' images come from
	ReceiveBuffer bytesize.Size `config:"receive_buffer"`   // proc connector socket buffer (SO_RCVBUFFORCE)
	PollPeriod    time.Duration `config:"poll_period"`      // poll mode: time between /proc scans
	ProcRoot      string        `config:"proc_root"`        // where the host's /proc is mounted
	ScanExisting  bool          `config:"scan_existing"`    // emit "existing" documents at start
	Actions       []string      `config:"actions,replace"`  // document kinds to emit: exec, end, existing, fork
	MaxArgsBytes  bytesize.Size `config:"max_args_bytes"`   // cap on a process's argument list
	EnvVars       []string      `config:"env_vars,replace"` // environment variables reported in process.env_vars, by name
	PriorityBoost int           `config:"priority_boost"`   // nice decrement of every thread, as auditd's priority_boost
}

// Cache configures the process table.
type Cache struct {
	MaxEntries int           `config:"max_entries"`
	ExitGrace  time.Duration `config:"exit_grace"` // how long an exited process's image is kept
}

// Detection configures the inline rules.
type Detection struct {
	Enabled   bool      `config:"enabled"`
	Builtin   bool      `config:"builtin"`       // the embedded rules
	Rules     []string  `config:"rules,replace"` // globs, files or directories of detection-rules TOML files
	Reload    Reload    `config:"reload"`
	Sequences Sequences `config:"sequences"`
}

// Sequences bounds the partial sequences (steps matched so far) that
// sequence rules hold in memory.
type Sequences struct {
	MaxPending int           `config:"max_pending"` // per rule; past it the least advanced, oldest is evicted
	MaxSpan    time.Duration `config:"max_span"`    // how long a rule without maxspan holds one
}

// Reload configures reloading user rules when their files change.
type Reload struct {
	Enabled bool `config:"enabled"`
}

// Output holds the output namespaces. Exactly one may be enabled; when none
// is configured the file output writes under path.data.
type Output struct {
	Elasticsearch *Elasticsearch  `config:"elasticsearch"`
	File          *file.Config    `config:"file"`
	Console       *console.Config `config:"console"`
}

// Elasticsearch is output.elasticsearch: the output's own settings plus
// enabled, which every output namespace has.
type Elasticsearch struct {
	Enabled              bool `config:"enabled"`
	elasticsearch.Config `config:",inline"`
}

// Logging is the logging.* section.
type Logging struct {
	Level     string       `config:"level"` // debug, info, warning, error
	ToStderr  bool         `config:"to_stderr"`
	ToFiles   bool         `config:"to_files"`
	JSON      bool         `config:"json"`
	Selectors []string     `config:"selectors,replace"` // debug selectors (logger names), "*" for all
	Files     LoggingFiles `config:"files"`
}

// LoggingFiles configures the rotating log files.
type LoggingFiles struct {
	Path             string        `config:"path"` // defaults to path.logs
	Name             string        `config:"name"`
	RotateEveryBytes bytesize.Size `config:"rotateeverybytes"`
	KeepFiles        int           `config:"keepfiles"`
	Permissions      uint32        `config:"permissions"`
}

// Paths is the path.* section. Each defaults from path.home.
type Paths struct {
	Home   string `config:"home"`
	Config string `config:"config"`
	Data   string `config:"data"`
	Logs   string `config:"logs"`
}

// HTTP is the monitoring endpoint (/stats).
type HTTP struct {
	Enabled bool   `config:"enabled"`
	Host    string `config:"host"`
	Port    int    `config:"port"`
	Pprof   Pprof  `config:"pprof"`
}

// Pprof serves Go's profiler under /debug/pprof/ on the monitoring endpoint.
type Pprof struct {
	Enabled bool `config:"enabled"`
}

// maxEnvVars bounds spawnbeat.capture.env_vars: each name is looked up in
// every exec'd process's environment.
const maxEnvVars = 32

// Actions that can be listed in spawnbeat.capture.actions.
var knownActions = []string{"exec", "end", "existing", "fork"}

// Default returns the settings that apply before any file is read.
func Default() Config {
	return Config{
		Spawnbeat: Spawnbeat{
			Namespace:        "default",
			DropCapabilities: true,
			Capture: Capture{
				Mode:          ModeAuto,
				ExecArgs:      ExecArgsAuto,
				ReceiveBuffer: 8 << 20,
				PollPeriod:    time.Second,
				ProcRoot:      "/proc",
				ScanExisting:  true,
				Actions:       []string{"exec", "end", "existing"},
				MaxArgsBytes:  32 << 10,
			},
			Cache: Cache{MaxEntries: 65536, ExitGrace: 30 * time.Second},
			Detection: Detection{
				Enabled: true, Builtin: true, Reload: Reload{Enabled: true},
				Sequences: Sequences{MaxPending: 4096, MaxSpan: time.Hour},
			},
		},
		Logging: Logging{
			Level:   "info",
			ToFiles: true,
			JSON:    true,
			Files: LoggingFiles{
				Name:             "spawnbeat",
				RotateEveryBytes: 10 << 20,
				KeepFiles:        7,
				Permissions:      0o600,
			},
		},
		HTTP:  HTTP{Host: "localhost", Port: 5066},
		Setup: Setup{SetupConfig: elasticsearch.DefaultSetupConfig(), Kibana: kibana.DefaultConfig()},
	}
}

// Has reports whether actions lists a document kind.
func (c *Capture) Has(action string) bool { return slices.Contains(c.Actions, action) }

// validate lists every problem of the spawnbeat section. Sections have no
// Validate method of their own, so that go-ucfg does not stop at the first
// failing one: Config.Validate reports them all at once.
func (s *Spawnbeat) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &KeyError{Key: "spawnbeat." + key, Err: fmt.Errorf(format, args...)})
	}
	if s.Namespace == "" || len(s.Namespace) > 100 || !isNamespace(s.Namespace) {
		add("namespace", "%q is not a data stream namespace: lower-case letters, digits and _ only, at most 100", s.Namespace)
	}
	c := &s.Capture
	switch c.Mode {
	case ModeAuto, ModeNetlink, ModePoll:
	default:
		add("capture.mode", "%q is not one of auto, netlink, poll", c.Mode)
	}
	switch c.ExecArgs {
	case ExecArgsAuto, ExecArgsKernel, ExecArgsProc:
	default:
		add("capture.exec_args", "%q is not one of auto, kernel, proc", c.ExecArgs)
	}
	if c.ReceiveBuffer < 64<<10 || c.ReceiveBuffer > 1<<30 {
		add("capture.receive_buffer", "%d is outside 64KiB..1GiB", c.ReceiveBuffer)
	}
	if c.PollPeriod < 10*time.Millisecond {
		add("capture.poll_period", "%s is shorter than 10ms", c.PollPeriod)
	}
	if c.ProcRoot == "" {
		add("capture.proc_root", "must not be empty")
	}
	for _, a := range c.Actions {
		if !slices.Contains(knownActions, a) {
			add("capture.actions", "%q is not one of %v", a, knownActions)
		}
	}
	if len(c.EnvVars) > maxEnvVars {
		add("capture.env_vars", "%d names, at most %d", len(c.EnvVars), maxEnvVars)
	}
	for _, name := range c.EnvVars {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			add("capture.env_vars", "%q is not an environment variable name", name)
		}
	}
	if c.PriorityBoost < 0 || c.PriorityBoost > 20 {
		add("capture.priority_boost", "%d is outside 0..20", c.PriorityBoost)
	}
	if c.MaxArgsBytes < 1024 || c.MaxArgsBytes > 4<<20 {
		add("capture.max_args_bytes", "%d is outside 1KiB..4MiB", c.MaxArgsBytes)
	}
	if s.Cache.MaxEntries < 1024 {
		add("cache.max_entries", "%d is below 1024", s.Cache.MaxEntries)
	}
	if s.Cache.ExitGrace < 0 {
		add("cache.exit_grace", "%s is negative", s.Cache.ExitGrace)
	}
	if q := s.Detection.Sequences; q.MaxPending < 16 || q.MaxPending > 1<<20 {
		add("detection.sequences.max_pending", "%d is outside 16..1048576", q.MaxPending)
	}
	if q := s.Detection.Sequences; q.MaxSpan < time.Second || q.MaxSpan > 30*24*time.Hour {
		add("detection.sequences.max_span", "%s is outside 1s..720h", q.MaxSpan)
	}
	return errs
}

func isNamespace(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func (l *Logging) validate() []error {
	var errs []error
	switch l.Level {
	case "debug", "info", "warning", "warn", "error", "critical":
	default:
		errs = append(errs, &KeyError{Key: "logging.level", Err: fmt.Errorf("%q is not one of debug, info, warning, error", l.Level)})
	}
	if l.Files.KeepFiles < 2 || l.Files.KeepFiles > 1024 {
		errs = append(errs, &KeyError{Key: "logging.files.keepfiles", Err: fmt.Errorf("%d is outside 2..1024", l.Files.KeepFiles)})
	}
	if l.Files.RotateEveryBytes < 1<<10 {
		errs = append(errs, &KeyError{Key: "logging.files.rotateeverybytes", Err: fmt.Errorf("%d is below 1KiB", l.Files.RotateEveryBytes)})
	}
	return errs
}

func (h *HTTP) validate() []error {
	if h.Port < 1 || h.Port > 65535 {
		return []error{&KeyError{Key: "http.port", Err: fmt.Errorf("%d is not a TCP port", h.Port)}}
	}
	return nil
}

// Check reports every problem of the settings at once, each a *KeyError
// naming its key. (It is not go-ucfg's Validate, which would stop unpacking
// at the first failing section.)
func (c *Config) Check() error {
	errs := c.Spawnbeat.validate()
	if c.MaxProcs < 0 {
		errs = append(errs, &KeyError{Key: "max_procs", Err: fmt.Errorf("%d is negative", c.MaxProcs)})
	}
	errs = append(errs, c.Logging.validate()...)
	errs = append(errs, c.HTTP.validate()...)
	return errors.Join(errs...)
}
