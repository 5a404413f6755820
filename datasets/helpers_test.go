package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// idxBytes builds a raw IDX file of unsigned bytes.
func idxBytes(dims []int, data []byte) []byte {
	b := []byte{0, 0, idxTypeUbyte, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

// gz compresses b, naming the member name (as the official files do).
func gz(t testing.TB, b []byte, name string) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Name = name
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(n int, seed uint64) []byte {
	r := splitmix64{s: seed}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.next())
	}
	return b
}

// labelsFor returns n labels cycling through k classes with a skew, so
// classes have different sizes.
func labelsFor(n, k int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i * i / 3) % k)
	}
	return b
}

// cifarBatch builds a batch file in the exact CIFAR-10 binary format.
func cifarBatch(records int, seed uint64) (file, images, labels []byte) {
	px := pattern(records*CIFAR10ImageSize, seed)
	labels = labelsFor(records, cifar10Classes)
	for i := range records {
		file = append(file, labels[i])
		file = append(file, px[i*CIFAR10ImageSize:(i+1)*CIFAR10ImageSize]...)
	}
	return file, px, labels
}

// tarGz packs members (name -> content, in the given order) as a tar.gz.
func tarGz(t testing.TB, names []string, content map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(content[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(content[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tinyIDX is a small MNIST-like dataset generated for the source tests:
// 4x4 images, 3 classes, 60 training and 20 test items.
type tinyIDX struct {
	spec        *spec
	files       map[string][]byte // gzip file name -> bytes
	raw         map[string][]byte // raw file name -> bytes
	train, test Split
}

func newTinyIDX(t testing.TB, name string) *tinyIDX {
	const h, w, k, nTrain, nTest = 4, 4, 3, 60, 20
	ti := &tinyIDX{files: map[string][]byte{}, raw: map[string][]byte{}}
	ti.train = Split{Images: pattern(nTrain*h*w, 1), Labels: labelsFor(nTrain, k), N: nTrain}
	ti.test = Split{Images: pattern(nTest*h*w, 2), Labels: labelsFor(nTest, k), N: nTest}
	var files []idxFile
	add := func(base string, dims []int, data []byte) {
		raw := idxBytes(dims, data)
		g := gz(t, raw, base)
		ti.raw[base] = raw
		ti.files[base+".gz"] = g
		files = append(files, idxFile{base: base, gzSize: int64(len(g)), gzSHA256: sha(g), rawSHA256: sha(raw)})
	}
	add("train-images-idx3-ubyte", []int{nTrain, h, w}, ti.train.Images)
	add("train-labels-idx1-ubyte", []int{nTrain}, ti.train.Labels)
	add("t10k-images-idx3-ubyte", []int{nTest, h, w}, ti.test.Images)
	add("t10k-labels-idx1-ubyte", []int{nTest}, ti.test.Labels)
	ti.spec = &spec{
		name: name, c: 1, h: h, w: w, classes: []string{"a", "b", "c"},
		nTrain: nTrain, nTest: nTest, idx: true,
		layouts: idxLayouts(files),
		howto:   "install the package tiny-data, or download %s from %s into %s",
	}
	register(t, ti.spec)
	return ti
}

// writeGz writes the gzip files into dir (all, or only the named ones).
func (ti *tinyIDX) writeGz(t testing.TB, dir string, only ...string) {
	for n, b := range ti.files {
		if len(only) == 0 || slices.Contains(only, n) {
			writeFile(t, filepath.Join(dir, n), b)
		}
	}
}

// register adds a dataset spec for the duration of a test.
func register(t testing.TB, s *spec) {
	specs = append(specs, s)
	t.Cleanup(func() {
		specs = slices.DeleteFunc(specs, func(x *spec) bool { return x == s })
	})
}

// quiet returns options with no system sources, no network and a fresh
// cache directory.
func quiet(t testing.TB) Options {
	return Options{CacheDir: t.TempDir(), Offline: true, noLocal: true, Logger: discardLogger()}
}
