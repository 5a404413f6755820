package results

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/ccq-project/ccq/internal/atomicfile"
)

// Default part sizes of a GenerationWriter.
const (
	DefaultRowsPerPart  = 1000
	DefaultPartInterval = 30 * time.Second
)

// GenerationWriterOptions tunes a GenerationWriter. The zero value uses the
// defaults.
type GenerationWriterOptions struct {
	// RowsPerPart closes the open part after this many rows (default 1000).
	RowsPerPart int
	// PartInterval closes the open part at the first Write at least this long
	// after the part was opened (default 30 s; negative disables it).
	PartInterval time.Duration

	now func() time.Time // clock, for tests
}

// GenerationWriter writes the generation rows of one evolve run into a folder
// of part files part-NNNNN.parquet. A part is written as the hidden file
// .part-NNNNN.parquet.tmp and, every RowsPerPart rows or PartInterval, on
// Roll (which a caller uses at its checkpoints) and on Close, closed, fsynced
// and renamed: a crash loses only the open part, and readers (DuckDB,
// pandas, Arrow, ReadGenerations) never see a partial file.
// A writer opened on a folder that already holds parts (a resumed run)
// removes stale temporary parts and numbers its parts after the last
// complete one. Use TrimGenerations first to drop rows written after the
// checkpoint the run resumes from.
//
// A GenerationWriter is not safe for concurrent use: feed it from one goroutine.
type GenerationWriter struct {
	dir    string
	opts   GenerationWriterOptions
	next   int // number of the next part
	f      *os.File
	w      *parquet.GenericWriter[GenerationRow]
	rows   int // rows in the open part
	opened time.Time
	buf    [1]GenerationRow
	closed bool
}

// NewGenerationWriter creates dir if needed and returns a writer that adds
// parts to it.
func NewGenerationWriter(dir string, opts GenerationWriterOptions) (*GenerationWriter, error) {
	if opts.RowsPerPart <= 0 {
		opts.RowsPerPart = DefaultRowsPerPart
	}
	if opts.PartInterval == 0 {
		opts.PartInterval = DefaultPartInterval
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generation writer: %w", err)
	}
	if err := removeTempParts(dir); err != nil {
		return nil, fmt.Errorf("generation writer: %w", err)
	}
	parts, err := partNumbers(dir)
	if err != nil {
		return nil, fmt.Errorf("generation writer: %w", err)
	}
	next := 0
	if len(parts) > 0 {
		next = parts[len(parts)-1] + 1
	}
	return &GenerationWriter{dir: dir, opts: opts, next: next}, nil
}

// Write appends one row. It validates the row, stamps a zero Timestamp with
// the current time, and closes the part when it is full or old enough.
func (g *GenerationWriter) Write(row GenerationRow) error {
	if g.closed {
		return errors.New("generation writer: Write after Close")
	}
	if err := row.Validate(); err != nil {
		return fmt.Errorf("generation writer: %w", err)
	}
	if row.Timestamp.IsZero() {
		row.Timestamp = g.opts.now()
	}
	if g.w == nil {
		if err := g.open(); err != nil {
			return err
		}
	}
	g.buf[0] = row
	if _, err := g.w.Write(g.buf[:]); err != nil {
		return fmt.Errorf("generation writer: part %d: %w", g.next, err)
	}
	g.buf[0] = GenerationRow{}
	g.rows++
	if g.rows >= g.opts.RowsPerPart ||
		(g.opts.PartInterval > 0 && g.opts.now().Sub(g.opened) >= g.opts.PartInterval) {
		return g.Roll()
	}
	return nil
}

