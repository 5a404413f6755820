package datasets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ccq-project/ccq/internal/atomicfile"
	sha256hex "github.com/ccq-project/ccq/internal/digest"
)

// Options control where datasets come from and how they are split.
type Options struct {
	Dir       string // explicit directory holding the files (tried first)
	CacheDir  string // "" = $CCQ_DATA, else $XDG_CACHE_HOME/ccq, else ~/.cache/ccq
	ValSize   int    // default 5000 when 0; negative = no validation split
	SplitSeed uint64 // default 1 when 0
	Offline   bool   // never use the network
	Logger    *slog.Logger
	// Mirrors, when set, replace the official download base URLs (each is
	// a URL prefix the file names are appended to).
	Mirrors []string
	// HTTPClient is used for downloads; nil means a client with connect and
	// response-header timeouts.
	HTTPClient *http.Client

	// noLocal skips the system copies (Go module, Debian package): tests use
	// it to exercise the other sources.
	noLocal bool
	// localOverride replaces the system copies (tests).
	localOverride []localSource
}

// DefaultValSize is the size of the validation split when Options.ValSize is 0.
const DefaultValSize = 5000

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// CacheRoot returns the cache directory that Options select: CacheDir, else
// $CCQ_DATA, else $XDG_CACHE_HOME/ccq, else ~/.cache/ccq. Each dataset lives
// in a subdirectory named after it.
func CacheRoot(opt Options) (string, error) {
	if opt.CacheDir != "" {
		return opt.CacheDir, nil
	}
	if v := os.Getenv("CCQ_DATA"); v != "" {
		return v, nil
	}
	if v := os.Getenv("XDG_CACHE_HOME"); v != "" {
		return filepath.Join(v, "ccq"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("datasets: no cache directory: pass --data-dir or set CCQ_DATA or XDG_CACHE_HOME")
	}
	return filepath.Join(home, ".cache", "ccq"), nil
}

// Attempt is one source tried by Fetch and what came of it.
type Attempt struct {
	Source  string `json:"source"`
	Outcome string `json:"outcome"`
}

// FetchResult says where a dataset's files are and where they came from.
type FetchResult struct {
	Name string `json:"name"`
	// Dir is the cache directory that now holds the files.
	Dir string `json:"dir"`
	// Source is the source used this time ("cache ..." when the files were
	// already there).
	Source string `json:"source"`
	// Origin is where cached files first came from, when it was recorded.
	Origin   string     `json:"origin,omitempty"`
	Files    []FileInfo `json:"files"`
	Attempts []Attempt  `json:"attempts"`

	layout int // index into spec.layouts
}

// originFile records in a dataset's cache directory where its files came
// from (informational only: digests are always checked against the code).
const originFile = "origin.json"

// Fetch makes sure the files of dataset name are in the cache, trying the
// sources in order: Options.Dir, the cache, the local system copy (MNIST:
// the Go module, Fashion-MNIST: the Debian package) and the official URLs.
// Every attempt is logged and reported. A file whose SHA-256 is not the
// expected one is refused (and left as it is); a directory holding only
// some of the files, or an unwritable cache, is an error. When no source
// works the error says what to do.
func Fetch(ctx context.Context, name string, opt Options) (FetchResult, error) {
	sp, err := lookup(name)
	if err != nil {
		return FetchResult{}, err
	}
	root, err := CacheRoot(opt)
	if err != nil {
		return FetchResult{}, err
	}
	f := &fetcher{ctx: ctx, sp: sp, opt: opt, log: opt.logger(), dst: filepath.Join(root, sp.name)}
	f.res.Name = sp.name
	f.res.Dir = f.dst
	err = f.run()
	if err != nil {
		return f.res, fmt.Errorf("datasets: %s: %w", sp.name, err)
	}
	return f.res, nil
}

type fetcher struct {
	ctx context.Context
	sp  *spec
	opt Options
	log *slog.Logger
	dst string
	res FetchResult
}

// note records an attempt.
func (f *fetcher) note(source, outcome string) {
	f.res.Attempts = append(f.res.Attempts, Attempt{source, outcome})
	f.log.Info("dataset source", "dataset", f.sp.name, "source", source, "outcome", outcome)
}

// hardError marks errors that stop Fetch rather than moving on to the next
// source (bad files, partial explicit directories, an unwritable cache).
type hardError struct{ err error }

func (e hardError) Error() string { return e.err.Error() }
func (e hardError) Unwrap() error { return e.err }

func (f *fetcher) run() error {
	if f.opt.Dir != "" {
		if done, err := f.tryDir("directory", f.opt.Dir, true); err != nil || done {
			return err
		}
	}
	if done, err := f.tryCache(); err != nil || done {
		return err
	}
	locals := f.sp.local
	if f.opt.localOverride != nil {
		locals = f.opt.localOverride
	}
	if !f.opt.noLocal {
		for _, ls := range locals {
			if err := f.ctx.Err(); err != nil {
				return err
			}
			dir, label, err := ls.locate(f.ctx, f.opt)
			if err != nil {
				f.note(label, "not available: "+err.Error())
				continue
			}
			if done, err := f.tryDir(label, dir, false); err != nil || done {
				return err
			}
		}
	}
	mirrors := f.mirrors()
	if f.opt.Offline {
		f.note("download", "skipped (offline)")
	} else {
		for _, base := range mirrors {
			if err := f.ctx.Err(); err != nil {
				return err
			}
			done, err := f.tryDownload(base)
			var he hardError
			if errors.As(err, &he) {
				return err
			}
			if err != nil {
				f.note("download "+base, "failed: "+err.Error())
				continue
			}
			if done {
				return nil
			}
		}
	}
	var tried []string
	for _, a := range f.res.Attempts {
		tried = append(tried, a.Source+": "+a.Outcome)
	}
	return fmt.Errorf("no source has the files (tried %s); to fix: %s", strings.Join(tried, "; "), f.sp.advice(mirrors, f.dst))
}

func (f *fetcher) mirrors() []string {
	if len(f.opt.Mirrors) > 0 {
		return f.opt.Mirrors
	}
	return f.sp.mirrors
}

// scan reports which layout dir holds: the first complete one, else the one
// with the most files present. A file is missing only when it does not
// exist; one that exists but is not a regular file, or cannot be looked at
// (permissions, a file where a directory should be), is a problem, and the
// first one is returned when no layout is complete.
func (f *fetcher) scan(dir string) (li int, present, missing []string, complete bool, problem error) {
	best := -1
	for i, l := range f.sp.layouts {
		var p, m []string
		for _, fs := range l.files {
			path := filepath.Join(dir, fs.name)
			st, err := os.Stat(path)
			switch {
			case err == nil && st.Mode().IsRegular():
				p = append(p, fs.name)
				continue
			case err == nil:
				err = fmt.Errorf("%s is not a regular file (mode %s)", path, st.Mode().Type())
			case errors.Is(err, iofs.ErrNotExist):
				err = nil
			}
			if err != nil && problem == nil {
				problem = err
			}
			m = append(m, fs.name)
		}
		if len(m) == 0 {
			return i, p, nil, true, nil
		}
		if best < 0 || len(p) > len(present) {
			best, present, missing = i, p, m
		}
	}
	return best, present, missing, false, problem
}

// candidates lists the directories under dir that may hold the files.
func (f *fetcher) candidates(dir string) []string {
	c := []string{dir, filepath.Join(dir, f.sp.name)}
	for _, s := range f.sp.subdirs {
		c = append(c, filepath.Join(dir, s))
	}
	return c
}

// tryDir looks for a complete layout in dir (or its usual subdirectories)
// and imports it into the cache. With strict, a directory holding only some
// of the files is an error; otherwise it is noted and skipped.
func (f *fetcher) tryDir(label, dir string, strict bool) (bool, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if strict {
			return false, hardError{fmt.Errorf("directory %s: %w", dir, notDirErr(err))}
		}
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			f.note(sourceName(label, dir), "not found")
		case err != nil:
			f.note(sourceName(label, dir), "unreadable: "+err.Error())
		default:
			f.note(sourceName(label, dir), "unreadable: "+dir+" is not a directory")
		}
		return false, nil
	}
	var partial string
	var problem error
	for _, d := range f.candidates(dir) {
		li, present, missing, complete, p := f.scan(d)
		if complete {
			if err := f.importDir(sourceName(label, d), d, li); err != nil {
				return false, hardError{err}
			}
			return true, nil
		}
		if len(present) > 0 && partial == "" {
			partial = fmt.Sprintf("%s holds %s but not %s (expected %s)", d, strings.Join(present, ", "), strings.Join(missing, ", "), f.sp.layouts[li].desc)
		}
		if problem == nil {
			problem = p
		}
	}
	if problem != nil {
		if strict {
			return false, hardError{fmt.Errorf("directory %s: %w", dir, problem)}
		}
		f.note(sourceName(label, dir), "unreadable: "+problem.Error())
		return false, nil
	}
	if partial != "" {
		if strict {
			return false, hardError{fmt.Errorf("directory %s", partial)}
		}
		f.note(sourceName(label, dir), "incomplete: "+partial)
		return false, nil
	}
	if strict {
		return false, hardError{fmt.Errorf("directory %s holds none of the files: expected %s", dir, f.expected())}
	}
	f.note(sourceName(label, dir), "not found")
	return false, nil
}

