// Package safetensors reads and writes the safetensors file format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON header
//
//	{"__metadata__": {"key": "value", ...},
//	 "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//
// and then the byte buffer that the offsets index (relative to its start).
// Tensor data is little-endian and row-major.
//
// Decoding validates everything a file can get wrong (header length against
// the file size, the JSON, unknown dtypes, offsets that are out of range,
// overlapping or leave holes, shapes whose byte size disagrees with the
// offsets, duplicate names) and reports the tensor and what was expected.
// Encoding is deterministic: metadata keys and tensors sorted by name, the
// header padded with spaces to a multiple of 8 bytes as the reference
// implementation does.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ccq-project/ccq/internal/atomicfile"
)

// DType is a safetensors element type, spelled as in the file header.
type DType string

// The element types of the safetensors format.
const (
	DTypeBOOL   DType = "BOOL"
	DTypeU8     DType = "U8"
	DTypeI8     DType = "I8"
	DTypeF8E5M2 DType = "F8_E5M2"
	DTypeF8E4M3 DType = "F8_E4M3"
	DTypeI16    DType = "I16"
	DTypeU16    DType = "U16"
	DTypeF16    DType = "F16"
	DTypeBF16   DType = "BF16"
	DTypeI32    DType = "I32"
	DTypeU32    DType = "U32"
	DTypeF32    DType = "F32"
	DTypeF64    DType = "F64"
	DTypeI64    DType = "I64"
	DTypeU64    DType = "U64"
)

// Size returns the number of bytes of one element of type d, or 0 when d is
// not a known type.
func (d DType) Size() int {
	switch d {
	case DTypeBOOL, DTypeU8, DTypeI8, DTypeF8E5M2, DTypeF8E4M3:
		return 1
	case DTypeI16, DTypeU16, DTypeF16, DTypeBF16:
		return 2
	case DTypeI32, DTypeU32, DTypeF32:
		return 4
	case DTypeF64, DTypeI64, DTypeU64:
		return 8
	}
	return 0
}

// MaxHeaderSize bounds the JSON header (the reference implementation uses
// the same 100 MB limit), so a corrupt length cannot make Decode allocate
// without bound.
const MaxHeaderSize = 100 << 20

// Tensor is one named array: its element type, its shape (empty for a
// scalar) and its raw little-endian bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is the content of a safetensors file: free-form string metadata and
// the tensors in header order (names unique).
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
}

// Get returns the tensor called name.
func (f *File) Get(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// Names returns the tensor names in file order.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	return names
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n, _ := numElements(t.Shape)
	return n
}

// numElements multiplies dims, refusing negative dims and overflow.
func numElements(shape []int) (int, error) {
	n := 1
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape[%d] = %d: expected a dimension >= 0", i, d)
		}
		if d != 0 && n > math.MaxInt64/8/d {
			return 0, fmt.Errorf("shape %v: element count overflows", shape)
		}
		n *= d
	}
	return n, nil
}

