package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestReadFixture reads a file written by an independent implementation of
// the format (testdata/make_fixture.py, stdlib Python laid out as the
// reference implementation does) and checks every value.
func TestReadFixture(t *testing.T) {
	f, err := Read(filepath.Join("testdata", "fixture.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || f.Metadata["made_by"] != "testdata/make_fixture.py" {
		t.Errorf("metadata = %v", f.Metadata)
	}
	// Header order is the file's order (alignment, then name), not sorted.
	wantOrder := []string{"fc.bias", "steps", "empty", "fc.weight", "idx", "brain", "half", "levels", "mask", "pix"}
	if got := f.Names(); !slices.Equal(got, wantOrder) {
		t.Errorf("names = %v, want %v", got, wantOrder)
	}

	floats := map[string][]float32{
		"fc.weight": {1.5, -2, 0.25, math.MaxFloat32, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32},
		"fc.bias":   {0.1, float32(math.Inf(-1))}, // -1e300 overflows float32
		"half":      {1, -2, 5.960464477539063e-08, float32(math.Inf(1))},
		"brain":     {1, -3.5},
		"empty":     {},
	}
	for name, want := range floats {
		tt, ok := f.Get(name)
		if !ok {
			t.Fatalf("tensor %q missing", name)
		}
		got, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	w, _ := f.Get("fc.weight")
	if !slices.Equal(w.Shape, []int{2, 3}) || w.DType != DTypeF32 {
		t.Errorf("fc.weight = %v", w)
	}
	steps, _ := f.Get("steps")
	if len(steps.Shape) != 0 || steps.NumElements() != 1 {
		t.Errorf("steps is not a scalar: %v", steps)
	}
	if v, err := steps.Int64s(); err != nil || !slices.Equal(v, []int64{12345678901}) {
		t.Errorf("steps = %v, %v", v, err)
	}
	lv, _ := f.Get("levels")
	if v, err := lv.Int8s(); err != nil || !slices.Equal(v, []int8{-4, -1, 0, 3}) {
		t.Errorf("levels = %v, %v", v, err)
	}
	idx, _ := f.Get("idx")
	if v, err := idx.Int32s(); err != nil || !slices.Equal(v, []int32{-7, 0, 2147483647}) {
		t.Errorf("idx = %v, %v", v, err)
	}
	mask, _ := f.Get("mask")
	if v, err := mask.Int64s(); err != nil || !slices.Equal(v, []int64{1, 0, 1}) {
		t.Errorf("mask = %v, %v", v, err)
	}
	pix, _ := f.Get("pix")
	if v, err := pix.Int64s(); err != nil || !slices.Equal(v, []int64{0, 1, 127, 128, 255}) {
		t.Errorf("pix = %v, %v", v, err)
	}
}

func TestConversionErrorsNameTensor(t *testing.T) {
	lv := I8("q.levels", []int{2}, []int8{1, 2})
	if _, err := lv.Float32s(); err == nil || !strings.Contains(err.Error(), `"q.levels"`) {
		t.Errorf("Float32s on I8: %v", err)
	}
	w := F32("w", []int{1}, []float32{1})
	if _, err := w.Int8s(); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("Int8s on F32: %v", err)
	}
	if _, err := w.Int64s(); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("Int64s on F32: %v", err)
	}
	big := I64("n", []int{1}, []int64{1})
	if _, err := big.Int32s(); err == nil || !strings.Contains(err.Error(), `"n"`) {
		t.Errorf("Int32s on I64: %v", err)
	}
	bad := Tensor{Name: "short", DType: DTypeF32, Shape: []int{3}, Data: make([]byte, 8)}
	if _, err := bad.Float32s(); err == nil || !strings.Contains(err.Error(), `"short"`) {
		t.Errorf("Float32s on inconsistent tensor: %v", err)
	}
}

func sample() *File {
	return &File{
		Metadata: map[string]string{"model": "lenet5", "bits": "2", "<&>": "html chars stay"},
		Tensors: []Tensor{
			F32("conv1.weight", []int{2, 1, 2, 2}, []float32{1, 2, 3, 4, -1, -2, -3, -4}),
			I8("conv1.levels", []int{3}, []int8{-1, 0, 1}),
			I32("shape", []int{2}, []int32{28, -28}),
			I64("bn.num_batches_tracked", nil, []int64{938}),
			F64("scale", []int{1}, []float64{0.125}),
			U8("pix", []int{0}, nil),
		},
	}
}

