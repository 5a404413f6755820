package results

import (
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/ccq-project/ccq/internal/atomicfile"
)

// WriteRuns writes rows to a runs.parquet file at path atomically: to a
// temporary file in the same folder, fsynced, then renamed. Rows are
// validated first; the error names the first bad row.
func WriteRuns(path string, rows []RunRow) error {
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			return fmt.Errorf("writing %s: row %d: %w", path, i, err)
		}
	}
	return writeAtomic(path, rows)
}

// ReadRuns reads a runs.parquet file. Files written by older ccq versions
// (without the newer optional columns) read with those columns nil.
func ReadRuns(path string) ([]RunRow, error) { return readTable[RunRow](path) }

// WriteStages writes rows to a stages.parquet file at path atomically.
func WriteStages(path string, rows []StageRow) error {
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			return fmt.Errorf("writing %s: row %d: %w", path, i, err)
		}
	}
	return writeAtomic(path, rows)
}

// ReadStages reads a stages.parquet file. Files written by older ccq
// versions (without the newer optional columns) read with those columns
// nil.
func ReadStages(path string) ([]StageRow, error) { return readTable[StageRow](path) }

// writerOptions are the options of every table writer.
func writerOptions(rowsPerGroup int) []parquet.WriterOption {
	opts := []parquet.WriterOption{parquet.Compression(&zstd.Codec{})}
	if rowsPerGroup > 0 {
		opts = append(opts, parquet.MaxRowsPerRowGroup(int64(rowsPerGroup)))
	}
	return opts
}

// writeAtomic writes rows as one Parquet file at path (package
// atomicfile).
func writeAtomic[T any](path string, rows []T) error {
	return atomicfile.WriteWith(path, atomicfile.Options{}, func(f io.Writer) error {
		w := parquet.NewGenericWriter[T](f, writerOptions(64*1024)...)
		if _, err := w.Write(rows); err != nil {
			return err
		}
		return w.Close()
	})
}

// syncClose fsyncs and closes f.
func syncClose(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readTable reads all rows of a Parquet file into T.
func readTable[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	rows, err := decodeRows[T](f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return rows, nil
}

// decodeRows decodes every row of the Parquet data in r. The library may
// panic on corrupt input; that becomes an error here.
func decodeRows[T any](r io.ReaderAt, size int64) (rows []T, err error) {
	defer func() {
		if p := recover(); p != nil {
			rows, err = nil, fmt.Errorf("not a readable Parquet file of the expected schema: %v", p)
		}
	}()
	pf, err := parquet.OpenFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a Parquet file: %w", err)
	}
	if err := checkSchema[T](pf.Schema()); err != nil {
		return nil, err
	}
	rd := parquet.NewGenericReader[T](pf)
	defer rd.Close()
	buf := make([]T, 256)
	for {
		// The reader decodes into the maps and pointers it finds in buf,
		// and the rows already appended share them: start every batch
		// from zero values so each row gets its own.
		clear(buf)
		n, err := rd.Read(buf)
		rows = append(rows, buf[:n]...)
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", len(rows), err)
		}
		if n == 0 {
			return rows, nil
		}
	}
}

// checkSchema reports required columns of T that the file lacks, or that it
// holds with another type: old files may lack optional columns only.
func checkSchema[T any](file *parquet.Schema) error {
	var zero T
	want := parquet.SchemaOf(zero)
	have := map[string]parquet.Field{}
	for _, f := range file.Fields() {
		have[f.Name()] = f
	}
	for _, f := range want.Fields() {
		h, ok := have[f.Name()]
		if !ok {
			if f.Optional() {
				continue
			}
			return fmt.Errorf("column %q missing (expected %s)", f.Name(), typeName(f))
		}
		if typeName(h) != typeName(f) {
			return fmt.Errorf("column %q is %s, expected %s", f.Name(), typeName(h), typeName(f))
		}
	}
	return nil
}
