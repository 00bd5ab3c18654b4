package rules

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// DefaultDebounce is how long the Watcher waits after the last change
// before it rebuilds: editors and `cp` produce bursts of events per save.
const DefaultDebounce = 200 * time.Millisecond

// Watcher rebuilds the rule set when files under the configured paths
// change and hands each clean new Set to a callback. A rebuild with any
// problem is not handed over: the rules in force stay in force and every
// problem is logged with FILE:LINE:COL. A Watcher is used by one goroutine
// (the one calling Run); install is called from it.
type Watcher struct {
	opts     Options
	debounce time.Duration
	install  func(*Set)
	log      *zap.Logger
	current  *Set
	watched  map[string]bool
	ready    chan struct{} // closed once the first watches are in place
}

// NewWatcher returns a Watcher for opts. current is the set in force (nil
// if none); a rebuild identical to it (same files, same bytes) is not handed
// over again. debounce <= 0 means DefaultDebounce. log may be nil.
func NewWatcher(opts Options, current *Set, debounce time.Duration, install func(*Set), log *zap.Logger) *Watcher {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	if log == nil {
		log = zap.NewNop()
	}
	opts.AllowMissing = true
	return &Watcher{
		opts:     opts,
		debounce: debounce,
		install:  install,
		log:      log.Named("rules.watcher"),
		current:  current,
		watched:  map[string]bool{},
		ready:    make(chan struct{}),
	}
}

// Run watches until ctx is done, then releases the inotify watches and
// returns nil. It returns an error only when watching cannot start.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch rule paths: %w", err)
	}
	defer fw.Close()
	w.syncWatches(fw)
	close(w.ready)

	timer := time.NewTimer(w.debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			w.log.Debug("rule path changed", zap.String("file", ev.Name), zap.String("op", ev.Op.String()))
			timer.Reset(w.debounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.log.Warn("watching rule paths", zap.Error(err))
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				timer.Reset(w.debounce) // events were lost: rebuild to be sure
			}
		case <-timer.C:
			// Watch new directories before reading them, so that a file
			// created in one right after the read is still noticed.
			w.syncWatches(fw)
			w.reload()
		}
	}
}

// reload rebuilds the set and installs it when it is clean and different.
func (w *Watcher) reload() {
	set, err := Load(w.opts, w.log)
	if err != nil {
		for _, p := range set.Problems() {
			w.log.Error("rule file not loaded; the rules in force stay in force",
				zap.String("file", p.File), zap.Int("line", p.Line), zap.Int("col", p.Col),
				zap.String("rule.id", p.RuleID), zap.String("error", p.Msg))
		}
		return
	}
	if w.current != nil && set.digest == w.current.digest {
		w.log.Debug("rule files unchanged")
		return
	}
	set.Log(w.log)
	w.log.Info("rule set reloaded", zap.Int("rules", set.Len()), zap.Int("unsupported", len(set.Unsupported())),
		zap.Int("files", len(set.Files())))
	w.current = set
	w.install(set)
}

// syncWatches watches the directories the configured paths live in (or
// their nearest existing ancestor, so that a directory created later is
// noticed), and drops watches no longer needed.
func (w *Watcher) syncWatches(fw *fsnotify.Watcher) {
	want := map[string]bool{}
	for _, p := range w.opts.Paths {
		for _, d := range watchDirs(p) {
			want[d] = true
		}
	}
	for d := range want {
		if w.watched[d] {
			continue
		}
		if err := fw.Add(d); err != nil {
			w.log.Warn("cannot watch rule directory", zap.String("dir", d), zap.Error(err))
			continue
		}
		w.watched[d] = true
	}
	for d := range w.watched {
		if !want[d] {
			// The directory may be gone already, which removed the watch.
			_ = fw.Remove(d)
			delete(w.watched, d)
		}
	}
}

// watchDirs returns the directories to watch for one rule path.
func watchDirs(pattern string) []string {
	if !hasMeta(pattern) {
		if fi, err := os.Stat(pattern); err == nil && fi.IsDir() {
			return []string{filepath.Clean(pattern)}
		}
		return []string{existingAncestor(filepath.Dir(pattern))}
	}
	var dirs []string
	dir := filepath.Dir(pattern)
	if !hasMeta(dir) {
		dirs = append(dirs, existingAncestor(dir))
	} else if ms, err := filepath.Glob(dir); err == nil {
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				dirs = append(dirs, m)
			}
		}
	}
	// A glob may match directories: their *.toml files are rules too.
	if ms, err := filepath.Glob(pattern); err == nil {
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				dirs = append(dirs, m)
			}
		}
	}
	return dirs
}

func existingAncestor(dir string) string {
	dir = filepath.Clean(dir)
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}