// sourceName names a directory source: "directory D" or "LABEL (D)".
func sourceName(label, dir string) string {
	if label == "directory" {
		return label + " " + dir
	}
	return label + " (" + dir + ")"
}

func notDirErr(err error) error {
	if err == nil {
		return errors.New("not a directory")
	}
	return err
}

// expected describes the layouts in words.
func (f *fetcher) expected() string {
	var ds []string
	for _, l := range f.sp.layouts {
		var n []string
		for _, fs := range l.files {
			n = append(n, fs.name)
		}
		ds = append(ds, strings.Join(n, ", "))
	}
	return strings.Join(ds, " or ")
}

// importDir verifies the files of layout li in src and copies them into the
// cache (skipping files the cache already holds identically).
func (f *fetcher) importDir(source, src string, li int) error {
	infos := make([]FileInfo, 0, len(f.sp.layouts[li].files))
	for _, fs := range f.sp.layouts[li].files {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		path := filepath.Join(src, fs.name)
		info, err := verifyFile(path, fs)
		if err != nil {
			return err
		}
		if filepath.Clean(src) != filepath.Clean(f.dst) {
			if err := f.copyIn(path, fs.name, info.SHA256); err != nil {
				return err
			}
		}
		infos = append(infos, info)
	}
	f.res.Source, f.res.Files, f.res.layout = source, infos, li
	f.note(source, "used")
	f.writeOrigin(source)
	return nil
}

