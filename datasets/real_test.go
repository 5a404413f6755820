package datasets

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests use the real MNIST (through the Go module pinned in go.mod,
// which CI can always reach) and Fashion-MNIST (Debian's package; skipped
// with a message when it is not installed). The expected counts are the
// datasets' published class counts.

var (
	mnistTrainCounts = []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}
	mnistTestCounts  = []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
)

func realOptions(t *testing.T) Options {
	return Options{CacheDir: t.TempDir(), Offline: true, Logger: discardLogger()}
}

func checkLoaded(t *testing.T, d *Dataset, train, test []int, valSize int) {
	t.Helper()
	if d.C != 1 || d.H != 28 || d.W != 28 || len(d.Classes) != 10 {
		t.Fatalf("shape %dx%dx%d, %d classes", d.C, d.H, d.W, len(d.Classes))
	}
	if d.Train.N+d.Val.N != 60000 || d.Test.N != 10000 || d.Val.N != valSize {
		t.Fatalf("train %d val %d test %d", d.Train.N, d.Val.N, d.Test.N)
	}
	tr, va := d.Train.ClassCounts(10), d.Val.ClassCounts(10)
	for c := range 10 {
		if tr[c]+va[c] != train[c] {
			t.Errorf("class %d: %d train + %d val, want %d", c, tr[c], va[c], train[c])
		}
		if exact := float64(valSize) * float64(train[c]) / 60000; math.Abs(float64(va[c])-exact) >= 1 {
			t.Errorf("class %d: %d in val, exact stratified share %.1f", c, va[c], exact)
		}
	}
	if got := d.Test.ClassCounts(10); !slices.Equal(got, test) {
		t.Errorf("test counts %v, want %v", got, test)
	}
	if len(d.Train.Images) != d.Train.N*784 || len(d.Val.Images) != d.Val.N*784 || len(d.Test.Images) != 10000*784 {
		t.Error("image buffers have the wrong size")
	}
}

func TestLoadMNISTFromGoModule(t *testing.T) {
	opt := realOptions(t)
	d, err := Load(context.Background(), "mnist", opt)
	if err != nil {
		t.Fatal(err)
	}
	checkLoaded(t, d, mnistTrainCounts, mnistTestCounts, DefaultValSize)
	if !strings.HasPrefix(d.Source, "Go module "+GoMNISTModule+"@") {
		t.Errorf("source %q", d.Source)
	}
	for _, f := range d.Files {
		if f.Verified != official {
			t.Errorf("%s verified by %q", f.Name, f.Verified)
		}
	}
	// The well-known MNIST statistics (0.1307, 0.3081 over all 60,000
	// training images) hold closely for the 55,000 left after carving.
	if math.Abs(float64(d.Mean[0])-0.1307) > 0.002 || math.Abs(float64(d.Std[0])-0.3081) > 0.002 {
		t.Errorf("mean %v std %v", d.Mean, d.Std)
	}
	// The first training image normalises as the formula says.
	dst := make([]float32, 784)
	d.Normalize(&d.Train, []int{0}, dst)
	for j, v := range d.Train.Images[:784] {
		if want := (float32(v)/255 - d.Mean[0]) / d.Std[0]; math.Abs(float64(dst[j]-want)) > 1e-5 {
			t.Fatalf("pixel %d: %v, want %v", j, dst[j], want)
		}
	}

	// A second Load comes from the cache, with the same split; another
	// seed and size give another split.
	d2, err := Load(context.Background(), "mnist", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d2.Source, "cache ") || !strings.Contains(d2.Source, "fetched from Go module") {
		t.Errorf("second source %q", d2.Source)
	}
	if !slices.Equal(d.ValIndices, d2.ValIndices) || !slices.Equal(d.Val.Labels, d2.Val.Labels) {
		t.Error("same seed, different validation split")
	}
	opt.ValSize, opt.SplitSeed = 1000, 7
	d3, err := Load(context.Background(), "mnist", opt)
	if err != nil {
		t.Fatal(err)
	}
	checkLoaded(t, d3, mnistTrainCounts, mnistTestCounts, 1000)
	if d3.SplitSeed != 7 || slices.Equal(d3.ValIndices[:50], d.ValIndices[:50]) {
		t.Error("seed 7 did not change the split")
	}
	opt.ValSize = -1
	d4, err := Load(context.Background(), "mnist", opt)
	if err != nil {
		t.Fatal(err)
	}
	if d4.Val.N != 0 || d4.Train.N != 60000 || d4.ValSize != 0 {
		t.Errorf("no-validation load: val %d train %d", d4.Val.N, d4.Train.N)
	}
	opt.ValSize = 60000
	if _, err := Load(context.Background(), "mnist", opt); err == nil {
		t.Error("validation size 60000 accepted")
	}
}

