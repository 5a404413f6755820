// Package store is ccq's content-addressed store of finished stage outputs.
//
// An entry lives at <root>/<kind>/<key>/ and holds the stage's output files
// plus manifest.json (see Manifest). Entries are built in a temporary folder
// <root>/<kind>/.tmp/<key>.<host>.<pid>.<n>/, the manifest is written last,
// files and folders are fsynced, and the folder is renamed into place in one
// step. A folder at <root>/<kind>/<key>/ whose manifest is missing, does not
// parse, names another key or is not "ok" is never accepted. So a process
// killed at any moment leaves either a complete entry or nothing that counts.
//
// An entry copied from another store (ccq store import, package
// storepack) is written into such a temporary folder as it is, manifest
// included, and put into place by Pending.Adopt only after its manifest
// and every file were checked, like an entry built here; an accepted entry
// already in the store is never replaced by an imported one.
//
// Checkpoints that must survive a kill of the process building an entry
// live at <root>/<kind>/.ckpt/<key>/ and are removed once the entry is
// committed.
//
// # Integrity
//
// The manifest lists every output file with its size and SHA-256 digest.
// Lookup accepts an entry only after a cheap check against that list:
// every file exists, is a regular file and has its size, and files under
// SmallFile bytes also have their digest. Entry.Verify checks every digest
// (and that no file was added). A failed check is a *DamageError naming the
// file; it wraps ErrCorrupt, so the entry is rebuilt instead of served.
// Every manifest ccq has written (format 1, since the first version) lists
// sizes and digests, so a manifest whose outputs lack them was not written
// by ccq and is refused like any other unacceptable manifest (the entry is
// rebuilt); no digest is ever filled in from files as found.
//
// # Stage locks
//
// While a stage builds the entry for a key, it holds that key's lock (see
// LockStage), so that two runs sharing a store build each entry once: the
// second waits, then finds the entry. The lock is a file created
// atomically with link(2); see LockStage for what it relies on across hosts.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/internal/digest"
)

// ManifestName is the file name of an entry's manifest. A stage may not
// write a file with this name at the top of its output folder.
const ManifestName = "manifest.json"

// ManifestFormat is the version of the manifest layout written by this code.
const ManifestFormat = 1

// StatusOK is the only manifest status an accepted entry may have.
const StatusOK = "ok"

// ErrNotFound reports that the store holds no accepted entry for a key.
var ErrNotFound = errors.New("no store entry")

// Store is a content-addressed store rooted at a folder.
type Store struct {
	root string
	// NoSync skips fsync calls. Entries stay atomic against a killed
	// process (the page cache survives it) but not against a power loss.
	// Meant for benchmarks and throw-away stores.
	NoSync bool
	// Locks tunes the stage locks (see LockStage); zero means the defaults.
	Locks LockTimings
}

// Open returns the store rooted at root, creating the folder if needed.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("store: empty root folder")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", abs, err)
	}
	return &Store{root: abs}, nil
}

// Root is the store's absolute root folder.
func (s *Store) Root() string { return s.root }

// EntryDir is the folder of the entry for kind and key (it may not exist).
func (s *Store) EntryDir(kind, key string) string { return filepath.Join(s.root, kind, key) }

// CheckpointDir is the folder where a stage building the entry for kind and
// key keeps checkpoints across kills. It is not created here (most stages
// never checkpoint; a stage that does creates it).
func (s *Store) CheckpointDir(kind, key string) string {
	return filepath.Join(s.root, kind, ".ckpt", key)
}

// HasCheckpoint reports whether a non-empty checkpoint folder exists for kind and key.
func (s *Store) HasCheckpoint(kind, key string) bool {
	ents, err := os.ReadDir(s.CheckpointDir(kind, key))
	return err == nil && len(ents) > 0
}

// DiscardCheckpoint deletes the checkpoint folder for kind and key, if any,
// so that the next run of the stage starts from scratch (--rerun, --force).
// The folder is first renamed into <root>/<kind>/.trash/, so a crash midway
// never leaves part of a checkpoint to resume from.
func (s *Store) DiscardCheckpoint(kind, key string) error {
	if err := CheckSegment(kind); err != nil {
		return err
	}
	if err := CheckSegment(key); err != nil {
		return err
	}
	dir := s.CheckpointDir(kind, key)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	trash := filepath.Join(s.root, kind, ".trash")
	if err := os.MkdirAll(trash, 0o755); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	dst := filepath.Join(trash, key+".ckpt."+uniqueSuffix())
	if err := os.Rename(dir, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("store: discarding checkpoint %s: %w", dir, err)
	}
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("store: removing %s: %w", dst, err)
	}
	return nil
}