// check validates the tensor's name, dtype and shape against its data length.
func (t *Tensor) check() error {
	if t.Name == "" {
		return errors.New("tensor with an empty name")
	}
	if t.Name == "__metadata__" {
		return errors.New(`tensor name "__metadata__" is reserved for the metadata`)
	}
	size := t.DType.Size()
	if size == 0 {
		return fmt.Errorf("tensor %q: unknown dtype %q (expected one of %s)", t.Name, string(t.DType), dtypeList())
	}
	n, err := numElements(t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if n*size != len(t.Data) {
		return fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data has %d", t.Name, t.Shape, t.DType, n*size, len(t.Data))
	}
	return nil
}

func dtypeList() string {
	return "BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64"
}

// ---------------------------------------------------------------- decoding

// Read reads and decodes the safetensors file at path.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// headerEntry is one tensor's entry in the JSON header.
type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int   `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// Decode parses a whole safetensors file held in b. The tensors' Data slices
// alias b.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: file has %d bytes: expected at least 8 (the header length)", len(b))
	}
	hlen := binary.LittleEndian.Uint64(b[:8])
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit", hlen, MaxHeaderSize)
	}
	if hlen > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes after the length field", hlen, len(b)-8)
	}
	header := b[8 : 8+hlen]
	buf := b[8+hlen:]
	if len(header) == 0 || header[0] != '{' {
		return nil, errors.New("safetensors: header: expected a JSON object starting with '{'")
	}

	f := &File{}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening '{'
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	seen := map[string]bool{}
	var spans []span
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("safetensors: header: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("safetensors: header: expected a tensor name, got %v", tok)
		}
		if name == "" {
			return nil, errors.New("safetensors: header: tensor with an empty name")
		}
		if seen[name] {
			return nil, fmt.Errorf("safetensors: header: duplicate entry %q", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			var md map[string]string
			if err := dec.Decode(&md); err != nil {
				return nil, fmt.Errorf("safetensors: header: __metadata__: expected an object of string values: %w", err)
			}
			f.Metadata = md
			continue
		}
		var e headerEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("safetensors: header: tensor %q: expected {\"dtype\", \"shape\", \"data_offsets\"}: %w", name, err)
		}
		t, sp, err := e.tensor(name, buf)
		if err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
		f.Tensors = append(f.Tensors, t)
		spans = append(spans, sp)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	// Only padding may follow the object.
	trailing := header[dec.InputOffset():]
	if len(bytes.TrimRight(trailing, " \t\r\n")) != 0 {
		return nil, fmt.Errorf("safetensors: header: unexpected data after the JSON object: %q", clip(trailing))
	}
	if err := checkLayout(spans, len(buf)); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// tensor validates one header entry against the byte buffer.
func (e headerEntry) tensor(name string, buf []byte) (Tensor, span, error) {
	switch {
	case e.DType == nil:
		return Tensor{}, span{}, fmt.Errorf("tensor %q: missing \"dtype\"", name)
	case e.Shape == nil:
		return Tensor{}, span{}, fmt.Errorf("tensor %q: missing \"shape\"", name)
	case e.DataOffsets == nil:
		return Tensor{}, span{}, fmt.Errorf("tensor %q: missing \"data_offsets\"", name)
	}
	dt := DType(*e.DType)
	size := dt.Size()
	if size == 0 {
		return Tensor{}, span{}, fmt.Errorf("tensor %q: unknown dtype %q (expected one of %s)", name, *e.DType, dtypeList())
	}
	n, err := numElements(*e.Shape)
	if err != nil {
		return Tensor{}, span{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	offs := *e.DataOffsets
	if len(offs) != 2 {
		return Tensor{}, span{}, fmt.Errorf("tensor %q: data_offsets has %d values: expected [begin, end]", name, len(offs))
	}
	begin, end := offs[0], offs[1]
	if begin < 0 || end < begin || end > int64(len(buf)) {
		return Tensor{}, span{}, fmt.Errorf("tensor %q: data_offsets [%d, %d]: expected 0 <= begin <= end <= %d (the data size)", name, begin, end, len(buf))
	}
	if want := int64(n) * int64(size); end-begin != want {
		return Tensor{}, span{}, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d, %d] give %d", name, *e.Shape, dt, want, begin, end, end-begin)
	}
	t := Tensor{Name: name, DType: dt, Shape: *e.Shape, Data: buf[begin:end:end]}
	return t, span{int(begin), int(end), name}, nil
}

// span is the byte range of one tensor in the data buffer.
type span struct {
	begin, end int
	name       string
}

// checkLayout checks that the tensors tile the byte buffer exactly: no
// overlap, no hole, nothing left over.
func checkLayout(spans []span, size int) error {
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	pos, prev := 0, ""
	for _, s := range spans {
		switch {
		case s.begin < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q (which ends at %d)", s.name, s.begin, s.end, prev, pos)
		case s.begin > pos:
			return fmt.Errorf("tensor %q: data_offsets begin at %d: expected %d (bytes %d..%d belong to no tensor)", s.name, s.begin, pos, pos, s.begin)
		}
		pos, prev = s.end, s.name
	}
	if pos != size {
		return fmt.Errorf("data buffer has %d bytes but the tensors cover only %d", size, pos)
	}
	return nil
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// ---------------------------------------------------------------- encoding

// Encode serialises f: metadata keys and tensors sorted by name, header
// padded with spaces to a multiple of 8 bytes, tensors' data laid out in
// name order.
func Encode(f *File) ([]byte, error) {
	ts := make([]*Tensor, len(f.Tensors))
	for i := range f.Tensors {
		ts[i] = &f.Tensors[i]
		if err := ts[i].check(); err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	for i := 1; i < len(ts); i++ {
		if ts[i].Name == ts[i-1].Name {
			return nil, fmt.Errorf("safetensors: duplicate tensor name %q", ts[i].Name)
		}
	}

	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	if len(f.Metadata) > 0 {
		comma()
		h.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, f.Metadata[k])
		}
		h.WriteByte('}')
	}
	off := 0
	for _, t := range ts {
		comma()
		writeJSONString(&h, t.Name)
		h.WriteString(`:{"dtype":`)
		writeJSONString(&h, string(t.DType))
		h.WriteString(`,"shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		h.WriteString(`],"data_offsets":[`)
		h.WriteString(strconv.Itoa(off))
		h.WriteByte(',')
		off += len(t.Data)
		h.WriteString(strconv.Itoa(off))
		h.WriteString("]}")
	}
	h.WriteByte('}')
	for (8+h.Len())%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header of %d bytes exceeds the %d-byte limit", h.Len(), MaxHeaderSize)
	}

	out := make([]byte, 8, 8+h.Len()+off)
	binary.LittleEndian.PutUint64(out, uint64(h.Len()))
	out = append(out, h.Bytes()...)
	for _, t := range ts {
		out = append(out, t.Data...)
	}
	return out, nil
}

// writeJSONString writes s as a JSON string without HTML escaping.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // drop Encode's newline
}

