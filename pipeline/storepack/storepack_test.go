package storepack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline/store"
)

func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	st.NoSync = true
	return st
}

// fill commits an entry with files (path -> content) into st.
func fill(t testing.TB, st *store.Store, kind, key string, files map[string]string) *store.Entry {
	t.Helper()
	p, err := st.Begin(kind, key)
	if err != nil {
		t.Fatal(err)
	}
	for rel, content := range files {
		dst := filepath.Join(p.Dir(), filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e, err := p.Commit(&store.Manifest{Stage: kind + "/x", Params: json.RawMessage(`{"n":1}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sample fills st with three entries of two kinds and returns them.
func sample(t testing.TB, st *store.Store) []*store.Entry {
	t.Helper()
	return []*store.Entry{
		fill(t, st, "quantize", "k2", map[string]string{"model.safetensors": strings.Repeat("w", 3000), "meta/info.json": `{"a":1}`, "meta/deep/x.txt": "x"}),
		fill(t, st, "dataset", "k1", map[string]string{"train.bin": "0123456789", "test.bin": ""}),
		fill(t, st, "quantize", "k3", map[string]string{"model.safetensors": "other"}),
	}
}

func export(t testing.TB, entries []*store.Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Export(context.Background(), entries, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func importBytes(t testing.TB, st *store.Store, archive []byte) (*Summary, error) {
	t.Helper()
	return Import(context.Background(), st, bytes.NewReader(archive), "a.tar.gz")
}

// item is one item of a tar archive.
type item struct {
	h    tar.Header
	data string
}

// items reads a gzip-compressed tar archive.
func items(t testing.TB, archive []byte) []item {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []item
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, item{*h, string(b)})
	}
}

// pack writes items as a tar archive, gzip-compressed when gz is set.
// The size of each regular file is that of its data unless set.
func pack(t testing.TB, its []item, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.Writer = &b
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&b)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, it := range its {
		h := it.h
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(it.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, it.data); err != nil && !errors.Is(err, tar.ErrWriteTooLong) {
			t.Fatal(err)
		}
	}
	// Flush, not Close: a test may write a file shorter than its header says.
	if err := tw.Flush(); err != nil && !strings.Contains(err.Error(), "missed writing") {
		t.Fatal(err)
	}
	_ = tw.Close()
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func refs(rs []store.Ref) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.String())
	}
	return strings.Join(s, " ")
}

// clean fails when st holds an entry folder that is not an accepted entry
// passing a full check, or a temporary folder, or when anything was
// written next to the store's root.
func clean(t testing.TB, st *store.Store) {
	t.Helper()
	all, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		e, err := st.Lookup(r.Kind, r.Key)
		if err == nil {
			err = e.Check(true)
		}
		if err != nil {
			t.Errorf("the store holds %s: %v", r, err)
		}
	}
	kinds, _ := os.ReadDir(st.Root())
	for _, k := range kinds {
		if tmp, _ := os.ReadDir(filepath.Join(st.Root(), k.Name(), ".tmp")); len(tmp) != 0 {
			t.Errorf("temporary folders left in %s: %d", k.Name(), len(tmp))
		}
	}
	if next, _ := os.ReadDir(filepath.Dir(st.Root())); len(next) != 1 {
		t.Errorf("%d files next to the store", len(next))
	}
}

func TestRoundTrip(t *testing.T) {
	src := newStore(t)
	entries := sample(t, src)
	archive := export(t, entries)
	dst := newStore(t)
	sum, err := importBytes(t, dst, archive)
	if err != nil {
		t.Fatal(err)
	}
	if refs(sum.Imported) != "dataset/k1 quantize/k2 quantize/k3" || len(sum.Present) != 0 || len(sum.Refused) != 0 {
		t.Fatalf("summary %+v", sum)
	}
	for _, e := range entries {
		got, err := dst.Lookup(e.Manifest.Kind, e.Manifest.Key)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.Verify(); err != nil {
			t.Fatal(err)
		}
		for _, rel := range append([]string{store.ManifestName}, outputPaths(e)...) {
			a, _ := os.ReadFile(e.Path(rel))
			b, err := os.ReadFile(got.Path(rel))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s %s differs (%v)", got.Dir, rel, err)
			}
		}
	}
	clean(t, dst)

	// Again: every entry is already present and kept.
	sum, err = importBytes(t, dst, archive)
	if err != nil || len(sum.Imported) != 0 || refs(sum.Present) != "dataset/k1 quantize/k2 quantize/k3" || len(sum.Refused) != 0 {
		t.Fatalf("second import: %+v, %v", sum, err)
	}
}

func outputPaths(e *store.Entry) []string {
	var out []string
	for _, o := range e.Manifest.Outputs {
		out = append(out, o.Path)
	}
	return out
}

func TestExportIsDeterministic(t *testing.T) {
	src := newStore(t)
	entries := sample(t, src)
	a := export(t, entries)
	// Other order, a duplicate, and the files' times and modes changed.
	for _, e := range entries {
		for _, rel := range outputPaths(e) {
			if err := os.Chtimes(e.Path(rel), e.Manifest.Finished.AddDate(1, 0, 0), e.Manifest.Finished.AddDate(1, 0, 0)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(e.Path(rel), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := export(t, []*store.Entry{entries[2], entries[0], entries[1], entries[0]})
	if !bytes.Equal(a, b) {
		t.Fatal("two exports of the same entries differ")
	}
	var names []string
	for _, it := range items(t, a) {
		h := it.h
		names = append(names, h.Name)
		wantMode := int64(0o644)
		if h.Typeflag == tar.TypeDir {
			wantMode = 0o755
		}
		if h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.Mode != wantMode {
			t.Errorf("%s: mtime %v uid %d gid %d %q %q mode %o", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname, h.Mode)
		}
	}
	want := "dataset/k1/ dataset/k1/manifest.json dataset/k1/test.bin dataset/k1/train.bin " +
		"quantize/k2/ quantize/k2/manifest.json quantize/k2/meta/ quantize/k2/meta/deep/ quantize/k2/meta/deep/x.txt quantize/k2/meta/info.json quantize/k2/model.safetensors " +
		"quantize/k3/ quantize/k3/manifest.json quantize/k3/model.safetensors"
	if strings.Join(names, " ") != want {
		t.Errorf("items:\n%s\nwant\n%s", strings.Join(names, " "), want)
	}
}

// An entry whose file changed after it was checked is not exported.
func TestExportRefusesAChangedFile(t *testing.T) {
	src := newStore(t)
	e := fill(t, src, "k", "a", map[string]string{"f": "abc"})
	if err := os.WriteFile(e.Path("f"), []byte("abd"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Export(context.Background(), []*store.Entry{e}, &b); err == nil || !strings.Contains(err.Error(), "changed since it was checked") {
		t.Fatalf("export: %v", err)
	}
}

func TestGather(t *testing.T) {
	st := newStore(t)
	entries := sample(t, st)
	if err := os.WriteFile(entries[2].Path("model.safetensors"), []byte("OTHER"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := Gather(context.Background(), st, []store.Ref{{Kind: "quantize", Key: "k3"}, {Kind: "quantize", Key: "k2"}, {Kind: "quantize", Key: "nope"}, {Kind: "quantize", Key: "k2"}, {Kind: "dataset", Key: "k1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range g.Entries {
		got = append(got, e.Manifest.Kind+"/"+e.Manifest.Key)
	}
	if strings.Join(got, " ") != "dataset/k1 quantize/k2" || refs(g.Missing) != "quantize/nope" ||
		len(g.Damaged) != 1 || g.Damaged[0].Ref.String() != "quantize/k3" || !strings.Contains(g.Damaged[0].Err.Error(), "content changed") {
		t.Errorf("gathered %q, missing %v, damaged %+v", got, g.Missing, g.Damaged)
	}
}

// An entry already accepted in the store is kept, its files untouched,
// even when the archive's copy differs.
func TestImportKeepsPresentEntry(t *testing.T) {
	src := newStore(t)
	archive := export(t, sample(t, src))
	dst := newStore(t)
	mine := fill(t, dst, "quantize", "k3", map[string]string{"model.safetensors": "mine", "extra": "kept"})
	before, _ := os.ReadFile(filepath.Join(mine.Dir, store.ManifestName))
	sum, err := importBytes(t, dst, archive)
	if err != nil || refs(sum.Imported) != "dataset/k1 quantize/k2" || refs(sum.Present) != "quantize/k3" || len(sum.Refused) != 0 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	after, _ := os.ReadFile(filepath.Join(mine.Dir, store.ManifestName))
	if b, _ := os.ReadFile(mine.Path("model.safetensors")); string(b) != "mine" || !bytes.Equal(before, after) {
		t.Errorf("the present entry changed: %q", b)
	}
	if b, _ := os.ReadFile(mine.Path("extra")); string(b) != "kept" {
		t.Error("a file of the present entry is gone")
	}
	clean(t, dst)
}

// A damaged entry in the store is replaced by the archive's good copy.
func TestImportRepairsDamagedEntry(t *testing.T) {
	src := newStore(t)
	archive := export(t, sample(t, src))
	dst := newStore(t)
	if _, err := importBytes(t, dst, archive); err != nil {
		t.Fatal(err)
	}
	e, _ := dst.Lookup("quantize", "k3")
	if err := os.WriteFile(e.Path("model.safetensors"), []byte("OTHER"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := importBytes(t, dst, archive)
	if err != nil || refs(sum.Imported) != "quantize/k3" || len(sum.Present) != 2 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	clean(t, dst)
}

// edit returns the items of archive with f applied to each (f returns
// the items to put in its place).
func edit(t *testing.T, archive []byte, f func(it item) []item) []item {
	var out []item
	for _, it := range items(t, archive) {
		out = append(out, f(it)...)
	}
	return out
}

func TestImportRefuses(t *testing.T) {
	src := newStore(t)
	entries := sample(t, src)
	archive := export(t, entries)
	const victim = "quantize/k3"
	file := func(name, data string) item {
		return item{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}, data}
	}
	// replace replaces the item named name.
	replace := func(name string, with ...item) func(item) []item {
		return func(it item) []item {
			if it.h.Name == name {
				return with
			}
			return []item{it}
		}
	}
	after := func(name string, more ...item) func(item) []item {
		return func(it item) []item {
			if it.h.Name == name {
				return append([]item{it}, more...)
			}
			return []item{it}
		}
	}
	manifest := items(t, archive)[len(items(t, archive))-2]
	if manifest.h.Name != victim+"/manifest.json" {
		t.Fatalf("archive layout: %s", manifest.h.Name)
	}
	link := func(typ byte) item {
		return item{tar.Header{Typeflag: typ, Name: victim + "/model.safetensors", Linkname: "/etc/passwd", Mode: 0o644}, ""}
	}
	cases := []struct {
		name  string
		edit  func(item) []item
		entry string // the entry refused ("" for a stray item)
		want  string
	}{
		{"tampered content", replace(victim+"/model.safetensors", file(victim+"/model.safetensors", "OTHER")), victim,
			"file model.safetensors: content changed (SHA-256 "},
		{"wrong size", replace(victim+"/model.safetensors", file(victim+"/model.safetensors", "other!")), victim,
			"file model.safetensors: size 6 bytes, the manifest says 5"},
		{"missing file", replace(victim + "/model.safetensors"), victim, "file model.safetensors: missing"},
		{"unlisted file", after(victim+"/model.safetensors", file(victim+"/extra.bin", "x")), victim,
			"file extra.bin: not listed in the manifest"},
		{"manifest names another key", replace(victim+"/manifest.json", file(victim+"/manifest.json",
			strings.Replace(manifest.data, `"key": "k3"`, `"key": "k2"`, 1))), victim,
			"manifest.json names entry quantize/k2, expected quantize/k3"},
		{"manifest not ok", replace(victim+"/manifest.json", file(victim+"/manifest.json",
			strings.Replace(manifest.data, `"status": "ok"`, `"status": "failed"`, 1))), victim,
			`manifest.json: status "failed", expected "ok"`},
		{"old format", replace(victim+"/manifest.json", file(victim+"/manifest.json",
			strings.Replace(manifest.data, `"format": 1`, `"format": 0`, 1))), victim, "manifest.json: manifest: unsupported format 0"},
		{"no manifest", replace(victim + "/manifest.json"), victim, "manifest.json is missing"},
		{"file twice", after(victim+"/model.safetensors", file(victim+"/model.safetensors", "other")), victim,
			"file model.safetensors appears twice"},
		{"dot-dot", after(victim+"/model.safetensors", file("../x", "x")), "", `item "../x" refused: not in an entry folder`},
		{"absolute", after(victim+"/model.safetensors", file("/x", "x")), "", `item "/x" refused: not in an entry folder`},
		{"kind/../../x", after(victim+"/model.safetensors", file("quantize/../../x", "x")), "", `item "quantize/../../x" refused`},
		{"inside an entry, out", after(victim+"/model.safetensors", file(victim+"/../../x", "x")), victim,
			`path "../../x" is not a clean path inside the entry`},
		{"private folder", after(victim+"/model.safetensors", file("quantize/.tmp/x", "x")), "", `item "quantize/.tmp/x" refused`},
		{"symlink", replace(victim+"/model.safetensors", link(tar.TypeSymlink)), victim,
			victim + "/model.safetensors is a symbolic link; only regular files and folders are allowed"},
		{"hard link", replace(victim+"/model.safetensors", link(tar.TypeLink)), victim, "is a hard link; only regular files"},
		{"device", replace(victim+"/model.safetensors", item{tar.Header{Typeflag: tar.TypeChar, Name: victim + "/model.safetensors", Devmajor: 1, Devminor: 3}, ""}),
			victim, "is a device; only regular files"},
		{"file as entry folder", replace(victim+"/", file(victim, "x")), victim, "a file where the entry folder should be"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			its := edit(t, archive, c.edit)
			dst := newStore(t)
			sum, err := importBytes(t, dst, pack(t, its, true))
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Refused) != 1 {
				t.Fatalf("refused %+v", sum.Refused)
			}
			r := sum.Refused[0]
			if r.Archive != "a.tar.gz" || r.Entry != c.entry || !strings.Contains(r.String(), c.want) {
				t.Errorf("refusal %q, want entry %q and %q", r.String(), c.entry, c.want)
			}
			wantImported := 3
			if c.entry != "" {
				wantImported = 2
				kind, key, _ := strings.Cut(c.entry, "/")
				if _, err := dst.Lookup(kind, key); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("the refused entry is in the store: %v", err)
				}
			}
			if len(sum.Imported) != wantImported {
				t.Errorf("imported %v", sum.Imported)
			}
			clean(t, dst)
		})
	}
}

// The items of an entry must follow each other: an entry ends where the
// next begins, so one whose last file comes after another entry's is
// refused as incomplete, and its late file is left out.
func TestImportInterleaved(t *testing.T) {
	src := newStore(t)
	its := items(t, export(t, sample(t, src)))
	var last int
	for i, it := range its {
		if strings.HasPrefix(it.h.Name, "quantize/k2/") {
			last = i
		}
	}
	moved := its[last]
	its = append(append(its[:last:last], its[last+1:]...), moved)
	if !strings.HasPrefix(its[len(its)-2].h.Name, "quantize/k3/") || moved.h.Name != "quantize/k2/model.safetensors" {
		t.Fatalf("archive layout: %s after %s", moved.h.Name, its[len(its)-2].h.Name)
	}
	dst := newStore(t)
	sum, err := importBytes(t, dst, pack(t, its, true))
	if err != nil {
		t.Fatal(err)
	}
	if refs(sum.Imported) != "dataset/k1 quantize/k3" || len(sum.Refused) != 1 ||
		sum.Refused[0].String() != "archive a.tar.gz: entry quantize/k2 refused: file model.safetensors: missing" {
		t.Fatalf("summary %+v", sum)
	}
	clean(t, dst)
}

// An item of an entry that comes after another entry is refused and left
// out; the entry imported before it stays as it was.
func TestImportItemAfterItsEntry(t *testing.T) {
	src := newStore(t)
	archive := export(t, sample(t, src))
	its := append(items(t, archive), item{tar.Header{Typeflag: tar.TypeReg, Name: "dataset/k1/late.bin", Mode: 0o644}, "late"})
	dst := newStore(t)
	sum, err := importBytes(t, dst, pack(t, its, true))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Imported) != 3 || len(sum.Refused) != 1 || sum.Refused[0].Entry != "dataset/k1" ||
		!strings.Contains(sum.Refused[0].Reason, "dataset/k1/late.bin comes after items of other entries") {
		t.Fatalf("summary %+v", sum)
	}
	e, err := dst.Lookup("dataset", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.Path("late.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("late.bin was written (%v)", err)
	}
	clean(t, dst)
}

func TestImportTruncatedOrCorrupt(t *testing.T) {
	src := newStore(t)
	archive := export(t, sample(t, src))
	// Every cut is an error naming the archive, and leaves the store
	// holding only good entries: those completed before the cut.
	for n := 0; n < len(archive); n += 1 + n/40 {
		dst := newStore(t)
		sum, err := importBytes(t, dst, archive[:n])
		if err == nil || !strings.HasPrefix(err.Error(), "archive a.tar.gz: ") {
			t.Fatalf("cut at %d of %d: %v", n, len(archive), err)
		}
		if sum != nil && (len(sum.Refused) != 0 || len(sum.Imported) > 2) {
			t.Errorf("cut at %d: %+v", n, sum)
		}
		clean(t, dst)
	}
	// Without the gzip trailer (checksum and length) the tar stream is
	// whole, but the last entry is not taken on trust.
	dst := newStore(t)
	sum, err := importBytes(t, dst, archive[:len(archive)-4])
	if err == nil || !strings.Contains(err.Error(), "archive a.tar.gz: truncated or corrupt in entry quantize/k3 (not imported)") ||
		refs(sum.Imported) != "dataset/k1 quantize/k2" {
		t.Errorf("no trailer: %+v, %v", sum, err)
	}
	clean(t, dst)
	// A flipped bit of the checksum.
	bad := bytes.Clone(archive)
	bad[len(bad)-6] ^= 1
	dst = newStore(t)
	sum, err = importBytes(t, dst, bad)
	if err == nil || !strings.Contains(err.Error(), "checksum") || refs(sum.Imported) != "dataset/k1 quantize/k2" {
		t.Errorf("bad checksum: %+v, %v", sum, err)
	}
	clean(t, dst)
	// Not gzip at all.
	if _, err := importBytes(t, newStore(t), pack(t, items(t, archive), false)); err == nil ||
		!strings.Contains(err.Error(), "archive a.tar.gz: not a gzip-compressed tar archive") {
		t.Errorf("plain tar: %v", err)
	}
}

// A file over MaxFileBytes is refused from its header, before its content.
func TestImportFileTooBig(t *testing.T) {
	its := []item{
		{tar.Header{Typeflag: tar.TypeDir, Name: "k/a/", Mode: 0o755}, ""},
		{tar.Header{Typeflag: tar.TypeReg, Name: "k/a/huge", Size: MaxFileBytes + 1, Mode: 0o644}, "x"},
	}
	dst := newStore(t)
	sum, err := importBytes(t, dst, pack(t, its, true))
	if err == nil || len(sum.Refused) != 1 || !strings.Contains(sum.Refused[0].Reason, "file huge: 17179869185 bytes, more than the limit of 17179869184") {
		t.Errorf("%+v, %v", sum, err)
	}
	clean(t, dst)
}

// ustar is a raw USTAR header block (the tar writer will not write a
// sparse file's PAX records, so the test writes the bytes itself).
func ustar(name string, typ byte, size int) []byte {
	b := make([]byte, 512)
	copy(b[0:], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	b[156] = typ
	copy(b[257:], "ustar\x0000")
	copy(b[148:], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// block pads b to whole 512-byte blocks.
func block(b []byte) []byte {
	return append(b, make([]byte, (512-len(b)%512)%512)...)
}

// sparseArchive is a gzip-compressed tar holding entry k/a with one file
// f in the PAX sparse format: 1 byte of data and a hole up to 1 MB.
func sparseArchive(t testing.TB) []byte {
	var pax []byte
	for _, kv := range []string{"GNU.sparse.numblocks=1", "GNU.sparse.map=0,1", "GNU.sparse.size=1000000"} {
		n := len(kv) + 4 // a 2-digit length, " " and "\n"
		if n+1 >= 100 {
			t.Fatal("record too long")
		}
		pax = append(pax, fmt.Sprintf("%d %s\n", n, kv)...)
	}
	var raw []byte
	raw = append(raw, ustar("k/a/", tar.TypeDir, 0)...)
	raw = append(raw, ustar("PaxHeaders/f", tar.TypeXHeader, len(pax))...)
	raw = append(raw, block(pax)...)
	raw = append(raw, ustar("k/a/f", tar.TypeReg, 1)...)
	raw = append(raw, block([]byte("x"))...)
	raw = append(raw, make([]byte, 1024)...)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	// The archive is what the test means: the tar reader sees a 1 MB file.
	gz, _ := gzip.NewReader(bytes.NewReader(z.Bytes()))
	tr := tar.NewReader(gz)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	if h, err := tr.Next(); err != nil || h.Name != "k/a/f" || h.Typeflag != tar.TypeReg || h.Size != 1000000 {
		t.Fatalf("sparse archive: %+v, %v", h, err)
	}
	return z.Bytes()
}

// A sparse file (whose holes the archive does not hold) is refused.
func TestImportRefusesSparseFile(t *testing.T) {
	dst := newStore(t)
	sum, err := importBytes(t, dst, sparseArchive(t))
	if err != nil || len(sum.Refused) != 1 || sum.Refused[0].String() !=
		"archive a.tar.gz: entry k/a refused: k/a/f is a sparse file; only regular files and folders are allowed" {
		t.Fatalf("%+v, %v", sum, err)
	}
	clean(t, dst)
}

func TestImportStopsWhenCancelled(t *testing.T) {
	src := newStore(t)
	archive := export(t, sample(t, src))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := newStore(t)
	if _, err := Import(ctx, dst, bytes.NewReader(archive), "a.tar.gz"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	clean(t, dst)
}

// FuzzImport imports arbitrary bytes: input that does not start with the
// gzip magic number is gzip-compressed first, so that the fuzzer also
// reaches the tar reader and the importer's checks. Import never panics
// and the store never holds an entry that fails a full check.
func FuzzImport(f *testing.F) {
	src := newStore(f)
	archive := export(f, sample(f, src))
	its := items(f, archive)
	f.Add(archive)
	f.Add(archive[:len(archive)/2])
	f.Add(pack(f, its, false))
	tampered := append([]item(nil), its...)
	tampered[len(tampered)-1].data = "OTHER"
	f.Add(pack(f, tampered, false))
	f.Add(pack(f, []item{{tar.Header{Typeflag: tar.TypeSymlink, Name: "k/a/f", Linkname: "/etc/passwd"}, ""}}, false))
	f.Add(pack(f, []item{{tar.Header{Typeflag: tar.TypeReg, Name: "k/a/../../x", Mode: 0o644}, "x"}}, false))
	f.Add([]byte("not an archive"))
	f.Add(sparseArchive(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, _ = zw.Write(b)
			_ = zw.Close()
			b = z.Bytes()
		}
		dst := newStore(t)
		sum, _ := importBytes(t, dst, b)
		if sum == nil {
			t.Fatal("no summary")
		}
		clean(t, dst)
	})
}