// Entry is an accepted store entry.
type Entry struct {
	// Dir is the entry's folder; output files are relative to it.
	Dir string `json:"dir"`
	// Manifest is the entry's parsed manifest.
	Manifest *Manifest `json:"manifest"`
}

// Path returns the absolute path of an output file given relative to the entry.
func (e *Entry) Path(rel string) string { return filepath.Join(e.Dir, filepath.FromSlash(rel)) }

// Lookup returns the accepted entry for kind and key. It returns an error
// wrapping ErrNotFound when there is none, and another error when a folder
// exists but is not acceptable (see Accept).
func (s *Store) Lookup(kind, key string) (*Entry, error) {
	if err := CheckSegment(kind); err != nil {
		return nil, err
	}
	if err := CheckSegment(key); err != nil {
		return nil, err
	}
	dir := s.EntryDir(kind, key)
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(dir); serr == nil {
				return nil, fmt.Errorf("store entry %s has no manifest: %w", dir, ErrCorrupt)
			}
			return nil, fmt.Errorf("%s/%s: %w", kind, key, ErrNotFound)
		}
		return nil, fmt.Errorf("store entry %s: %w", dir, err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("store entry %s: %v: %w", dir, err, ErrCorrupt)
	}
	if m.Kind != kind || m.Key != key || m.Status != StatusOK {
		return nil, fmt.Errorf("store entry %s: manifest names %s/%s status %q: %w", dir, m.Kind, m.Key, m.Status, ErrCorrupt)
	}
	e := &Entry{Dir: dir, Manifest: m}
	if err := e.Check(false); err != nil {
		return nil, err
	}
	return e, nil
}

// SmallFile is the size under which Lookup checks a file's digest as well
// as its size: reading 1 MiB costs about a millisecond, while the big files
// (models, datasets) are only fully checked by Entry.Verify (ccq run --verify).
const SmallFile = 1 << 20

// DamageError reports an entry whose files do not match its manifest. It
// wraps ErrCorrupt.
type DamageError struct {
	// Dir is the entry folder; Kind and Key name the entry.
	Dir, Kind, Key string
	// File is the damaged file, relative to Dir with forward slashes.
	File string
	// Problem says what is wrong ("missing", "size 10 bytes, the manifest says 12", ...).
	Problem string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("store entry %s: file %s: %s", e.Dir, e.File, e.Problem)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *DamageError) Unwrap() error { return ErrCorrupt }

// Check compares the entry's files with its manifest: each listed file
// exists, is a regular file and has the listed size; its SHA-256 digest is
// compared too when full is set or the file is smaller than SmallFile. With
// full set, a file that the manifest does not list is damage too. It
// returns a *DamageError for the first mismatch, or another error when the
// folder cannot be read.
func (e *Entry) Check(full bool) error {
	damage := func(file, format string, args ...any) error {
		return &DamageError{Dir: e.Dir, Kind: e.Manifest.Kind, Key: e.Manifest.Key, File: file, Problem: fmt.Sprintf(format, args...)}
	}
	for _, o := range e.Manifest.Outputs {
		p := e.Path(o.Path)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return damage(o.Path, "missing")
		case err != nil:
			return fmt.Errorf("store entry %s: %w", e.Dir, err)
		case !fi.Mode().IsRegular():
			return damage(o.Path, "not a regular file (%s)", fi.Mode().Type())
		case fi.Size() != o.Size:
			return damage(o.Path, "size %d bytes, the manifest says %d", fi.Size(), o.Size)
		}
		if !full && o.Size >= SmallFile {
			continue
		}
		sum, err := digest.File(p)
		if err != nil {
			return fmt.Errorf("store entry %s: %w", e.Dir, err)
		}
		if sum != o.SHA256 {
			return damage(o.Path, "content changed (SHA-256 %s, the manifest says %s)", sum, o.SHA256)
		}
	}
	if !full {
		return nil
	}
	listed := make(map[string]bool, len(e.Manifest.Outputs))
	for _, o := range e.Manifest.Outputs {
		listed[o.Path] = true
	}
	return filepath.WalkDir(e.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("store entry %s: %w", e.Dir, err)
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(e.Dir, path)
		rel = filepath.ToSlash(rel)
		if rel != ManifestName && !listed[rel] {
			return damage(rel, "not listed in the manifest")
		}
		return nil
	})
}