// Roll closes the open part now, if it holds any row (for example at a
// checkpoint, so that the checkpoint and the complete parts agree).
func (g *GenerationWriter) Roll() error {
	if g.w == nil {
		return nil
	}
	tmp := filepath.Join(g.dir, tempPartName(g.next))
	final := filepath.Join(g.dir, PartName(g.next))
	w, f := g.w, g.f
	g.w, g.f = nil, nil
	if err := w.Close(); err != nil {
		f.Close()
		return fmt.Errorf("generation writer: closing %s: %w", tmp, err)
	}
	if err := syncClose(f); err != nil {
		return fmt.Errorf("generation writer: closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("generation writer: %w", err)
	}
	g.next++
	g.rows = 0
	return atomicfile.SyncDir(g.dir)
}

// Close closes and renames the open part. Calling Close twice is harmless.
func (g *GenerationWriter) Close() error {
	if g.closed {
		return nil
	}
	g.closed = true
	return g.Roll()
}

// Dir returns the folder the writer writes to.
func (g *GenerationWriter) Dir() string { return g.dir }

func (g *GenerationWriter) open() error {
	path := filepath.Join(g.dir, tempPartName(g.next))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("generation writer: %w", err)
	}
	g.f = f
	g.w = parquet.NewGenericWriter[GenerationRow](f, writerOptions(0)...)
	g.opened = g.opts.now()
	return nil
}

// PartName is the file name of complete part n: part-NNNNN.parquet.
func PartName(n int) string { return fmt.Sprintf("part-%05d.parquet", n) }

func tempPartName(n int) string { return "." + PartName(n) + ".tmp" }

// partNumbers returns the sorted numbers of the complete parts in dir.
func partNumbers(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, "part-") || !strings.HasSuffix(name, ".parquet") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "part-"), ".parquet"))
		if err != nil || n < 0 {
			continue
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

// removeTempParts deletes the temporary parts a crashed writer left in dir.
func removeTempParts(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if name := e.Name(); !e.IsDir() && strings.HasSuffix(name, ".tmp") && strings.Contains(name, "part-") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// TrimGenerations prepares the part folder of a run that resumes from a
// checkpoint taken before generation next: it removes every row with
// generation >= next, deleting parts that hold only such rows and rewriting
// (atomically) a part that holds both. Temporary parts are removed too. A
// missing folder is not an error.
func TrimGenerations(dir string, next int64) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := removeTempParts(dir); err != nil {
		return fmt.Errorf("trimming %s: %w", dir, err)
	}
	parts, err := partNumbers(dir)
	if err != nil {
		return fmt.Errorf("trimming %s: %w", dir, err)
	}
	for _, n := range parts {
		path := filepath.Join(dir, PartName(n))
		rows, err := readTable[GenerationRow](path)
		if err != nil {
			return fmt.Errorf("trimming: %w", err)
		}
		keep := rows[:0]
		for _, r := range rows {
			if r.Generation < next {
				keep = append(keep, r)
			}
		}
		switch {
		case len(keep) == len(rows):
			continue
		case len(keep) == 0:
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("trimming: %w", err)
			}
		default:
			if err := writeAtomic(path, keep); err != nil {
				return fmt.Errorf("trimming: %w", err)
			}
		}
	}
	return atomicfile.SyncDir(dir)
}

// CompactGenerations copies the rows of the complete parts of srcDir, in
// part order, into the empty or missing folder dstDir as parts of
// rowsPerPart rows (DefaultRowsPerPart if <= 0) numbered from 0, each
// written under a temporary name, synced and renamed. The layout of dstDir then depends only on the
// rows: a run whose parts were closed at every checkpoint, or that was
// interrupted and resumed, ends with the same parts as an uninterrupted one.
// srcDir is left as it is. A missing srcDir, or one without parts, creates
// nothing.
func CompactGenerations(srcDir, dstDir string, rowsPerPart int) error {
	src, err := partNumbers(srcDir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(src) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("compacting %s: %w", srcDir, err)
	}
	if dst, err := partNumbers(dstDir); err == nil && len(dst) > 0 {
		return fmt.Errorf("compacting %s: %s already holds %d parts", srcDir, dstDir, len(dst))
	}
	w, err := NewGenerationWriter(dstDir, GenerationWriterOptions{RowsPerPart: rowsPerPart, PartInterval: -1})
	if err != nil {
		return fmt.Errorf("compacting %s: %w", srcDir, err)
	}
	defer w.Close()
	for _, n := range src {
		rows, err := readTable[GenerationRow](filepath.Join(srcDir, PartName(n)))
		if err != nil {
			return fmt.Errorf("compacting: %w", err)
		}
		for _, r := range rows {
			if err := w.Write(r); err != nil {
				return fmt.Errorf("compacting %s: %w", srcDir, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compacting %s: %w", srcDir, err)
	}
	return nil
}
