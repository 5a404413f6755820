package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func commit(t *testing.T, s *Store, kind, key, content string) *Entry {
	t.Helper()
	p, err := s.Begin(kind, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(p.Dir(), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Dir(), "sub", "out.txt"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := p.Commit(&Manifest{Params: json.RawMessage(`{}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCommitAndLookup(t *testing.T) {
	s := newStore(t)
	if _, err := s.Lookup("k", "abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	e := commit(t, s, "k", "abc", "hello")
	got, err := s.Lookup("k", "abc")
	if err != nil {
		t.Fatal(err)
	}
	if got.Dir != e.Dir || len(got.Manifest.Outputs) != 1 || got.Manifest.Outputs[0].Path != "sub/out.txt" ||
		got.Manifest.Outputs[0].SHA256 != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("entry %+v", got.Manifest)
	}
	if err := got.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(got.Path("sub/out.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(); err == nil {
		t.Fatal("Verify missed a changed file")
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.Root(), "k", ".tmp")); len(tmp) != 0 {
		t.Errorf("temporary folders left: %d", len(tmp))
	}
}

func TestUnacceptableEntries(t *testing.T) {
	s := newStore(t)
	dir := s.EntryDir("k", "nomanifest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup("k", "nomanifest"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("no manifest: %v", err)
	}
	e := commit(t, s, "k", "good", "x")
	for name, m := range map[string]string{
		"garbage":    "{",
		"otherkey":   strings.Replace(string(mustRead(t, filepath.Join(e.Dir, ManifestName))), `"key": "good"`, `"key": "other"`, 1),
		"notok":      strings.Replace(string(mustRead(t, filepath.Join(e.Dir, ManifestName))), `"status": "ok"`, `"status": "running"`, 1),
		"nextformat": strings.Replace(string(mustRead(t, filepath.Join(e.Dir, ManifestName))), `"format": 1`, `"format": 99`, 1),
	} {
		d := s.EntryDir("k", name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		m = strings.Replace(m, `"key": "good"`, `"key": "`+name+`"`, 1)
		if err := os.WriteFile(filepath.Join(d, ManifestName), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lookup("k", name); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	// A commit over a corrupt folder replaces it.
	commit(t, s, "k", "nomanifest", "y")
	if _, err := s.Lookup("k", "nomanifest"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", ".", "..", ".tmp", "a/b"} {
		if _, err := s.Lookup("k", bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("key %q: %v", bad, err)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReservedNameAndLinksRejected(t *testing.T) {
	s := newStore(t)
	p, _ := s.Begin("k", "a")
	_ = os.WriteFile(filepath.Join(p.Dir(), ManifestName), []byte("mine"), 0o644)
	if _, err := p.Commit(&Manifest{}, false); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("reserved name: %v", err)
	}
	p, _ = s.Begin("k", "b")
	_ = os.Symlink("/etc/passwd", filepath.Join(p.Dir(), "link"))
	if _, err := p.Commit(&Manifest{}, false); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("symlink: %v", err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := s.Lookup("k", k); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v", k, err)
		}
	}
}

func TestConcurrentCommitsOfOneKey(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	for i := range dirs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p, err := s.Begin("k", "same")
			if err != nil {
				t.Error(err)
				return
			}
			_ = os.WriteFile(filepath.Join(p.Dir(), "out"), []byte("same content"), 0o644)
			e, err := p.Commit(&Manifest{}, false)
			if err != nil {
				t.Error(err)
				return
			}
			dirs[i] = e.Dir
		}(i)
	}
	wg.Wait()
	for _, d := range dirs {
		if d != s.EntryDir("k", "same") {
			t.Fatalf("entry dir %s", d)
		}
	}
	if _, err := s.Lookup("k", "same"); err != nil {
		t.Fatal(err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.Root(), "k", ".tmp")); len(tmp) != 0 {
		t.Errorf("temporary folders left: %d", len(tmp))
	}
}

func TestReplaceAndCheckpointRemoval(t *testing.T) {
	s := newStore(t)
	commit(t, s, "k", "r", "old")
	ck := s.CheckpointDir("k", "r")
	_ = os.MkdirAll(ck, 0o755)
	_ = os.WriteFile(filepath.Join(ck, "state"), []byte("x"), 0o644)
	if !s.HasCheckpoint("k", "r") {
		t.Fatal("checkpoint not seen")
	}
	p, _ := s.Begin("k", "r")
	_ = os.WriteFile(filepath.Join(p.Dir(), "new.txt"), []byte("new"), 0o644)
	e, err := p.Commit(&Manifest{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Manifest.Outputs) != 1 || e.Manifest.Outputs[0].Path != "new.txt" {
		t.Fatalf("not replaced: %+v", e.Manifest.Outputs)
	}
	if s.HasCheckpoint("k", "r") {
		t.Error("checkpoint kept after commit")
	}
}

func TestCleanStale(t *testing.T) {
	s := newStore(t)
	p, _ := s.Begin("k", "live") // ours: alive
	dead := filepath.Join(s.Root(), "k", ".tmp", "x."+hostname()+".999999999.1")
	other := filepath.Join(s.Root(), "k", ".tmp", "x.otherhost.1.1")
	deadLock := filepath.Join(s.Root(), "k", ".lock", "x.break."+hostname()+".999999999.1")
	lock := filepath.Join(s.Root(), "k", ".lock", "x")
	for _, d := range []string{dead, other, deadLock, lock} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CleanStale(); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{p.Dir(): true, dead: false, other: true, deadLock: false, lock: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", d, err == nil, want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":1,"kind":"k","key":"a","status":"ok","params":{}}`))
	f.Add([]byte(`{"format":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if m.Kind == "" || m.Key == "" || m.Format < 1 {
			t.Fatalf("accepted %+v", m)
		}
	})
}

func TestCheckFindsDamage(t *testing.T) {
	s := newStore(t)
	small := strings.Repeat("s", 100)
	big := strings.Repeat("b", SmallFile)
	p, err := s.Begin("k", "e")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"small.txt": small, "big.bin": big} {
		if err := os.WriteFile(filepath.Join(p.Dir(), name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e, err := p.Commit(&Manifest{}, false)
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		t.Helper()
		for name, content := range map[string]string{"small.txt": small, "big.bin": big} {
			if err := os.WriteFile(e.Path(name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_ = os.Remove(e.Path("extra"))
		if _, err := s.Lookup("k", "e"); err != nil {
			t.Fatal(err)
		}
		if err := e.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	flip := func(name string) func() error {
		return func() error {
			b, err := os.ReadFile(e.Path(name))
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 1
			return os.WriteFile(e.Path(name), b, 0o644)
		}
	}
	for _, c := range []struct {
		name    string
		damage  func() error
		file    string
		problem string
		cheap   bool // Lookup sees it
	}{
		{"missing", func() error { return os.Remove(e.Path("small.txt")) }, "small.txt", "missing", true},
		{"shorter", func() error { return os.WriteFile(e.Path("big.bin"), []byte("b"), 0o644) }, "big.bin", "size 1 bytes, the manifest says 1048576", true},
		{"small changed", flip("small.txt"), "small.txt", "content changed", true},
		{"big changed", flip("big.bin"), "big.bin", "content changed", false},
		{"directory", func() error {
			_ = os.Remove(e.Path("small.txt"))
			return os.Mkdir(e.Path("small.txt"), 0o755)
		}, "small.txt", "not a regular file", true},
		{"added", func() error { return os.WriteFile(e.Path("extra"), nil, 0o644) }, "extra", "not listed", false},
	} {
		if err := c.damage(); err != nil {
			t.Fatal(err)
		}
		var de *DamageError
		_, err := s.Lookup("k", "e")
		if c.cheap != (err != nil) {
			t.Errorf("%s: Lookup: %v", c.name, err)
		}
		verr := e.Verify()
		if !errors.As(verr, &de) || !errors.Is(verr, ErrCorrupt) || de.File != c.file || !strings.Contains(de.Problem, c.problem) ||
			!strings.Contains(verr.Error(), c.file) {
			t.Errorf("%s: Verify: %v", c.name, verr)
		}
		if c.cheap && (err == nil || err.Error() != verr.Error()) {
			t.Errorf("%s: Lookup and Verify disagree: %v / %v", c.name, err, verr)
		}
		_ = os.RemoveAll(e.Path("small.txt"))
		restore()
	}
}

// TestManifestWithoutDigests: a manifest whose outputs lack a size or a
// digest (ccq never wrote one) is refused, so the entry is rebuilt.
func TestManifestWithoutDigests(t *testing.T) {
	s := newStore(t)
	e := commit(t, s, "k", "a", "x")
	b := mustRead(t, filepath.Join(e.Dir, ManifestName))
	for name, edit := range map[string]func(*Manifest){
		"no digest":  func(m *Manifest) { m.Outputs[0].SHA256 = "" },
		"bad digest": func(m *Manifest) { m.Outputs[0].SHA256 = strings.Repeat("z", 64) },
		"negative":   func(m *Manifest) { m.Outputs[0].Size = -1 },
		"escape":     func(m *Manifest) { m.Outputs[0].Path = "../x" },
		"manifest":   func(m *Manifest) { m.Outputs[0].Path = ManifestName },
	} {
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(&m)
		nb, _ := json.Marshal(m)
		if _, err := ParseManifest(nb); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if err := os.WriteFile(filepath.Join(e.Dir, ManifestName), nb, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lookup("k", "a"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Lookup: %v", name, err)
		}
	}
}
