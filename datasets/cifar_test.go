package datasets

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadCIFAR10BatchFullSize decodes a batch file of the official size
// (10,000 records, 30,730,000 bytes) generated in the exact binary format.
func TestReadCIFAR10BatchFullSize(t *testing.T) {
	file, images, labels := cifarBatch(CIFAR10BatchRecords, 3)
	if len(file) != 30730000 {
		t.Fatalf("generated batch has %d bytes", len(file))
	}
	gotIm := make([]uint8, len(images))
	gotLb := make([]uint8, len(labels))
	if err := ReadCIFAR10Batch(bytes.NewReader(file), "data_batch_1.bin", gotIm, gotLb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotIm, images) || !bytes.Equal(gotLb, labels) {
		t.Fatal("decoded batch differs from what was written")
	}
	// Record 1234's red plane starts right after its label byte.
	r := 1234
	if gotIm[r*CIFAR10ImageSize] != file[r*CIFAR10RecordSize+1] || gotIm[r*CIFAR10ImageSize+2048] != file[r*CIFAR10RecordSize+1+2048] {
		t.Error("channel planes are not kept in CHW order")
	}
}

func TestReadCIFAR10BatchRejects(t *testing.T) {
	file, _, _ := cifarBatch(4, 1)
	badLabel := bytes.Clone(file)
	badLabel[2*CIFAR10RecordSize] = 10
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"truncated": {file[:len(file)-1], "truncated: expected 4 records of 3073 bytes (12292 bytes), got 12291 bytes"},
		"empty":     {nil, "truncated: expected 4 records of 3073 bytes (12292 bytes), got 0 bytes"},
		"trailing":  {append(bytes.Clone(file), 1, 2, 3), "3 bytes of trailing data: expected the file to end after 4 records"},
		"label":     {badLabel, "record 2: label 10 is out of range: expected 0 to 9"},
	}
	for name, c := range cases {
		err := ReadCIFAR10Batch(bytes.NewReader(c.b), "b.bin", make([]uint8, 4*CIFAR10ImageSize), make([]uint8, 4))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "b.bin: ") {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
	if err := ReadCIFAR10Batch(bytes.NewReader(file), "b.bin", make([]uint8, 5), make([]uint8, 4)); err == nil {
		t.Error("short image buffer accepted")
	}
}

// cifarMembers generates six small batches (perBatch records each).
func cifarMembers(perBatch int) (names []string, content map[string][]byte, train, test Split) {
	content = map[string][]byte{}
	train, test = newCIFAR10Splits(perBatch)
	for i, m := range cifar10Members {
		file, im, lb := cifarBatch(perBatch, uint64(10+i))
		content["cifar-10-batches-bin/"+m] = file
		names = append(names, "cifar-10-batches-bin/"+m)
		dIm, dLb := memberSlices(i, perBatch, &train, &test)
		copy(dIm, im)
		copy(dLb, lb)
	}
	content["cifar-10-batches-bin/batches.meta.txt"] = []byte("airplane\nautomobile\n")
	names = append([]string{"cifar-10-batches-bin/batches.meta.txt"}, names...)
	return names, content, train, test
}

func TestReadCIFAR10Tar(t *testing.T) {
	const per = 7
	names, content, wantTrain, wantTest := cifarMembers(per)
	// Members in any order, other members skipped.
	shuffled := append([]string{names[0]}, names[3], names[6], names[1], names[2], names[5], names[4])
	tgz := tarGz(t, shuffled, content)
	train, test, err := readCIFAR10Tar(bytes.NewReader(tgz), "c.tar.gz", per)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 5*per || test.N != per || !bytes.Equal(train.Images, wantTrain.Images) || !bytes.Equal(train.Labels, wantTrain.Labels) ||
		!bytes.Equal(test.Images, wantTest.Images) || !bytes.Equal(test.Labels, wantTest.Labels) {
		t.Error("decoded tarball differs from its members")
	}

	// The same from a directory of loose files.
	dir := t.TempDir()
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n), content[n])
	}
	train2, test2, err := readCIFAR10Dir(filepath.Join(dir, "cifar-10-batches-bin"), per)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(train2.Images, wantTrain.Images) || !bytes.Equal(test2.Labels, wantTest.Labels) {
		t.Error("decoded directory differs from its files")
	}
}