// tryCache uses the cache when it holds a complete layout.
func (f *fetcher) tryCache() (bool, error) {
	source := "cache " + f.dst
	li, present, missing, complete, problem := f.scan(f.dst)
	if problem != nil {
		return false, hardError{fmt.Errorf("cache %s cannot be read: %w; the cache was not used or changed: fix or remove it, or pass --data-dir or set CCQ_DATA to another directory", f.dst, problem)}
	}
	if !complete {
		if len(present) > 0 {
			f.note(source, fmt.Sprintf("incomplete: has %s, missing %s", strings.Join(present, ", "), strings.Join(missing, ", ")))
		} else {
			f.note(source, "not found")
		}
		return false, nil
	}
	infos := make([]FileInfo, 0, len(f.sp.layouts[li].files))
	for _, fs := range f.sp.layouts[li].files {
		info, err := verifyFile(filepath.Join(f.dst, fs.name), fs)
		if err != nil {
			return false, hardError{err}
		}
		infos = append(infos, info)
	}
	f.res.Source, f.res.Files, f.res.layout = source, infos, li
	if b, err := os.ReadFile(filepath.Join(f.dst, originFile)); err == nil {
		var o struct {
			Source string `json:"source"`
		}
		if json.Unmarshal(b, &o) == nil {
			f.res.Origin = o.Source
		}
	}
	f.note(source, "used")
	return true, nil
}

// cacheError explains an unwritable cache.
func (f *fetcher) cacheError(err error) error {
	return hardError{fmt.Errorf("cache directory %s is not writable (%v): pass --data-dir or set CCQ_DATA to a writable directory", f.dst, err)}
}

// tempIn starts writing name in the cache directory (package atomicfile:
// commit puts it in place, discard drops it).
func (f *fetcher) tempIn(name string) (*atomicfile.File, error) {
	if err := os.MkdirAll(f.dst, 0o755); err != nil {
		return nil, f.cacheError(err)
	}
	tmp, err := atomicfile.Create(filepath.Join(f.dst, name), atomicfile.Options{})
	if err != nil {
		return nil, f.cacheError(err)
	}
	return tmp, nil
}

