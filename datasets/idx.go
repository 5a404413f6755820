package datasets

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// IDX is the format of the MNIST and Fashion-MNIST files: two zero bytes, a
// type byte (0x08 = unsigned byte), the number of dimensions, each dimension
// as a big-endian uint32, then the data in row-major order.
const (
	idxTypeUbyte = 0x08
	idxMaxDims   = 4
)

// IDXSpec says what an IDX file must hold.
type IDXSpec struct {
	// Dims are the expected dimensions. Dims[0] may be 0 to accept any item
	// count from 1 to MaxCount; every other entry must match exactly.
	Dims []int
	// MaxCount bounds Dims[0] when it is 0 (so a corrupt header cannot make
	// the reader allocate without bound).
	MaxCount int
}

// IDXArray is a decoded IDX array of unsigned bytes.
type IDXArray struct {
	Dims []int
	Data []uint8
}

// gzipMagic starts every gzip stream; IDX files start with two zero bytes,
// so the two cannot be confused.
var gzipMagic = []byte{0x1f, 0x8b}

// maybeGunzip returns a reader of the uncompressed bytes of r, which may be
// gzip-compressed or raw, and a close function.
func maybeGunzip(r io.Reader, name string) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(head) == 2 && head[0] == gzipMagic[0] && head[1] == gzipMagic[1] {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: corrupt gzip stream: %w", name, err)
		}
		return zr, func() { zr.Close() }, nil
	}
	return br, func() {}, nil
}

// ReadIDX reads one IDX array of unsigned bytes from r, which may be
// gzip-compressed or raw, and checks it against spec: the magic number, the
// type, the dimensions, that the data is complete and that nothing follows
// it (for gzip, that the stream's checksum is right). Errors start with name.
func ReadIDX(r io.Reader, name string, spec IDXSpec) (*IDXArray, error) {
	rr, closeFn, err := maybeGunzip(r, name)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return readIDX(rr, name, spec)
}

func readIDX(r io.Reader, name string, spec IDXSpec) (*IDXArray, error) {
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("%s: truncated: expected a 4-byte IDX magic number, got %d bytes%s", name, n, gzipHint(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("%s: bad magic number %#02x %#02x %#02x %#02x: expected an IDX file (0x00 0x00 type ndims)", name, magic[0], magic[1], magic[2], magic[3])
	}
	if magic[2] != idxTypeUbyte {
		return nil, fmt.Errorf("%s: IDX element type %#02x: expected 0x08 (unsigned byte)", name, magic[2])
	}
	nd := int(magic[3])
	if nd != len(spec.Dims) {
		return nil, fmt.Errorf("%s: IDX file has %d dimensions: expected %d (%s)", name, nd, len(spec.Dims), dimString(spec.Dims))
	}
	if nd == 0 || nd > idxMaxDims {
		return nil, fmt.Errorf("%s: IDX file has %d dimensions: expected 1 to %d", name, nd, idxMaxDims)
	}
	hdr := make([]byte, 4*nd)
	if n, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%s: truncated header: expected %d bytes of dimensions, got %d%s", name, len(hdr), n, gzipHint(err))
	}
	dims := make([]int, nd)
	total := 1
	for i := range dims {
		d := int(binary.BigEndian.Uint32(hdr[4*i:]))
		dims[i] = d
		want := spec.Dims[i]
		switch {
		case i == 0 && want == 0:
			if d < 1 || d > spec.MaxCount {
				return nil, fmt.Errorf("%s: %d items: expected 1 to %d", name, d, spec.MaxCount)
			}
		case d != want:
			return nil, fmt.Errorf("%s: dimensions %s: expected %s", name, dimString(dims[:i+1]), dimString(spec.Dims))
		}
		total *= d
	}
	data := make([]byte, total)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("%s: truncated: expected %d data bytes for dimensions %s, got %d%s", name, total, dimString(dims), n, gzipHint(err))
	}
	if err := expectEOF(r, name, fmt.Sprintf("%d data bytes for dimensions %s", total, dimString(dims))); err != nil {
		return nil, err
	}
	return &IDXArray{Dims: dims, Data: data}, nil
}

// expectEOF checks that r has nothing left; reading to the end also makes a
// gzip reader verify its checksum.
func expectEOF(r io.Reader, name, what string) error {
	var extra [512]byte
	n, err := io.ReadFull(r, extra[:])
	switch {
	case n > 0:
		more := ""
		if n == len(extra) {
			more = " or more"
		}
		return fmt.Errorf("%s: %d%s bytes of trailing data: expected the file to end after %s", name, n, more, what)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("%s: after %s: %w", name, what, wrapGzip(err))
	}
}

// gzipHint turns a read error into a suffix for a truncation message: empty
// for a clean end of data, else the underlying (gzip) error.
func gzipHint(err error) string {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ""
	}
	return fmt.Sprintf(" (%v)", wrapGzip(err))
}

// wrapGzip labels errors of the compressed stream.
func wrapGzip(err error) error {
	var ce flate.CorruptInputError
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce) {
		return fmt.Errorf("corrupt gzip stream: %w", err)
	}
	return err
}

func dimString(d []int) string {
	s := ""
	for i, x := range d {
		if i > 0 {
			s += "x"
		}
		if x == 0 {
			s += "N"
		} else {
			s += fmt.Sprint(x)
		}
	}
	return s
}

// ReadIDXImages reads an IDX file of count images of h x w bytes (count 0:
// any number up to maxCount).
func ReadIDXImages(r io.Reader, name string, count, h, w, maxCount int) (images []uint8, n int, err error) {
	a, err := ReadIDX(r, name, IDXSpec{Dims: []int{count, h, w}, MaxCount: maxCount})
	if err != nil {
		return nil, 0, err
	}
	return a.Data, a.Dims[0], nil
}

// ReadIDXLabels reads an IDX file of count labels (count 0: any number up to
// maxCount) and checks each is below numClasses.
func ReadIDXLabels(r io.Reader, name string, count, numClasses, maxCount int) ([]uint8, error) {
	a, err := ReadIDX(r, name, IDXSpec{Dims: []int{count}, MaxCount: maxCount})
	if err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(a.Data, func(l uint8) bool { return int(l) >= numClasses }); i >= 0 {
		return nil, fmt.Errorf("%s: label %d of item %d is out of range: expected 0 to %d", name, a.Data[i], i, numClasses-1)
	}
	return a.Data, nil
}