func TestReadCIFAR10TarRejects(t *testing.T) {
	const per = 3
	names, content, _, _ := cifarMembers(per)
	good := tarGz(t, names, content)

	missing := tarGz(t, names[:len(names)-1], content)
	dup := tarGz(t, append(names, names[2]), content)
	short := map[string][]byte{}
	for k, v := range content {
		short[k] = v
	}
	short[names[3]] = content[names[3]][:2*CIFAR10RecordSize]
	wrongSize := tarGz(t, names, short)
	badLabel := map[string][]byte{}
	for k, v := range content {
		badLabel[k] = v
	}
	bl := bytes.Clone(content[names[4]])
	bl[CIFAR10RecordSize] = 200
	badLabel[names[4]] = bl
	labelTar := tarGz(t, names, badLabel)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-5] ^= 0x55 // gzip trailer: checksum/length

	cases := map[string]struct {
		b    []byte
		want string
	}{
		"missing member":  {missing, "the archive lacks test_batch.bin"},
		"duplicate":       {dup, "holds data_batch_2.bin twice"},
		"member size":     {wrongSize, fmt.Sprintf("cifar-10-batches-bin/data_batch_3.bin: member has %d bytes: expected %d", 2*CIFAR10RecordSize, per*CIFAR10RecordSize)},
		"label":           {labelTar, "data_batch_4.bin: record 1: label 200 is out of range"},
		"truncated":       {good[:len(good)/2], "c.tar.gz"},
		"corrupt trailer": {flipped, "corrupt gzip stream"},
		"not a tar":       {gz(t, []byte("hello, this is not a tar archive at all"), "x"), "c.tar.gz"},
	}
	for name, c := range cases {
		_, _, err := readCIFAR10Tar(bytes.NewReader(c.b), "c.tar.gz", per)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "c.tar.gz") {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}

	// A directory missing a file, and a truncated file.
	dir := t.TempDir()
	for _, n := range names[:len(names)-1] {
		writeFile(t, filepath.Join(dir, n), content[n])
	}
	bin := filepath.Join(dir, "cifar-10-batches-bin")
	if _, _, err := readCIFAR10Dir(bin, per); err == nil || !strings.Contains(err.Error(), "test_batch.bin") {
		t.Errorf("missing file: %v", err)
	}
	writeFile(t, filepath.Join(bin, "test_batch.bin"), content[names[6]][:100])
	if _, _, err := readCIFAR10Dir(bin, per); err == nil || !strings.Contains(err.Error(), "test_batch.bin: file has 100 bytes: expected 9219") {
		t.Errorf("truncated file: %v", err)
	}
}

// FuzzReadCIFAR10Batch: the batch reader never panics and accepts exactly
// well-formed input.
func FuzzReadCIFAR10Batch(f *testing.F) {
	file, _, _ := cifarBatch(2, 5)
	f.Add(file)
	f.Add(file[:100])
	f.Add(append(bytes.Clone(file), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, lb := make([]uint8, 2*CIFAR10ImageSize), make([]uint8, 2)
		err := ReadCIFAR10Batch(bytes.NewReader(b), "fuzz", im, lb)
		valid := len(b) == 2*CIFAR10RecordSize && b[0] < 10 && b[CIFAR10RecordSize] < 10
		if (err == nil) != valid {
			t.Fatalf("valid=%v but err=%v", valid, err)
		}
		if err == nil && (lb[1] != b[CIFAR10RecordSize] || im[CIFAR10ImageSize] != b[CIFAR10RecordSize+1]) {
			t.Fatal("second record decoded wrongly")
		}
	})
}

// FuzzReadCIFAR10Tar: the tarball reader never panics on any input.
func FuzzReadCIFAR10Tar(f *testing.F) {
	names, content, _, _ := cifarMembers(1)
	f.Add(tarGz(f, names, content))
	f.Add(tarGz(f, names[:3], content))
	f.Fuzz(func(t *testing.T, b []byte) {
		train, test, err := readCIFAR10Tar(bytes.NewReader(b), "fuzz", 1)
		if err == nil && (train.N != 5 || test.N != 1) {
			t.Fatalf("accepted with %d/%d items", train.N, test.N)
		}
	})
}
