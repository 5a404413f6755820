package datasets

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// The CIFAR-10 binary format: each record is one label byte (0..9) followed
// by 3072 pixel bytes, the 1024 red values, then green, then blue, each
// plane row-major: exactly the CHW order of Split. The training set is
// data_batch_1.bin .. data_batch_5.bin, the test set test_batch.bin, each of
// 10,000 records, in the directory cifar-10-batches-bin/ of the tarball.
const (
	CIFAR10ImageSize    = 3 * 32 * 32
	CIFAR10RecordSize   = 1 + CIFAR10ImageSize
	CIFAR10BatchRecords = 10000
	cifar10Classes      = 10
)

// cifar10Members lists the batch files in the order they are concatenated;
// the last is the test set.
var cifar10Members = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}

// ReadCIFAR10Batch reads exactly len(labels) records from r into labels and
// images (len(images) must be len(labels)*CIFAR10ImageSize), checking every
// label is in 0..9 and that r ends right after the last record. Errors start
// with name.
func ReadCIFAR10Batch(r io.Reader, name string, images, labels []uint8) error {
	n := len(labels)
	if len(images) != n*CIFAR10ImageSize {
		return fmt.Errorf("%s: image buffer holds %d bytes: expected %d for %d records", name, len(images), n*CIFAR10ImageSize, n)
	}
	const chunkRecords = 256
	buf := make([]byte, chunkRecords*CIFAR10RecordSize)
	what := fmt.Sprintf("%d records of %d bytes (%d bytes)", n, CIFAR10RecordSize, n*CIFAR10RecordSize)
	for done := 0; done < n; {
		k := min(chunkRecords, n-done)
		got, err := io.ReadFull(r, buf[:k*CIFAR10RecordSize])
		if err != nil {
			return fmt.Errorf("%s: truncated: expected %s, got %d bytes%s", name, what, done*CIFAR10RecordSize+got, gzipHint(err))
		}
		for j := 0; j < k; j++ {
			rec := buf[j*CIFAR10RecordSize : (j+1)*CIFAR10RecordSize]
			if rec[0] >= cifar10Classes {
				return fmt.Errorf("%s: record %d: label %d is out of range: expected 0 to %d", name, done+j, rec[0], cifar10Classes-1)
			}
			labels[done+j] = rec[0]
			copy(images[(done+j)*CIFAR10ImageSize:], rec[1:])
		}
		done += k
	}
	return expectEOF(r, name, what)
}

// readCIFAR10File reads one batch file of exactly perBatch records.
func readCIFAR10File(file string, perBatch int, images, labels []uint8) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() != int64(perBatch*CIFAR10RecordSize) {
		return fmt.Errorf("%s: file has %d bytes: expected %d (%d records of %d bytes)", file, st.Size(), perBatch*CIFAR10RecordSize, perBatch, CIFAR10RecordSize)
	}
	return ReadCIFAR10Batch(f, file, images, labels)
}

// newCIFAR10Splits allocates the official training and test sets.
func newCIFAR10Splits(perBatch int) (train, test Split) {
	nt := (len(cifar10Members) - 1) * perBatch
	train = Split{Images: make([]uint8, nt*CIFAR10ImageSize), Labels: make([]uint8, nt), N: nt}
	test = Split{Images: make([]uint8, perBatch*CIFAR10ImageSize), Labels: make([]uint8, perBatch), N: perBatch}
	return train, test
}

// memberSlices returns the image and label buffers that batch member i fills.
func memberSlices(i, perBatch int, train, test *Split) ([]uint8, []uint8) {
	if i == len(cifar10Members)-1 {
		return test.Images, test.Labels
	}
	return train.Images[i*perBatch*CIFAR10ImageSize : (i+1)*perBatch*CIFAR10ImageSize], train.Labels[i*perBatch : (i+1)*perBatch]
}

// ReadCIFAR10Dir reads the six batch files from dir: the official training
// set (50,000 images) and test set (10,000).
func ReadCIFAR10Dir(dir string) (train, test Split, err error) {
	return readCIFAR10Dir(dir, CIFAR10BatchRecords)
}

func readCIFAR10Dir(dir string, perBatch int) (train, test Split, err error) {
	train, test = newCIFAR10Splits(perBatch)
	for i, m := range cifar10Members {
		im, lb := memberSlices(i, perBatch, &train, &test)
		if err := readCIFAR10File(filepath.Join(dir, m), perBatch, im, lb); err != nil {
			return Split{}, Split{}, err
		}
	}
	return train, test, nil
}

// ReadCIFAR10Tar reads the official tarball cifar-10-binary.tar.gz (or the
// same tar uncompressed) from r: the six batch members are found by base
// name wherever they sit in the archive, other members are skipped. Each
// member must hold exactly 10,000 records; a missing or repeated member is
// an error. Errors start with name.
func ReadCIFAR10Tar(r io.Reader, name string) (train, test Split, err error) {
	return readCIFAR10Tar(r, name, CIFAR10BatchRecords)
}

func readCIFAR10Tar(r io.Reader, name string, perBatch int) (train, test Split, err error) {
	rr, closeFn, err := maybeGunzip(r, name)
	if err != nil {
		return Split{}, Split{}, err
	}
	defer closeFn()
	train, test = newCIFAR10Splits(perBatch)
	found := make([]bool, len(cifar10Members))
	tr := tar.NewReader(rr)
	want := int64(perBatch * CIFAR10RecordSize)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Split{}, Split{}, fmt.Errorf("%s: reading the tar archive: %w", name, wrapGzip(err))
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		i := memberIndex(hdr.Name)
		if i < 0 {
			continue
		}
		member := name + ": " + hdr.Name
		if found[i] {
			return Split{}, Split{}, fmt.Errorf("%s: the archive holds %s twice", member, cifar10Members[i])
		}
		found[i] = true
		if hdr.Size != want {
			return Split{}, Split{}, fmt.Errorf("%s: member has %d bytes: expected %d (%d records of %d bytes)", member, hdr.Size, want, perBatch, CIFAR10RecordSize)
		}
		im, lb := memberSlices(i, perBatch, &train, &test)
		if err := ReadCIFAR10Batch(tr, member, im, lb); err != nil {
			return Split{}, Split{}, err
		}
	}
	// Reading to the end of the tar stream does not consume the gzip trailer
	// (the tar end blocks may be followed by padding): drain it so a corrupt
	// gzip checksum is caught.
	if _, err := io.Copy(io.Discard, rr); err != nil {
		return Split{}, Split{}, fmt.Errorf("%s: %w", name, wrapGzip(err))
	}
	var missing []string
	for i, ok := range found {
		if !ok {
			missing = append(missing, cifar10Members[i])
		}
	}
	if len(missing) > 0 {
		return Split{}, Split{}, fmt.Errorf("%s: the archive lacks %s: expected all of %s", name, strings.Join(missing, ", "), strings.Join(cifar10Members, ", "))
	}
	return train, test, nil
}

// memberIndex returns the position of a tar member in cifar10Members by its
// base name, or -1.
func memberIndex(name string) int {
	base := path.Base(name)
	for i, m := range cifar10Members {
		if m == base {
			return i
		}
	}
	return -1
}
