package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyEntry writes the files of entry e (manifest included) into a fresh
// temporary folder of store dst, as an importer does, and returns it.
func copyEntry(t *testing.T, dst *Store, e *Entry) *Pending {
	t.Helper()
	p, err := dst.Begin(e.Manifest.Kind, e.Manifest.Key)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(e.Dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.Dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(p.Dir(), rel), 0o755)
		}
		return os.WriteFile(filepath.Join(p.Dir(), rel), mustRead(t, path), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// noTemporaries fails when a temporary folder of kind is left in s.
func noTemporaries(t *testing.T, s *Store, kind string) {
	t.Helper()
	if tmp, _ := os.ReadDir(filepath.Join(s.Root(), kind, ".tmp")); len(tmp) != 0 {
		t.Errorf("temporary folders left: %d", len(tmp))
	}
}

func TestAdoptKeepsTheManifest(t *testing.T) {
	src := newStore(t)
	e := commit(t, src, "k", "abc", "hello")
	dst := newStore(t)
	p := copyEntry(t, dst, e)
	got, kept, err := p.Adopt()
	if err != nil || kept {
		t.Fatalf("Adopt: kept %v, %v", kept, err)
	}
	if got.Dir != dst.EntryDir("k", "abc") {
		t.Errorf("entry at %s", got.Dir)
	}
	l, err := dst.Lookup("k", "abc")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	// The manifest is the source's, byte for byte (not rewritten).
	if a, b := mustRead(t, filepath.Join(e.Dir, ManifestName)), mustRead(t, filepath.Join(l.Dir, ManifestName)); string(a) != string(b) {
		t.Errorf("manifest changed:\n%s\n%s", a, b)
	}
	noTemporaries(t, dst, "k")

	// An accepted entry already there is kept, files untouched.
	p = copyEntry(t, dst, e)
	if err := os.WriteFile(filepath.Join(p.Dir(), "sub", "out.txt"), []byte("HELLO"), 0o644); err != nil {
		t.Fatal(err)
	}
	// (the copy is damaged, so it is refused before the store is looked at)
	if _, _, err := p.Adopt(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged copy: %v", err)
	}
	p = copyEntry(t, dst, e)
	before := mustRead(t, l.Path("sub/out.txt"))
	fi0, _ := os.Stat(l.Path("sub/out.txt"))
	got, kept, err = p.Adopt()
	if err != nil || !kept || got.Dir != l.Dir {
		t.Fatalf("second Adopt: %+v kept %v, %v", got, kept, err)
	}
	fi1, _ := os.Stat(l.Path("sub/out.txt"))
	if string(mustRead(t, l.Path("sub/out.txt"))) != string(before) || !os.SameFile(fi0, fi1) {
		t.Error("the entry already present was replaced")
	}
	noTemporaries(t, dst, "k")

	// A damaged entry in the store is replaced by a good copy.
	if err := os.WriteFile(l.Path("sub/out.txt"), []byte("HELLO"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := copyEntry(t, dst, e).Adopt(); err != nil {
		t.Fatal(err)
	}
	if string(mustRead(t, l.Path("sub/out.txt"))) != "hello" {
		t.Error("damaged entry not replaced")
	}
}

func TestAdoptRefuses(t *testing.T) {
	src := newStore(t)
	e := commit(t, src, "k", "abc", "hello")
	manifest := string(mustRead(t, filepath.Join(e.Dir, ManifestName)))
	write := func(rel, content string) func(string) error {
		return func(dir string) error { return os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644) }
	}
	editManifest := func(old, new string) func(string) error {
		return write(ManifestName, strings.Replace(manifest, old, new, 1))
	}
	for _, c := range []struct {
		name   string
		edit   func(dir string) error
		want   string
		damage string // file of the *DamageError, if one
	}{
		{"no manifest", func(dir string) error { return os.Remove(filepath.Join(dir, ManifestName)) }, "manifest.json is missing", ""},
		{"garbage manifest", write(ManifestName, "{"), "manifest.json: manifest:", ""},
		{"other key", editManifest(`"key": "abc"`, `"key": "abd"`), "manifest.json names entry k/abd, expected k/abc", ""},
		{"other kind", editManifest(`"kind": "k"`, `"kind": "j"`), "manifest.json names entry j/abc, expected k/abc", ""},
		{"not ok", editManifest(`"status": "ok"`, `"status": "running"`), `status "running", expected "ok"`, ""},
		{"changed content", write("sub/out.txt", "hellO"), "content changed", "sub/out.txt"},
		{"wrong size", write("sub/out.txt", "hello!"), "size 6 bytes, the manifest says 5", "sub/out.txt"},
		{"missing file", func(dir string) error { return os.Remove(filepath.Join(dir, "sub", "out.txt")) }, "missing", "sub/out.txt"},
		{"unlisted file", write("sub/extra", "x"), "not listed in the manifest", "sub/extra"},
		{"symlink", func(dir string) error {
			p := filepath.Join(dir, "sub", "out.txt")
			if err := os.Rename(p, p+".real"); err != nil {
				return err
			}
			return os.Symlink("out.txt.real", p)
		}, "not a regular file", "sub/out.txt"},
	} {
		dst := newStore(t)
		p := copyEntry(t, dst, e)
		if err := c.edit(p.Dir()); err != nil {
			t.Fatal(err)
		}
		_, _, err := p.Adopt()
		var de *DamageError
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) ||
			(c.damage != "") != errors.As(err, &de) || (de != nil && de.File != c.damage) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if _, err := dst.Lookup("k", "abc"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: the store holds the entry (%v)", c.name, err)
		}
		noTemporaries(t, dst, "k")
		if _, err := os.Stat(p.Dir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s left", c.name, p.Dir())
		}
	}
}

func TestSplitPath(t *testing.T) {
	for p, want := range map[string][3]string{
		"k/abc":               {"k", "abc", ""},
		"k/abc/manifest.json": {"k", "abc", "manifest.json"},
		"k/abc/sub/x.bin":     {"k", "abc", "sub/x.bin"},
	} {
		kind, key, rel, err := SplitPath(p)
		if err != nil || [3]string{kind, key, rel} != want {
			t.Errorf("%q: %q %q %q, %v", p, kind, key, rel, err)
		}
	}
	for _, p := range []string{"", "k", "/k/abc/x", "../k/abc", "k/../x", "k/abc/../../x", "k/abc/../x", "k/abc/", "k/abc//x",
		"k/abc/./x", "k/abc/x/", ".tmp/abc/x", "k/.tmp/x", "k/.ckpt/x/y", `k\x/abc/y`, "k/ab\x00c/y"} {
		if kind, key, rel, err := SplitPath(p); err == nil {
			t.Errorf("%q accepted as %q %q %q", p, kind, key, rel)
		}
	}
}

func TestList(t *testing.T) {
	s := newStore(t)
	commit(t, s, "b", "x", "1")
	commit(t, s, "a", "z", "2")
	commit(t, s, "a", "y", "3")
	if _, err := s.Begin("a", "w"); err != nil { // a temporary folder is no entry
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), "a", "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	refs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.String())
	}
	if strings.Join(got, " ") != "a/y a/z b/x" {
		t.Errorf("List: %q", got)
	}
}