func TestRoundTrip(t *testing.T) {
	in := sample()
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if hl := binary.LittleEndian.Uint64(b); (8+hl)%8 != 0 {
		t.Errorf("header length %d: data does not start 8-byte aligned", hl)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Metadata, in.Metadata) {
		t.Errorf("metadata %v, want %v", out.Metadata, in.Metadata)
	}
	// Written in name order.
	if got, want := out.Names(), []string{"bn.num_batches_tracked", "conv1.levels", "conv1.weight", "pix", "scale", "shape"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	for _, w := range in.Tensors {
		g, ok := out.Get(w.Name)
		if !ok {
			t.Fatalf("%s lost", w.Name)
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%s: got %v %x, want %v %x", w.Name, g, g.Data, &w, w.Data)
		}
	}
	if !bytes.Contains(b, []byte(`"<&>"`)) {
		t.Errorf("metadata key was HTML-escaped: %s", b[8:100])
	}
}

func TestEncodeDeterministic(t *testing.T) {
	a := sample()
	b := sample()
	slices.Reverse(b.Tensors)
	ea, err := Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ea, eb) {
		t.Error("the same tensors in another order encode differently")
	}
	// Re-encoding a decoded file gives the same bytes.
	d, err := Decode(ea)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ea, ed) {
		t.Error("decode+encode changed the bytes")
	}
}

func TestEncodeRejects(t *testing.T) {
	cases := map[string]struct {
		f    File
		want string
	}{
		"duplicate": {File{Tensors: []Tensor{F32("a", []int{1}, []float32{1}), F32("a", []int{1}, []float32{2})}}, `duplicate tensor name "a"`},
		"shape":     {File{Tensors: []Tensor{F32("w", []int{2, 2}, []float32{1, 2, 3})}}, `tensor "w": shape [2 2] of F32 needs 16 bytes, data has 12`},
		"dtype":     {File{Tensors: []Tensor{{Name: "x", DType: "F31", Data: []byte{1}}}}, `tensor "x": unknown dtype "F31"`},
		"empty":     {File{Tensors: []Tensor{F32("", nil, []float32{1})}}, "empty name"},
		"reserved":  {File{Tensors: []Tensor{F32("__metadata__", nil, []float32{1})}}, "reserved"},
		"negative":  {File{Tensors: []Tensor{{Name: "n", DType: DTypeU8, Shape: []int{-1}}}}, `tensor "n": shape[0] = -1`},
	}
	for name, c := range cases {
		_, err := Encode(&c.f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	// A failing write leaves the previous file and no temporary behind.
	bad := &File{Tensors: []Tensor{F32("w", []int{2}, []float32{1})}}
	if err := Write(path, bad); err == nil {
		t.Fatal("bad file written")
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(sample().Tensors) {
		t.Errorf("%d tensors after a failed overwrite", len(f.Tensors))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "x.safetensors"), sample()); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// file builds a safetensors file from a raw header and data.
func file(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestDecodeRejects(t *testing.T) {
	four := make([]byte, 4)
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"short":          {[]byte{1, 2, 3}, "expected at least 8"},
		"header too big": {file("{}", nil)[:9], "exceeds the 1 bytes after the length field"},
		"huge length":    {binary.LittleEndian.AppendUint64(nil, 1<<40), "exceeds the"},
		"not object":     {file("[1]", nil), "expected a JSON object"},
		"bad json":       {file(`{"a":`, nil), "header"},
		"trailing":       {file(`{} {}`, nil), "unexpected data after the JSON object"},
		"duplicate":      {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}), `duplicate entry "a"`},
		"no dtype":       {file(`{"a":{"shape":[1],"data_offsets":[0,1]}}`, []byte{1}), `tensor "a": missing "dtype"`},
		"no shape":       {file(`{"a":{"dtype":"U8","data_offsets":[0,1]}}`, []byte{1}), `tensor "a": missing "shape"`},
		"no offsets":     {file(`{"a":{"dtype":"U8","shape":[1]}}`, []byte{1}), `tensor "a": missing "data_offsets"`},
		"bad dtype":      {file(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), `tensor "a": unknown dtype "Q4"`},
		"neg dim":        {file(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), `tensor "a": shape[0] = -1`},
		"float dim":      {file(`{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}`, []byte{1}), `tensor "a"`},
		"3 offsets":      {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, []byte{1}), `tensor "a": data_offsets has 3 values`},
		"out of range":   {file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, []byte{1}), `tensor "a": data_offsets [0, 4]: expected 0 <= begin <= end <= 1`},
		"reversed":       {file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}`, []byte{1}), `tensor "a": data_offsets [1, 0]`},
		"size mismatch":  {file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four), `tensor "a": shape [2] of F32 needs 8 bytes, data_offsets [0, 4] give 4`},
		"overlap":        {file(`{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, four), `tensor "b": data_offsets [2, 4] overlap tensor "a"`},
		"hole":           {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, four), `tensor "b": data_offsets begin at 2: expected 1`},
		"leftover":       {file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, four), "data buffer has 4 bytes but the tensors cover only 2"},
		"metadata type":  {file(`{"__metadata__":{"a":1}}`, nil), "__metadata__: expected an object of string values"},
		"overflow":       {file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), `tensor "a": shape`},
	}
	for name, c := range cases {
		_, err := Decode(c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
	}
	// Read names the file.
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(path, []byte{1, 2, 3}, 0o644)
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Read error does not name the file: %v", err)
	}
}

