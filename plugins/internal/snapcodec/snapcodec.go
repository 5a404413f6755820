// Package snapcodec is a small binary encoder and decoder for optimizer
// snapshots and host checkpoints: little-endian fixed-width numbers and
// length-prefixed slices. The decoder never panics on bad input: it records
// the first fault (naming the field being read) and returns zero values
// after it, so a caller checks Err once at the end.
package snapcodec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Encoder appends values to a byte slice.
type Encoder struct {
	buf []byte
}

// NewEncoder returns an encoder whose output starts with magic.
func NewEncoder(magic string) *Encoder {
	return &Encoder{buf: append([]byte(nil), magic...)}
}

// Bytes returns the encoded bytes.
func (e *Encoder) Bytes() []byte { return e.buf }

// U64 appends an unsigned 64-bit integer.
func (e *Encoder) U64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

// I64 appends a signed 64-bit integer.
func (e *Encoder) I64(v int64) { e.U64(uint64(v)) }

// Int appends an int as 64 bits.
func (e *Encoder) Int(v int) { e.U64(uint64(int64(v))) }

// F64 appends a float64 bit-exactly.
func (e *Encoder) F64(v float64) { e.U64(math.Float64bits(v)) }

// Bool appends a bool as one byte.
func (e *Encoder) Bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

// Raw appends a length-prefixed byte slice.
func (e *Encoder) Raw(b []byte) {
	e.U64(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// String appends a length-prefixed string.
func (e *Encoder) String(s string) {
	e.U64(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// I8s appends a length-prefixed []int8.
func (e *Encoder) I8s(v []int8) {
	e.U64(uint64(len(v)))
	for _, x := range v {
		e.buf = append(e.buf, byte(x))
	}
}

// Bools appends a length-prefixed []bool.
func (e *Encoder) Bools(v []bool) {
	e.U64(uint64(len(v)))
	for _, x := range v {
		e.Bool(x)
	}
}

// I32s appends a length-prefixed []int32.
func (e *Encoder) I32s(v []int32) {
	e.U64(uint64(len(v)))
	for _, x := range v {
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(x))
	}
}

// F64s appends a length-prefixed []float64.
func (e *Encoder) F64s(v []float64) {
	e.U64(uint64(len(v)))
	for _, x := range v {
		e.F64(x)
	}
}

// Decoder reads what an Encoder wrote.
type Decoder struct {
	buf  []byte
	pos  int
	what string
	err  error
}

// NewDecoder checks the magic prefix and returns a decoder positioned after it.
func NewDecoder(b []byte, magic string) *Decoder {
	d := &Decoder{buf: b}
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		d.err = fmt.Errorf("not a %q record (bad magic bytes)", magic)
		return d
	}
	d.pos = len(magic)
	return d
}

// Err returns the first decoding fault, if any.
func (d *Decoder) Err() error { return d.err }

// Field names the field about to be read, for error messages.
func (d *Decoder) Field(name string) *Decoder {
	d.what = name
	return d
}

// Fail records a fault found by the caller (for example an inconsistent
// length), unless one is already recorded.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("field %q: %s", d.what, fmt.Sprintf(format, args...))
	}
}

// Done fails if bytes are left over.
func (d *Decoder) Done() error {
	if d.err == nil && d.pos != len(d.buf) {
		d.err = fmt.Errorf("%d unexpected bytes after the last field", len(d.buf)-d.pos)
	}
	return d.err
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.pos {
		d.err = fmt.Errorf("field %q: truncated (need %d bytes at offset %d, have %d)", d.what, n, d.pos, len(d.buf)-d.pos)
		return nil
	}
	b := d.buf[d.pos : d.pos+n]
	d.pos += n
	return b
}

// U64 reads an unsigned 64-bit integer.
func (d *Decoder) U64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// I64 reads a signed 64-bit integer.
func (d *Decoder) I64() int64 { return int64(d.U64()) }

// Int reads an int written by Encoder.Int.
func (d *Decoder) Int() int { return int(d.I64()) }

// F64 reads a float64.
func (d *Decoder) F64() float64 { return math.Float64frombits(d.U64()) }

// Bool reads a bool.
func (d *Decoder) Bool() bool {
	b := d.take(1)
	if b == nil {
		return false
	}
	switch b[0] {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("bool byte %d, expected 0 or 1", b[0])
	return false
}

// length reads a slice length and checks that elemSize*length bytes remain.
func (d *Decoder) length(elemSize int) int {
	v := d.U64()
	if d.err != nil {
		return 0
	}
	rem := uint64(len(d.buf) - d.pos)
	if v > rem/uint64(elemSize) {
		d.Fail("length %d exceeds the %d bytes left", v, rem)
		return 0
	}
	return int(v)
}

// Raw reads a length-prefixed byte slice (a copy).
func (d *Decoder) Raw() []byte {
	n := d.length(1)
	b := d.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// String reads a length-prefixed string.
func (d *Decoder) String() string {
	n := d.length(1)
	return string(d.take(n))
}

// I8s reads a length-prefixed []int8.
func (d *Decoder) I8s() []int8 {
	n := d.length(1)
	b := d.take(n)
	if b == nil {
		return nil
	}
	out := make([]int8, n)
	for i, x := range b {
		out[i] = int8(x)
	}
	return out
}

// Bools reads a length-prefixed []bool.
func (d *Decoder) Bools() []bool {
	n := d.length(1)
	b := d.take(n)
	if b == nil {
		return nil
	}
	out := make([]bool, n)
	for i, x := range b {
		switch x {
		case 0:
		case 1:
			out[i] = true
		default:
			d.Fail("bool byte %d at element %d, expected 0 or 1", x, i)
			return nil
		}
	}
	return out
}

// I32s reads a length-prefixed []int32.
func (d *Decoder) I32s() []int32 {
	n := d.length(4)
	b := d.take(4 * n)
	if b == nil {
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// F64s reads a length-prefixed []float64.
func (d *Decoder) F64s() []float64 {
	n := d.length(8)
	b := d.take(8 * n)
	if b == nil {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}
