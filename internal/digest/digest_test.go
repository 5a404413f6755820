package digest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := File(p)
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256("abc") from FIPS 180-2, appendix B.1.
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("File = %s, want %s", got, want)
	}
	if _, err := File(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: err = %v, want one naming the file", err)
	}
}

func TestReaderBytesHasherAgree(t *testing.T) {
	data := []byte("ccq digest test data")
	want := Bytes(data)
	if len(want) != 64 {
		t.Fatalf("Bytes: %q", want)
	}
	got, n, err := Reader(bytes.NewReader(data))
	if err != nil || got != want || n != int64(len(data)) {
		t.Errorf("Reader: %s %d %v, want %s", got, n, err, want)
	}
	h := NewHasher()
	h.Write(data[:5])
	h.Write(data[5:])
	if h.Hex() != want {
		t.Errorf("Hasher: %s, want %s", h.Hex(), want)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := File(path); err != nil || f != want {
		t.Errorf("File: %s %v, want %s", f, err, want)
	}
	// The SHA-256 of the empty input is well known.
	if e := Bytes(nil); e != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("Bytes(nil) = %s", e)
	}
}