// copyIn copies src into the cache as name, unless the cache already holds
// a file with the same digest; the copy must have digest sum.
func (f *fetcher) copyIn(src, name, sum string) error {
	dst := filepath.Join(f.dst, name)
	if got, _, err := hashFile(dst); err == nil && got == sum {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := f.tempIn(name)
	if err != nil {
		return err
	}
	h := sha256hex.NewHasher()
	if _, err := io.Copy(io.MultiWriter(tmp, h), readerCtx{f.ctx, in}); err != nil {
		return f.discard(tmp, fmt.Errorf("copying %s into the cache: %w", src, err))
	}
	if got := h.Hex(); got != sum {
		return f.discard(tmp, fmt.Errorf("%s changed while it was copied (SHA-256 %s, then %s)", src, sum, got))
	}
	return f.commit(tmp)
}

// discard drops a file being written and returns err.
func (f *fetcher) discard(tmp *atomicfile.File, err error) error {
	tmp.Abort()
	return err
}

// commit puts a file being written in place (mode 0644: a cache may be
// shared).
func (f *fetcher) commit(tmp *atomicfile.File) error {
	if err := tmp.Commit(); err != nil {
		return f.cacheError(err)
	}
	return nil
}

// writeOrigin records where the cached files came from (best effort).
func (f *fetcher) writeOrigin(source string) {
	b, _ := json.MarshalIndent(map[string]string{"source": source, "fetched": time.Now().UTC().Format(time.RFC3339)}, "", "  ")
	tmp, err := f.tempIn(originFile)
	if err != nil {
		return
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		f.discard(tmp, err)
		return
	}
	if err := f.commit(tmp); err != nil {
		f.log.Warn("could not record the dataset's origin", "err", err)
	}
}

// tryDownload fetches the downloadable layout's missing files from base.
func (f *fetcher) tryDownload(base string) (bool, error) {
	l := f.sp.layouts[0]
	infos := make([]FileInfo, 0, len(l.files))
	for _, fs := range l.files {
		dst := filepath.Join(f.dst, fs.name)
		if _, err := os.Stat(dst); err == nil {
			info, err := verifyFile(dst, fs)
			if err != nil {
				return false, hardError{err}
			}
			infos = append(infos, info)
			continue
		}
		info, err := f.download(base, fs)
		if err != nil {
			return false, err
		}
		infos = append(infos, info)
	}
	source := "download " + base
	f.res.Source, f.res.Files, f.res.layout = source, infos, 0
	f.note(source, "used")
	f.writeOrigin(source)
	return true, nil
}

func (f *fetcher) client() *http.Client {
	if f.opt.HTTPClient != nil {
		return f.opt.HTTPClient
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}}
}

// download fetches base+fs.name into the cache under a temporary name,
// verifies it and renames it into place.
func (f *fetcher) download(base string, fs fileSpec) (FileInfo, error) {
	url := base + fs.name
	if !strings.HasSuffix(base, "/") {
		url = base + "/" + fs.name
	}
	f.log.Info("downloading", "url", url)
	start := time.Now()
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, url, nil)
	if err != nil {
		return FileInfo{}, err
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return FileInfo{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return FileInfo{}, fmt.Errorf("%s: HTTP status %s", url, resp.Status)
	}
	if fs.size > 0 && resp.ContentLength >= 0 && resp.ContentLength != fs.size {
		return FileInfo{}, fmt.Errorf("%s: server announces %d bytes: expected %d", url, resp.ContentLength, fs.size)
	}
	tmp, err := f.tempIn(fs.name)
	if err != nil {
		return FileInfo{}, err
	}
	n, err := io.Copy(tmp, resp.Body)
	if err != nil {
		return FileInfo{}, f.discard(tmp, fmt.Errorf("%s: download interrupted after %d bytes: %w", url, n, err))
	}
	info, err := verifyFile(tmp.Name(), fs)
	if err != nil {
		return FileInfo{}, f.discard(tmp, fmt.Errorf("%s: downloaded file refused (not kept): %w", url, err))
	}
	info.Name = fs.name
	if err := f.commit(tmp); err != nil {
		return FileInfo{}, err
	}
	f.log.Info("downloaded", "url", url, "bytes", n, "seconds", time.Since(start).Seconds())
	return info, nil
}

// readerCtx stops a copy when the context is cancelled.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// ---------------------------------------------------------------- verification