// ErrCorrupt reports a folder in the store that is not an acceptable entry.
var ErrCorrupt = errors.New("not an acceptable entry")

// Discard moves an unacceptable or unwanted entry folder out of the way
// (into <root>/<kind>/.trash/) and deletes it.
func (s *Store) Discard(kind, key string) error {
	dir := s.EntryDir(kind, key)
	trash := filepath.Join(s.root, kind, ".trash")
	if err := os.MkdirAll(trash, 0o755); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	dst := filepath.Join(trash, key+"."+uniqueSuffix())
	if err := os.Rename(dir, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("store: discarding %s: %w", dir, err)
	}
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("store: removing %s: %w", dst, err)
	}
	return nil
}

var tmpCounter atomic.Int64

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return strings.ReplaceAll(h, ".", "_")
}

func uniqueSuffix() string {
	return fmt.Sprintf("%s.%d.%d", hostname(), os.Getpid(), tmpCounter.Add(1))
}

// Pending is an entry being built in a temporary folder.
type Pending struct {
	s        *Store
	kind     string
	key      string
	dir      string
	finished bool
}

// Begin starts building the entry for kind and key in a fresh temporary folder.
func (s *Store) Begin(kind, key string) (*Pending, error) {
	if err := CheckSegment(kind); err != nil {
		return nil, err
	}
	if err := CheckSegment(key); err != nil {
		return nil, err
	}
	tmp := filepath.Join(s.root, kind, ".tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	dir := filepath.Join(tmp, key+"."+uniqueSuffix())
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &Pending{s: s, kind: kind, key: key, dir: dir}, nil
}

// Dir is the temporary folder the stage writes its outputs into.
func (p *Pending) Dir() string { return p.dir }

// Abort removes the temporary folder. It is safe to call after Commit.
func (p *Pending) Abort() error {
	if p.finished {
		return nil
	}
	p.finished = true
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("store: removing %s: %w", p.dir, err)
	}
	return nil
}

// Hook, when set (by tests only), is called at named points of Commit
// (and Adopt: the last two) so a test can kill the process there. Points:
// "outputs-hashed", "manifest-written", "before-rename", "after-rename".
var Hook func(point string)

func hook(p string) {
	if Hook != nil {
		Hook(p)
	}
}

// Commit hashes the outputs into m.Outputs, sets m.Kind, m.Key, m.Status and
// m.Format, writes the manifest, syncs everything and renames the folder
// into place. When an accepted entry already exists (another process built
// the same key) it is kept and returned unless replace is true, in which
// case the old entry is discarded first. The checkpoint folder for the key
// is removed after a successful commit.
func (p *Pending) Commit(m *Manifest, replace bool) (*Entry, error) {
	if p.finished {
		return nil, errors.New("store: entry already committed or aborted")
	}
	m.Format = ManifestFormat
	m.Kind = p.kind
	m.Key = p.key
	m.Status = StatusOK
	if _, err := os.Lstat(filepath.Join(p.dir, ManifestName)); err == nil {
		_ = p.Abort()
		return nil, fmt.Errorf("stage wrote a file named %s, which is reserved for the store", ManifestName)
	}
	outs, err := hashTree(p.dir, !p.s.NoSync)
	if err != nil {
		_ = p.Abort()
		return nil, err
	}
	m.Outputs = outs
	hook("outputs-hashed")
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		_ = p.Abort()
		return nil, fmt.Errorf("store: encoding manifest: %w", err)
	}
	// The manifest needs no temporary name of its own: the whole folder
	// is still temporary and becomes visible only by the rename below.
	if err := writeFile(filepath.Join(p.dir, ManifestName), append(b, '\n'), !p.s.NoSync); err != nil {
		_ = p.Abort()
		return nil, err
	}
	hook("manifest-written")
	if !p.s.NoSync {
		if err := syncTree(p.dir, false); err != nil {
			_ = p.Abort()
			return nil, err
		}
	}
	e, _, err := p.install(m, replace)
	return e, err
}

