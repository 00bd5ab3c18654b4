package beater

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/module/detection"
	"github.com/spawnbeat/spawnbeat/module/detection/rules"
	"github.com/spawnbeat/spawnbeat/module/process"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/module/process/execargs"
)

// Info names the running agent and carries what the command line decided.
type Info struct {
	Version string
	// StrictPerms refuses rule files that group or others can write, as
	// --strict.perms does for the config file.
	StrictPerms bool
}

// shutdownTimeout bounds how long Run spends delivering what is queued once
// it has been asked to stop.
const shutdownTimeout = 10 * time.Second

// Beater runs spawnbeat. Run blocks until ctx ends or Stop is called; Stop
// may be called from any goroutine, more than once.
type Beater struct {
	cfg  *config.Config
	log  *zap.Logger
	info Info

	stopOnce sync.Once
	stop     chan struct{}
}

// New checks nothing beyond what config validated; the work of opening
// sockets and files is Run's, so that its errors reach the caller of Run.
func New(cfg *config.Config, log *zap.Logger, info Info) *Beater {
	return &Beater{cfg: cfg, log: log, info: info, stop: make(chan struct{})}
}

// Stop asks Run to shut down.
func (b *Beater) Stop() { b.stopOnce.Do(func() { close(b.stop) }) }

// Run captures, detects and delivers until ctx ends or Stop is called, then
// flushes what was captured within shutdownTimeout.
func (b *Beater) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	host, err := ecs.ReadHost(ctx, b.log, ecs.HostOptions{})
	if err != nil {
		return err
	}
	agentID, err := ecs.LoadOrCreateAgentID(b.cfg.Path.Data)
	if err != nil {
		return err
	}
	name := b.cfg.Name
	if name == "" {
		name = host.Hostname
	}
	agent := ecs.NewAgent(b.info.Version, name, agentID)

	src, err := process.New(b.sourceOptions(), host, agent, b.log)
	if err != nil {
		return err
	}
	det, watcher, err := b.detection(src)
	if err != nil {
		return err
	}
	setup, err := ReadSetup(b.cfg)
	if err != nil {
		return err
	}
	queue, flush, err := b.queue()
	if err != nil {
		return err
	}
	defer queue.Close()
	out, err := b.output()
	if err != nil {
		return err
	}
	defer out.Output.Close()
	b.setup(ctx, setup)
	if err := b.loadKibana(ctx, setup); err != nil {
		return err
	}

	if boost := b.cfg.Spawnbeat.Capture.PriorityBoost; boost > 0 {
		// Not fatal, as in auditd: capture works at any priority.
		if nice, err := boostPriority(boost); err != nil {
			b.log.Warn("priority boost not applied", zap.Int("priority_boost", boost), zap.Error(err))
		} else {
			b.log.Info("priority boosted", zap.Int("priority_boost", boost), zap.Int("nice", nice))
		}
	}
	st := &stages{log: b.log, source: src, detector: det, queue: queue, output: out.Output, outputStats: out.Stats,
		loopConfig: pipeline.LoopConfig{Flush: flush, BatchSize: out.BatchSize}}
	if b.cfg.HTTP.Enabled {
		srv, err := serveStats(b.cfg.HTTP, st, b.log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if watcher != nil {
		go func() {
			if err := watcher.Run(ctx); err != nil {
				b.log.Warn("rule reloading stopped", zap.Error(err))
			}
		}()
	}
	b.log.Info("spawnbeat started", zap.String("agent.version", b.info.Version), zap.String("agent.id", agentID),
		zap.String("output", b.cfg.Output.Name))
	err = st.run(ctx)
	b.log.Info("spawnbeat stopped")
	return err
}

func (b *Beater) sourceOptions() process.Options {
	c := b.cfg.Spawnbeat.Capture
	return process.Options{
		Mode:          c.Mode,
		ExecArgs:      c.ExecArgs,
		ReceiveBuffer: int(c.ReceiveBuffer),
		PollPeriod:    c.PollPeriod,
		ProcRoot:      c.ProcRoot,
		ScanExisting:  c.ScanExisting,
		Exec:          c.Has("exec"),
		End:           c.Has("end"),
		Existing:      c.Has("existing"),
		Fork:          c.Has("fork"),
		MaxArgsBytes:  int(c.MaxArgsBytes),
		EnvVars:       c.EnvVars,
		CacheEntries:  b.cfg.Spawnbeat.Cache.MaxEntries,
		ExitGrace:     b.cfg.Spawnbeat.Cache.ExitGrace,
		Namespace:     b.cfg.Spawnbeat.Namespace,
	}
}

// detection loads the rules; a user rule file that does not load stops the
// start, so that a typo is seen at once rather than a rule silently absent,
// and a rule that names a field spawnbeat never fills is warned about.
// It tells src which execs the rules in force can match (wakeFor).
func (b *Beater) detection(src *process.Source) (*detection.Detector, *rules.Watcher, error) {
	d := b.cfg.Spawnbeat.Detection
	if !d.Enabled {
		src.WakeFor(nil) // no exec needs reading at once
		return nil, nil, nil
	}
	opts := rules.Options{Paths: d.Rules, DisableBuiltin: !d.Builtin, StrictPerms: b.info.StrictPerms}
	set, err := rules.Load(opts, b.log)
	if err != nil {
		return nil, nil, fmt.Errorf("load detection rules: %w", err)
	}
	// Fields no document carries, as a reload reports them: an exclusion
	// on a misspelt field would otherwise silently exclude nothing.
	set.Log(b.log.Named("rules"))
	det, err := detection.New(set, detection.Options{MaxPending: d.Sequences.MaxPending, MaxSpan: d.Sequences.MaxSpan}, b.log)
	if err != nil {
		return nil, nil, err
	}
	wakeFor(src, set)
	if !d.Reload.Enabled || len(d.Rules) == 0 {
		return det, nil, nil
	}
	install := func(s *rules.Set) {
		det.Install(s)
		wakeFor(src, s)
	}
	return det, rules.NewWatcher(opts, set, reloadDebounce, install, b.log), nil
}

// wakeFor tells src which execs the rules of set can match, by their
// names and their parents' (rules.Set.ExecMatches), so that an exec storm
// delays only the others; when the rules cannot be narrowed so, every
// exec counts. The capture logs which, once its exec program is loaded.
func wakeFor(src *process.Source, set *rules.Set) {
	matches, ok := set.ExecMatches()
	if !ok {
		src.WakeForAll()
		return
	}
	ways := make([]execargs.Way, len(matches))
	for i, m := range matches {
		ways[i] = execargs.Way{Names: execNames(m.Names), Parents: execNames(m.Parents)}
	}
	src.WakeFor(ways)
}

// execNames converts patterns, keeping nil (any name) nil.
func execNames(ps []rules.NamePattern) []execargs.Name {
	if ps == nil {
		return nil
	}
	out := make([]execargs.Name, len(ps))
	for i, p := range ps {
		out[i] = execargs.Name{Text: p.Text, Prefix: p.Prefix}
	}
	return out
}

// reloadDebounce lets an editor finish writing a rule file before it is read.
const reloadDebounce = 200 * time.Millisecond