func TestDecodeAcceptsPaddingAndEmpty(t *testing.T) {
	f, err := Decode(file(`{}`, nil))
	if err != nil || len(f.Tensors) != 0 {
		t.Errorf("empty file: %v %v", f, err)
	}
	f, err = Decode(file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}    `, []byte{7, 9}))
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := f.Get("a"); !bytes.Equal(a.Data, []byte{7, 9}) {
		t.Errorf("a = %v", a.Data)
	}
}

func TestFloat16(t *testing.T) {
	cases := map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0400: 6.103515625e-05,
		0x0001: 5.960464477539063e-08, 0x03ff: 6.097555160522461e-05, 0x3555: 0.333251953125,
		0x7c00: float32(math.Inf(1)), 0xfc00: float32(math.Inf(-1)),
	}
	for h, want := range cases {
		if got := Float16ToFloat32(h); got != want {
			t.Errorf("%#04x -> %v, want %v", h, got, want)
		}
	}
	if got := Float16ToFloat32(0x8000); !math.Signbit(float64(got)) || got != 0 {
		t.Errorf("-0 -> %v", got)
	}
	if got := Float16ToFloat32(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("NaN -> %v", got)
	}
	// Every finite half converts to a value that is monotone in the bits.
	prev := float32(math.Inf(-1))
	for h := uint16(0xfbff); h >= 0x8001; h-- { // negatives, from most negative
		v := Float16ToFloat32(h)
		if !(v > prev) {
			t.Fatalf("%#04x -> %v not above %v", h, v, prev)
		}
		prev = v
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes and
// decodes to the same tensors.
func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "fixture.safetensors")); err == nil {
		f.Add(b)
	}
	if b, err := Encode(sample()); err == nil {
		f.Add(b)
	}
	f.Add(file(`{}`, nil))
	f.Add(file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, []byte{1, 2, 3, 4}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			return
		}
		e, err := Encode(d)
		if err != nil {
			t.Fatalf("decoded file does not re-encode: %v", err)
		}
		d2, err := Decode(e)
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if len(d2.Tensors) != len(d.Tensors) {
			t.Fatalf("%d tensors, then %d", len(d.Tensors), len(d2.Tensors))
		}
		for _, x := range d.Tensors {
			y, ok := d2.Get(x.Name)
			if !ok || y.DType != x.DType || !slices.Equal(y.Shape, x.Shape) || !bytes.Equal(y.Data, x.Data) {
				t.Fatalf("tensor %q changed in the round trip", x.Name)
			}
			if _, err := x.Float32s(); err != nil && (x.DType == DTypeF32 || x.DType == DTypeF16 || x.DType == DTypeBF16 || x.DType == DTypeF64) {
				t.Fatalf("Float32s on a valid %s tensor: %v", x.DType, err)
			}
		}
	})
}