// install renames the finished temporary folder, whose manifest is m,
// into place (Commit and Adopt). When an accepted entry is already there
// (another process built or imported the same key) it is kept and
// returned, with kept set, unless replace is true, in which case the old
// entry is discarded first; a folder there that is not an acceptable entry
// is discarded and replaced. The checkpoint folder for the key is removed
// after a successful rename.
func (p *Pending) install(m *Manifest, replace bool) (e *Entry, kept bool, err error) {
	dst := p.s.EntryDir(p.kind, p.key)
	if replace {
		if err := p.s.Discard(p.kind, p.key); err != nil {
			_ = p.Abort()
			return nil, false, err
		}
	}
	hook("before-rename")
	if err := os.Rename(p.dir, dst); err != nil {
		// Someone else committed the same key first, or a broken folder is there.
		if e, lerr := p.s.Lookup(p.kind, p.key); lerr == nil {
			_ = p.Abort()
			return e, true, nil
		} else if errors.Is(lerr, ErrCorrupt) {
			if derr := p.s.Discard(p.kind, p.key); derr == nil {
				if err2 := os.Rename(p.dir, dst); err2 == nil {
					goto renamed
				}
			}
		}
		_ = p.Abort()
		return nil, false, fmt.Errorf("store: renaming %s to %s: %w", p.dir, dst, err)
	}
renamed:
	p.finished = true
	hook("after-rename")
	// The parent folder is not synced: after a power loss the rename may be
	// lost (the stage reruns), but what was renamed is complete, because
	// every file and folder was synced before the rename.
	_ = os.RemoveAll(p.s.CheckpointDir(p.kind, p.key))
	return &Entry{Dir: dst, Manifest: m}, false, nil
}

// Adopt puts into place an entry whose files and manifest were written
// into the temporary folder as they are (an entry copied from another
// store, see package storepack), where Commit would hash the files and
// write a new manifest. The entry is adopted only if its manifest parses
// (ParseManifest), has the current format (ManifestFormat), names this
// kind and key and has status ok, and the folder passes Entry.Check(true):
// every listed file is there, a regular file with its size and SHA-256,
// and no other file is. Otherwise the temporary folder is removed and the
// error says what is wrong (a *DamageError, with the temporary folder as
// Dir, for a file that does not match; both wrap ErrCorrupt). Files and
// folders are synced (unless NoSync) before the rename. An accepted entry
// already in the store is kept, never replaced: Adopt then returns it with
// kept set. A folder there that is not an acceptable entry is replaced.
func (p *Pending) Adopt() (e *Entry, kept bool, err error) {
	if p.finished {
		return nil, false, errors.New("store: entry already committed or aborted")
	}
	m, err := p.adoptable()
	if err != nil {
		_ = p.Abort()
		return nil, false, err
	}
	if !p.s.NoSync {
		if err := syncTree(p.dir, true); err != nil {
			_ = p.Abort()
			return nil, false, err
		}
	}
	return p.install(m, false)
}

// adoptable reads and checks the manifest and files of an entry to adopt.
func (p *Pending) adoptable() (*Manifest, error) {
	mp := filepath.Join(p.dir, ManifestName)
	fi, err := os.Lstat(mp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s is missing: %w", ManifestName, ErrCorrupt)
	case err != nil:
		return nil, fmt.Errorf("store: %w", err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file (%s): %w", ManifestName, fi.Mode().Type(), ErrCorrupt)
	}
	b, err := os.ReadFile(mp)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", ManifestName, err, ErrCorrupt)
	}
	switch {
	case m.Format != ManifestFormat:
		return nil, fmt.Errorf("%s: format %d, expected the current format %d: %w", ManifestName, m.Format, ManifestFormat, ErrCorrupt)
	case m.Kind != p.kind || m.Key != p.key:
		return nil, fmt.Errorf("%s names entry %s/%s, expected %s/%s: %w", ManifestName, m.Kind, m.Key, p.kind, p.key, ErrCorrupt)
	case m.Status != StatusOK:
		return nil, fmt.Errorf("%s: status %q, expected %q: %w", ManifestName, m.Status, StatusOK, ErrCorrupt)
	}
	if err := (&Entry{Dir: p.dir, Manifest: m}).Check(true); err != nil {
		return nil, err
	}
	return m, nil
}