// hashFile returns the SHA-256 (hex) and size of a file.
func hashFile(path string) (string, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	sum, n, err := sha256hex.Reader(fh)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	return sum, n, nil
}

// verifyFile checks a file against its spec: its SHA-256 must be one of the
// accepted digests or, for a gzip file, its uncompressed content's SHA-256
// must be the official content digest. The file is never modified.
func verifyFile(path string, fs fileSpec) (FileInfo, error) {
	sum, size, err := hashFile(path)
	if err != nil {
		return FileInfo{}, err
	}
	info := FileInfo{Name: fs.name, Size: size, SHA256: sum}
	for _, d := range fs.digests {
		if d.hex == sum {
			info.Verified = d.what
			return info, nil
		}
	}
	detail := ""
	if fs.content != "" {
		csum, err := contentDigest(path)
		if err == nil && csum == fs.content {
			info.Verified = "uncompressed content matches the official content digest " + fs.content
			return info, nil
		}
		if err != nil {
			detail = fmt.Sprintf("; its content could not be read: %v", err)
		} else {
			detail = fmt.Sprintf("; uncompressed content has SHA-256 %s, expected %s", csum, fs.content)
		}
	}
	return FileInfo{}, fmt.Errorf("%s: SHA-256 mismatch: expected %s (%s), got %s%s; the file was not used or changed: delete or replace it",
		path, fs.digests[0].hex, fs.digests[0].what, sum, detail)
}

// contentDigest returns the SHA-256 of a gzip file's uncompressed content.
func contentDigest(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	r, closeFn, err := maybeGunzip(fh, path)
	if err != nil {
		return "", err
	}
	defer closeFn()
	sum, _, err := sha256hex.Reader(r)
	if err != nil {
		return "", wrapGzip(err)
	}
	return sum, nil
}

// ---------------------------------------------------------------- local sources

// localSource is a copy of a dataset that may exist on this machine.
type localSource interface {
	// locate returns the directory holding the files and a label for it.
	locate(ctx context.Context, opt Options) (dir, label string, err error)
}

// dirSource is a fixed directory (e.g. installed by a system package).
type dirSource struct{ label, dir string }

func (s dirSource) locate(context.Context, Options) (string, string, error) {
	return s.dir, s.label, nil
}

// goModuleSource is the data/ directory of the Go module GoMNIST.
type goModuleSource struct{}

func (goModuleSource) locate(ctx context.Context, opt Options) (string, string, error) {
	ver := goMNISTVersion()
	label := "Go module " + GoMNISTModule + "@" + ver
	if mc := goModCache(); mc != "" {
		d := filepath.Join(mc, escapeModulePath(GoMNISTModule)+"@"+ver, "data")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, label, nil
		}
	}
	dir, err := goModDownload(ctx, GoMNISTModule, ver, opt.Offline)
	if err != nil {
		return "", label, err
	}
	return filepath.Join(dir, "data"), label, nil
}

// goModDownload runs `go mod download -json module@version` (with the module
// proxy disabled when offline) and returns the module's directory.
func goModDownload(ctx context.Context, module, version string, offline bool) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the go command is not on PATH")
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	if offline {
		cmd.Env = append(cmd.Env, "GOPROXY=off")
	}
	out, runErr := cmd.Output()
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Error != "" || m.Dir == "" {
		msg := m.Error
		if msg == "" && runErr != nil {
			msg = runErr.Error()
			var ee *exec.ExitError
			if errors.As(runErr, &ee) && len(ee.Stderr) > 0 {
				msg = strings.TrimSpace(string(ee.Stderr))
			}
		}
		if msg == "" {
			msg = "no module directory reported"
		}
		return "", fmt.Errorf("go mod download: %s", msg)
	}
	return m.Dir, nil
}

// goMNISTVersion is the GoMNIST version in the build's module graph when it
// is there, else the version pinned in go.mod.
func goMNISTVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == GoMNISTModule {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Version
			}
		}
	}
	return goMNISTPinned
}

// goModCache returns the module cache directory as the go command would.
func goModCache() string {
	if v := os.Getenv("GOMODCACHE"); v != "" {
		return v
	}
	if v := os.Getenv("GOPATH"); v != "" {
		return filepath.Join(filepath.SplitList(v)[0], "pkg", "mod")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go", "pkg", "mod")
	}
	return ""
}

// escapeModulePath applies the module cache's case encoding: each upper-case
// letter becomes '!' and its lower-case form.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