func TestLoadFashionMNISTFromDebian(t *testing.T) {
	if _, err := os.Stat(FashionMNISTDebianDir); err != nil {
		t.Skipf("%s is absent (install Debian's package dataset-fashion-mnist to run this test)", FashionMNISTDebianDir)
	}
	d, err := Load(context.Background(), "fashion-mnist", realOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	six := slices.Repeat([]int{6000}, 10)
	checkLoaded(t, d, six, slices.Repeat([]int{1000}, 10), DefaultValSize)
	if d.Classes[9] != "Ankle boot" || !strings.HasPrefix(d.Source, "Debian package dataset-fashion-mnist") {
		t.Errorf("classes %v source %q", d.Classes, d.Source)
	}
}

// TestLoadCIFAR10Generated runs Fetch and Load end to end on a CIFAR-10
// dataset generated in the exact binary format (a tarball and a directory
// of batch files), with the spec's digests replaced by the generated ones.
func TestLoadCIFAR10Generated(t *testing.T) {
	const per = 40
	names, content, wantTrain, wantTest := cifarMembers(per)
	tgz := tarGz(t, names, content)
	real, _ := lookup("cifar10")
	fake := *real
	fake.name = "cifar10-generated"
	fake.nTrain, fake.nTest = 5*per, per
	tarball := layout{desc: "tarball", tar: true, files: []fileSpec{{name: "cifar-10-binary.tar.gz", digests: []digest{{sha(tgz), official}}}}}
	bins := layout{desc: "bins"}
	for _, n := range names[1:] {
		bins.files = append(bins.files, fileSpec{name: filepath.Base(n), digests: []digest{{sha(content[n]), official}}})
	}
	fake.layouts = []layout{tarball, bins}
	register(t, &fake)

	src := t.TempDir()
	writeFile(t, filepath.Join(src, "cifar-10-binary.tar.gz"), tgz)
	opt := quiet(t)
	opt.Dir = src
	opt.ValSize = 20
	d, err := Load(context.Background(), fake.name, opt)
	if err != nil {
		t.Fatal(err)
	}
	if d.C != 3 || d.Train.N != 180 || d.Val.N != 20 || d.Test.N != per || len(d.Mean) != 3 {
		t.Fatalf("train %d val %d test %d", d.Train.N, d.Val.N, d.Test.N)
	}
	for k, i := range d.ValIndices {
		if !slices.Equal(d.Val.Images[k*3072:(k+1)*3072], wantTrain.Images[i*3072:(i+1)*3072]) {
			t.Fatalf("val image %d is not training image %d", k, i)
		}
	}
	if !slices.Equal(d.Test.Images, wantTest.Images) {
		t.Error("test images differ")
	}

	// The extracted directory works too; a corrupted batch file is refused.
	dir := t.TempDir()
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n), content[n])
	}
	opt = quiet(t)
	opt.Dir = dir
	r, err := Fetch(context.Background(), fake.name, opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.layout != 1 || !strings.Contains(r.Source, "cifar-10-batches-bin") {
		t.Errorf("source %q layout %d", r.Source, r.layout)
	}
	bad := filepath.Join(dir, names[3])
	b := slices.Clone(content[names[3]])
	b[5*CIFAR10RecordSize] = 42 // a label out of range
	writeFile(t, bad, b)
	opt = quiet(t)
	opt.Dir = dir
	opt.ValSize = 20
	if _, err := Load(context.Background(), fake.name, opt); err == nil || !strings.Contains(err.Error(), bad+": SHA-256 mismatch") {
		t.Errorf("corrupted batch: %v", err)
	}
}

// BenchmarkDecodeMNIST decodes all four MNIST files (gzip) into memory, as
// Load does after locating them: 70,000 images and labels.
func BenchmarkDecodeMNIST(b *testing.B) {
	dir, _, err := goModuleSource{}.locate(context.Background(), Options{Offline: true})
	if err != nil {
		b.Skip("MNIST Go module not available:", err)
	}
	sp, _ := lookup("mnist")
	p := func(i int) string { return filepath.Join(dir, sp.layouts[0].files[i].name) }
	b.SetBytes(70000 * 785)
	for b.Loop() {
		if _, err := readIDXPair(p(0), p(1), sp, sp.nTrain); err != nil {
			b.Fatal(err)
		}
		if _, err := readIDXPair(p(2), p(3), sp, sp.nTest); err != nil {
			b.Fatal(err)
		}
	}
}