// CleanStale removes temporary folders (and the private files of stage
// locks being taken) left by processes of this host that no longer run.
// Those of live processes and of other hosts are kept; stale stage locks
// themselves are taken over by LockStage.
func (s *Store) CleanStale() error {
	kinds, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	host := hostname()
	for _, k := range kinds {
		if !k.IsDir() || strings.HasPrefix(k.Name(), ".") {
			continue
		}
		for _, sub := range []string{".tmp", ".trash", ".lock"} {
			dir := filepath.Join(s.root, k.Name(), sub)
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				// name: <key>.<host>.<pid>.<n>
				parts := strings.Split(e.Name(), ".")
				if len(parts) < 4 || parts[len(parts)-3] != host {
					continue
				}
				pid, err := strconv.Atoi(parts[len(parts)-2])
				if err != nil || ProcessAlive(pid) {
					continue
				}
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	return nil
}

// CheckSegment rejects a kind or key that could escape the store or name
// one of its private folders (.tmp, .ckpt, .trash, .lock): it must be
// non-empty, not start with a dot and hold no slash, backslash or NUL.
// It is the one rule for the names of an entry's two folders.
func CheckSegment(s string) error {
	if s == "" || s == "." || s == ".." || strings.HasPrefix(s, ".") || strings.ContainsAny(s, "/\\\x00") {
		return fmt.Errorf("store: invalid name %q", s)
	}
	return nil
}

// CheckFilePath rejects a path of a file inside an entry (relative to the
// entry folder, with forward slashes) that is empty, absolute, not clean
// ("a//b", "a/./b", a trailing slash) or reaches outside the entry ("..").
func CheckFilePath(rel string) error {
	p := filepath.FromSlash(rel)
	if rel == "" || filepath.IsAbs(p) || !filepath.IsLocal(p) || filepath.ToSlash(filepath.Clean(p)) != rel {
		return fmt.Errorf("path %q is not a clean path inside the entry", rel)
	}
	return nil
}

// SplitPath splits a path relative to the store root, with forward
// slashes, into the kind, key and file (relative to the entry folder) it
// names: <kind>/<key>/<rel>, or <kind>/<key> (rel "") for the entry folder
// itself. Kind and key must pass CheckSegment and rel CheckFilePath, so a
// path that SplitPath accepts stays inside the entry's folder.
func SplitPath(p string) (kind, key, rel string, err error) {
	parts := strings.SplitN(p, "/", 3)
	if len(parts) < 2 {
		return "", "", "", fmt.Errorf("store: path %q is not <kind>/<key>/<file>", p)
	}
	kind, key = parts[0], parts[1]
	if err := CheckSegment(kind); err != nil {
		return "", "", "", fmt.Errorf("store: path %q: kind: %w", p, err)
	}
	if err := CheckSegment(key); err != nil {
		return "", "", "", fmt.Errorf("store: path %q: key: %w", p, err)
	}
	if len(parts) == 3 {
		rel = parts[2]
		if err := CheckFilePath(rel); err != nil {
			return "", "", "", fmt.Errorf("store: %w", err)
		}
	}
	return kind, key, rel, nil
}

// Ref names an entry of the store.
type Ref struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
}

func (r Ref) String() string { return r.Kind + "/" + r.Key }

// List returns every entry folder of the store (<kind>/<key> with names
// that pass CheckSegment), sorted by kind then key, whether or not it is
// an acceptable entry: Lookup tells.
func (s *Store) List() ([]Ref, error) {
	kinds, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var refs []Ref
	for _, k := range kinds {
		if !k.IsDir() || CheckSegment(k.Name()) != nil {
			continue
		}
		keys, err := os.ReadDir(filepath.Join(s.root, k.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		for _, e := range keys {
			if e.IsDir() && CheckSegment(e.Name()) == nil {
				refs = append(refs, Ref{Kind: k.Name(), Key: e.Name()})
			}
		}
	}
	// ReadDir sorts by name, so refs are sorted by kind, then key.
	return refs, nil
}

// Output describes one output file of an entry.
type Output struct {
	// Path is relative to the entry folder, with forward slashes.
	Path string `json:"path"`
	// Size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex digest of the file's content.
	SHA256 string `json:"sha256"`
}

// hashTree lists every regular file under dir (sorted) with its digest,
// syncing each file when sync is set. Symbolic links and other special
// files are rejected: entries must be self-contained.
func hashTree(dir string, sync bool) ([]Output, error) {
	var outs []Output
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if !d.Type().IsRegular() {
			return fmt.Errorf("output %s is not a regular file (links and special files are not allowed in store entries)", rel)
		}
		sum, size, err := hashFile(path, sync)
		if err != nil {
			return err
		}
		outs = append(outs, Output{Path: filepath.ToSlash(rel), Size: size, SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: hashing outputs: %w", err)
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].Path < outs[j].Path })
	return outs, nil
}

// HashFile returns the hex SHA-256 digest and size of a file.
func HashFile(path string) (string, int64, error) { return hashFile(path, false) }

func hashFile(path string, sync bool) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	sum, n, err := digest.Reader(f)
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return "", 0, fmt.Errorf("syncing %s: %w", path, err)
		}
	}
	return sum, n, nil
}