// Write encodes f and writes it to path atomically: a temporary file in the
// same directory, fsync, then rename.
func Write(path string, f *File) error {
	b, err := Encode(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) error {
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------- constructors

// F32 makes an F32 tensor holding v (row-major) with the given shape.
func F32(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: DTypeF32, Shape: slices.Clone(shape), Data: b}
}

// F64 makes an F64 tensor holding v.
func F64(name string, shape []int, v []float64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return Tensor{Name: name, DType: DTypeF64, Shape: slices.Clone(shape), Data: b}
}

// I8 makes an I8 tensor holding v.
func I8(name string, shape []int, v []int8) Tensor {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return Tensor{Name: name, DType: DTypeI8, Shape: slices.Clone(shape), Data: b}
}

// U8 makes a U8 tensor holding v.
func U8(name string, shape []int, v []uint8) Tensor {
	return Tensor{Name: name, DType: DTypeU8, Shape: slices.Clone(shape), Data: slices.Clone(v)}
}

// I32 makes an I32 tensor holding v.
func I32(name string, shape []int, v []int32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return Tensor{Name: name, DType: DTypeI32, Shape: slices.Clone(shape), Data: b}
}

// I64 makes an I64 tensor holding v.
func I64(name string, shape []int, v []int64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: DTypeI64, Shape: slices.Clone(shape), Data: b}
}

// ---------------------------------------------------------------- conversions

// Float32s returns the elements as float32, converting F32, F64, F16 and
// BF16; any other dtype is an error naming the tensor.
func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	b := t.Data
	switch t.DType {
	case DTypeF32:
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v, nil
	case DTypeF64:
		v := make([]float32, len(b)/8)
		for i := range v {
			v[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return v, nil
	case DTypeF16:
		v := make([]float32, len(b)/2)
		for i := range v {
			v[i] = Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return v, nil
	case DTypeBF16:
		v := make([]float32, len(b)/2)
		for i := range v {
			v[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return v, nil
	}
	return nil, fmt.Errorf("safetensors: tensor %q has dtype %s: expected F32, F64, F16 or BF16", t.Name, t.DType)
}

// Int8s returns the elements of an I8 tensor; any other dtype is an error
// naming the tensor.
func (t *Tensor) Int8s() ([]int8, error) {
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if t.DType != DTypeI8 {
		return nil, fmt.Errorf("safetensors: tensor %q has dtype %s: expected I8", t.Name, t.DType)
	}
	v := make([]int8, len(t.Data))
	for i, x := range t.Data {
		v[i] = int8(x)
	}
	return v, nil
}

// Int32s returns the elements as int32, widening I8, U8, I16, U16 and
// reading I32; other dtypes are an error naming the tensor.
func (t *Tensor) Int32s() ([]int32, error) {
	v64, err := t.ints(DTypeI32)
	if err != nil {
		return nil, err
	}
	v := make([]int32, len(v64))
	for i, x := range v64 {
		v[i] = int32(x)
	}
	return v, nil
}

// Int64s returns the elements as int64, widening I8, U8, BOOL, I16, U16,
// I32, U32 and reading I64; other dtypes (U64 included) are an error naming
// the tensor.
func (t *Tensor) Int64s() ([]int64, error) {
	return t.ints(DTypeI64)
}

// ints converts integer tensors up to the width of limit (I32 or I64).
func (t *Tensor) ints(limit DType) ([]int64, error) {
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	b := t.Data
	n := t.NumElements()
	v := make([]int64, n)
	switch t.DType {
	case DTypeI8:
		for i := range v {
			v[i] = int64(int8(b[i]))
		}
	case DTypeU8, DTypeBOOL:
		for i := range v {
			v[i] = int64(b[i])
		}
	case DTypeI16:
		for i := range v {
			v[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case DTypeU16:
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case DTypeI32:
		for i := range v {
			v[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case DTypeU32:
		if limit == DTypeI32 {
			return nil, fmt.Errorf("safetensors: tensor %q has dtype U32: expected a signed integer type of at most 32 bits", t.Name)
		}
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case DTypeI64:
		if limit == DTypeI32 {
			return nil, fmt.Errorf("safetensors: tensor %q has dtype I64: expected an integer type of at most 32 bits", t.Name)
		}
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	default:
		return nil, fmt.Errorf("safetensors: tensor %q has dtype %s: expected an integer type (%s)", t.Name, t.DType, intList(limit))
	}
	return v, nil
}

func intList(limit DType) string {
	if limit == DTypeI32 {
		return "I8, U8, BOOL, I16, U16, I32"
	}
	return "I8, U8, BOOL, I16, U16, I32, U32, I64"
}

// Float16ToFloat32 converts an IEEE 754 half-precision value (as its bits)
// to float32 exactly, including subnormals, infinities and NaN.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// String describes the tensor briefly, e.g. `conv1.weight F32 [6 1 5 5]`.
func (t *Tensor) String() string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = strconv.Itoa(d)
	}
	return fmt.Sprintf("%s %s [%s]", t.Name, t.DType, strings.Join(dims, " "))
}
