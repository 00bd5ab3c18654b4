package rules

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"go.uber.org/zap"
)

// MaxFileSize bounds a rule file; Elastic's largest Linux rules are about
// 20 KiB.
const MaxFileSize = 4 << 20

// Options says which rules to load. It is a plain value; Load and the
// Watcher keep their own copies.
type Options struct {
	// Paths are rule files, directories (their *.toml files, not
	// recursive) or globs (every matching file is read whatever its
	// extension; a matching directory contributes its *.toml files).
	Paths []string
	// DisableBuiltin leaves out the embedded built-in rules.
	DisableBuiltin bool
	// AllowMissing makes a literal path that does not exist contribute no
	// files instead of a problem. The Watcher sets it, so that deleting a
	// configured rule file removes its rules.
	AllowMissing bool
	// StrictPerms refuses user rule files that group or others can write,
	// or that belong to someone other than root or the current user, as
	// Beats' strict.perms does for configuration: whoever can edit a rule
	// can switch detection off.
	StrictPerms bool
}

// Load reads, parses and compiles the built-in rules (unless disabled) and
// the user rules of opts.Paths. It always returns a usable Set holding
// every rule that loaded; the error joins the Set's problems (each a
// *Problem, FILE:LINE:COL: message) and is nil when there were none.
//
// A user rule whose rule_id is a built-in's replaces the built-in (logged at
// Info). The same rule_id in two user files is a problem naming both files;
// the first file in load order keeps it. log may be nil.
func Load(opts Options, log *zap.Logger) (*Set, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("rules")
	var (
		problems    []*Problem
		unsupported []Unsupported
		byID        = map[string]*Rule{}
		order       []*Rule
	)
	add := func(name string, r *Rule, err error) {
		var ue *UnsupportedError
		var p *Problem
		switch {
		case err == nil:
		case errors.As(err, &ue):
			unsupported = append(unsupported, ue.Rule)
			return
		case errors.As(err, &p):
			problems = append(problems, p)
			return
		default:
			problems = append(problems, &Problem{File: name, Msg: err.Error(), Err: err})
			return
		}
		prev, seen := byID[r.Meta.ID]
		switch {
		case !seen:
		case prev.Builtin && !r.Builtin:
			r.Replaces = prev.File
			log.Info("user rule replaces built-in rule",
				zap.String("rule.id", r.Meta.ID), zap.String("file", r.File), zap.String("builtin", prev.File))
		default:
			problems = append(problems, &Problem{
				File: r.File, Line: r.idLine, Col: r.idCol,
				Msg:    fmt.Sprintf("duplicate rule_id %s, already defined in %s", r.Meta.ID, prev.File),
				RuleID: r.Meta.ID, Name: r.Meta.Name, Version: r.Meta.Version,
				Err: ErrDuplicate,
			})
			return
		}
		byID[r.Meta.ID] = r
		order = append(order, r)
	}

	if !opts.DisableBuiltin {
		for _, b := range builtinFiles() {
			r, err := Parse(b.name, b.data, true)
			add(b.name, r, err)
		}
	}
	files, perr := expandAll(opts.Paths, opts.AllowMissing)
	problems = append(problems, perr...)
	digest := sha256.New()
	fmt.Fprintf(digest, "builtin=%t\n", !opts.DisableBuiltin)
	for _, name := range files {
		data, err := readFile(name, opts.StrictPerms)
		if err != nil {
			problems = append(problems, &Problem{File: name, Msg: err.Error(), Err: err})
			continue
		}
		fmt.Fprintf(digest, "%s\x00%d\x00", name, len(data))
		digest.Write(data)
		r, err := Parse(name, data, false)
		add(name, r, err)
	}

	rs := make([]*Rule, 0, len(byID))
	for _, r := range order {
		if byID[r.Meta.ID] == r {
			rs = append(rs, r)
		}
	}
	s := newSet(rs, problems, unsupported, files)
	copy(s.digest[:], digest.Sum(nil))
	return s, s.Err()
}

type namedData struct {
	name string
	data []byte
}

// builtinFiles returns the embedded rule files, named builtin/NAME.toml.
func builtinFiles() []namedData {
	var out []namedData
	// The embedded tree is fixed at build time; its reads cannot fail.
	_ = fs.WalkDir(builtinFS, "builtin", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".toml" {
			return err
		}
		data, err := builtinFS.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, namedData{name: p, data: data})
		return nil
	})
	return out
}

func readFile(name string, strict bool) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read rule file: %w", err)
	}
	defer f.Close()
	if strict {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("read rule file: %w", err)
		}
		if err := checkPerms(fi); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read rule file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("read rule file: larger than %d bytes: %w", MaxFileSize, ErrInvalid)
	}
	return data, nil
}

// checkPerms enforces Options.StrictPerms on an open file.
func checkPerms(fi fs.FileInfo) error {
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("refusing rule file writable by group or others (mode %#o; chmod go-w): %w", m, ErrPermissions)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := os.Geteuid(); st.Uid != 0 && int(st.Uid) != uid {
			return fmt.Errorf("refusing rule file owned by uid %d (want root or uid %d): %w", st.Uid, uid, ErrPermissions)
		}
	}
	return nil
}

// Expand resolves one rule path (file, directory or glob) to the files it
// names, sorted. A literal path that does not exist is an error wrapping
// ErrNoMatch; a glob that matches nothing yields no files and no error
// (the Watcher picks up files created later). An error about the path
// itself is a *Problem naming it once.
func Expand(pattern string) ([]string, error) {
	if !hasMeta(pattern) {
		fi, err := os.Stat(pattern)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, pathProblem(pattern, ErrNoMatch)
			}
			return nil, pathProblem(pattern, err)
		}
		if fi.IsDir() {
			return tomlFiles(pattern)
		}
		return []string{pattern}, nil
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, pathProblem(pattern, err)
	}
	var out []string
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			continue // vanished between Glob and Stat
		}
		if fi.IsDir() {
			more, err := tomlFiles(m)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

func expandAll(patterns []string, allowMissing bool) ([]string, []*Problem) {
	var (
		files    []string
		problems []*Problem
		seen     = map[string]bool{}
	)
	for _, p := range patterns {
		names, err := Expand(p)
		if allowMissing && errors.Is(err, ErrNoMatch) {
			continue
		}
		var problem *Problem
		switch {
		case errors.As(err, &problem):
			problems = append(problems, problem)
			continue
		case err != nil:
			problems = append(problems, &Problem{File: p, Msg: err.Error(), Err: err})
			continue
		}
		for _, f := range names {
			key := filepath.Clean(f)
			if seen[key] {
				continue
			}
			seen[key] = true
			files = append(files, f)
		}
	}
	return files, problems
}

// pathProblem is a problem with a rule path as the user wrote it.
func pathProblem(pattern string, err error) *Problem {
	return &Problem{File: pattern, Msg: err.Error(), Err: err}
}

func tomlFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read rule directory %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".toml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out, nil
}

// hasMeta reports whether path holds glob metacharacters (filepath.Match).
func hasMeta(path string) bool {
	return strings.ContainsAny(path, `*?[\`)
}