// Verify re-hashes every file of the entry and compares it with its
// manifest (Check with full set).
func (e *Entry) Verify() error { return e.Check(true) }

// WriteFileAtomic writes data to path with package atomicfile: durably
// when sync is set, else atomically but without fsync (state files).
func WriteFileAtomic(path string, data []byte, sync bool) error {
	if sync {
		return atomicfile.Write(path, data)
	}
	return atomicfile.WriteUnsynced(path, data)
}

func writeFile(path string, data []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("syncing %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// syncPath fsyncs one file or folder.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return nil
}

// syncTree fsyncs every folder under root, and every file too when files
// is set.
func syncTree(root string, files bool) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (files && d.Type().IsRegular()) {
			return syncPath(path)
		}
		return nil
	})
}

// Manifest describes a store entry: what produced it and what it holds.
type Manifest struct {
	// Format is ManifestFormat at the time of writing.
	Format int `json:"format"`
	// Kind and Key name the entry; KindVersion is the stage kind's version.
	Kind        string `json:"kind"`
	KindVersion string `json:"kind_version"`
	Key         string `json:"key"`
	// KeyRecipe is the version of the key recipe that computed Key.
	KeyRecipe int `json:"key_recipe"`
	// CCQVersion is the ccq version that built the entry (part of the key).
	CCQVersion string `json:"ccq_version"`
	// Stage is the name of the stage instance that built the entry (for
	// people; several stages of different experiments may share an entry).
	Stage string `json:"stage"`
	// Experiment that built the entry (informational).
	Experiment string `json:"experiment,omitempty"`
	// Params are the canonical parameters (sorted JSON).
	Params json.RawMessage `json:"params"`
	// Inputs maps input names to the entries they came from.
	Inputs map[string]InputRef `json:"inputs,omitempty"`
	// Files maps external input files to their digests (paths are informational).
	Files map[string]FileRef `json:"files,omitempty"`
	// Outputs lists every file of the entry except the manifest.
	Outputs []Output `json:"outputs"`
	// Meta holds small facts the stage recorded (for example an accuracy).
	Meta map[string]any `json:"meta,omitempty"`
	// Status is StatusOK for accepted entries.
	Status string `json:"status"`
	// Started and Finished bound the run that built the entry.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Seconds is the wall time of the run.
	Seconds float64 `json:"seconds"`
	// Host and Threads describe where it ran.
	Host    string `json:"host"`
	Threads int    `json:"threads"`
	// Resumed is true when the stage started from a checkpoint.
	Resumed bool `json:"resumed,omitempty"`
}

// InputRef names the entry an input came from.
type InputRef struct {
	Stage string `json:"stage"`
	Kind  string `json:"kind"`
	Key   string `json:"key"`
}

// FileRef is an external file that entered the key through its digest.
type FileRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// ParseManifest decodes and sanity-checks a manifest.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Format < 1 || m.Format > ManifestFormat {
		return nil, fmt.Errorf("manifest: unsupported format %d (this ccq reads up to %d)", m.Format, ManifestFormat)
	}
	if m.Kind == "" || m.Key == "" {
		return nil, errors.New("manifest: kind or key missing")
	}
	for i, o := range m.Outputs {
		if err := checkOutput(o); err != nil {
			return nil, fmt.Errorf("manifest: output %d: %w", i, err)
		}
	}
	return &m, nil
}

// checkOutput refuses an output entry without a clean relative path, a
// size or a well-formed digest.
func checkOutput(o Output) error {
	if o.Path == ManifestName {
		return fmt.Errorf("path %q is reserved for the manifest", o.Path)
	}
	if err := CheckFilePath(o.Path); err != nil {
		return err
	}
	if o.Size < 0 {
		return fmt.Errorf("%s: size %d", o.Path, o.Size)
	}
	if len(o.SHA256) != sha256.Size*2 || strings.ToLower(o.SHA256) != o.SHA256 {
		return fmt.Errorf("%s: no SHA-256 digest (got %q)", o.Path, o.SHA256)
	}
	if _, err := hex.DecodeString(o.SHA256); err != nil {
		return fmt.Errorf("%s: SHA-256 %q is not hexadecimal", o.Path, o.SHA256)
	}
	return nil
}
