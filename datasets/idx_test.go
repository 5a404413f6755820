package datasets

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestReadIDX(t *testing.T) {
	data := pattern(5*3*2, 7)
	raw := idxBytes([]int{5, 3, 2}, data)
	for name, b := range map[string][]byte{"raw": raw, "gzip": gz(t, raw, "x")} {
		a, err := ReadIDX(bytes.NewReader(b), name, IDXSpec{Dims: []int{0, 3, 2}, MaxCount: 10})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(a.Data, data) || len(a.Dims) != 3 || a.Dims[0] != 5 {
			t.Errorf("%s: got dims %v", name, a.Dims)
		}
	}
	labels := []byte{0, 1, 2, 1}
	got, err := ReadIDXLabels(bytes.NewReader(idxBytes([]int{4}, labels)), "l", 4, 3, 4)
	if err != nil || !bytes.Equal(got, labels) {
		t.Errorf("labels %v, %v", got, err)
	}
	pix, n, err := ReadIDXImages(bytes.NewReader(gz(t, raw, "x")), "i", 5, 3, 2, 5)
	if err != nil || n != 5 || !bytes.Equal(pix, data) {
		t.Errorf("images n=%d, %v", n, err)
	}
}

func TestReadIDXRejects(t *testing.T) {
	good := idxBytes([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	goodGz := gz(t, good, "f")
	corrupt := bytes.Clone(goodGz)
	corrupt[len(corrupt)-6] ^= 0xff // inside the CRC-32 trailer
	badDeflate := bytes.Clone(goodGz)
	badDeflate[12] = 0xff // inside the deflate stream (a 10-byte header + name "f\x00")
	spec := IDXSpec{Dims: []int{2, 2, 2}}
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"empty":           {nil, "truncated: expected a 4-byte IDX magic number, got 0 bytes"},
		"bad magic":       {append([]byte{1, 0}, good[2:]...), "bad magic number 0x01"},
		"bad type":        {append([]byte{0, 0, 0x0d}, good[3:]...), "IDX element type 0x0d: expected 0x08"},
		"bad ndims":       {idxBytes([]int{2, 4}, make([]byte, 8)), "IDX file has 2 dimensions: expected 3 (2x2x2)"},
		"bad dims":        {idxBytes([]int{2, 2, 3}, make([]byte, 12)), "dimensions 2x2x3: expected 2x2x2"},
		"bad count":       {idxBytes([]int{3, 2, 2}, make([]byte, 12)), "dimensions 3: expected 2x2x2"},
		"short header":    {good[:9], "truncated header: expected 12 bytes of dimensions, got 5"},
		"truncated":       {good[:len(good)-3], "truncated: expected 8 data bytes for dimensions 2x2x2, got 5"},
		"trailing":        {append(bytes.Clone(good), 9, 9), "2 bytes of trailing data"},
		"gzip truncated":  {goodGz[:len(goodGz)-12], "truncated"},
		"gzip checksum":   {corrupt, "corrupt gzip stream"},
		"gzip deflate":    {badDeflate, "corrupt gzip stream"},
		"gzip bad header": {append([]byte{0x1f, 0x8b, 0}, goodGz[3:]...), "corrupt gzip stream"},
	}
	for name, c := range cases {
		_, err := ReadIDX(bytes.NewReader(c.b), "dir/file-"+name, spec)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "dir/file-"+name+": ") {
			t.Errorf("%s: error %v, want it to start with the file name and contain %q", name, err, c.want)
		}
	}
	// Any count up to MaxCount, not beyond.
	_, err := ReadIDX(bytes.NewReader(idxBytes([]int{20}, make([]byte, 20))), "f", IDXSpec{Dims: []int{0}, MaxCount: 10})
	if err == nil || !strings.Contains(err.Error(), "20 items: expected 1 to 10") {
		t.Errorf("count above MaxCount: %v", err)
	}
	_, err = ReadIDXLabels(bytes.NewReader(idxBytes([]int{3}, []byte{0, 1, 10})), "labels.idx", 3, 10, 3)
	if err == nil || !strings.Contains(err.Error(), "labels.idx: label 10 of item 2 is out of range: expected 0 to 9") {
		t.Errorf("label out of range: %v", err)
	}
}

// FuzzReadIDX: the IDX reader never panics and, when it accepts input,
// returns data of exactly the announced dimensions.
func FuzzReadIDX(f *testing.F) {
	good := idxBytes([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(good)
	f.Add(gz(f, good, "f"))
	f.Add(idxBytes([]int{3}, []byte{0, 1, 2}))
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, spec := range []IDXSpec{{Dims: []int{0, 2, 2}, MaxCount: 64}, {Dims: []int{0}, MaxCount: 64}} {
			a, err := ReadIDX(bytes.NewReader(b), "fuzz", spec)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz: ") {
					t.Fatalf("error does not name the file: %v", err)
				}
				continue
			}
			n := 1
			for _, d := range a.Dims {
				n *= d
			}
			if len(a.Data) != n || a.Dims[0] < 1 || a.Dims[0] > 64 {
				t.Fatalf("dims %v with %d bytes", a.Dims, len(a.Data))
			}
		}
	})
}
