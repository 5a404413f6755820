package results

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/internal/filecopy"
)

// GatherRuns reads the runs files at paths (for example the one-row file of
// each evaluate stage's store entry), sorts the rows by dataset, model, kind,
// method, bits, act bits, seed and run id, and writes them as one runs file
// at out, atomically. It returns the rows written. Duplicate run ids are an
// error naming both files.
func GatherRuns(out string, paths []string) ([]RunRow, error) {
	var rows []RunRow
	from := map[string]string{}
	for _, p := range paths {
		rs, err := ReadRuns(p)
		if err != nil {
			return nil, fmt.Errorf("gathering runs: %w", err)
		}
		for _, r := range rs {
			if q, dup := from[r.RunID]; dup {
				return nil, fmt.Errorf("gathering runs: run id %q in both %s and %s", r.RunID, q, p)
			}
			from[r.RunID] = p
		}
		rows = append(rows, rs...)
	}
	slices.SortStableFunc(rows, func(a, b RunRow) int {
		return cmp.Or(cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Method, b.Method), cmp.Compare(a.Bits, b.Bits), cmp.Compare(b.ActBits, a.ActBits),
			cmp.Compare(a.Seed, b.Seed), cmp.Compare(a.RunID, b.RunID))
	})
	if err := WriteRuns(out, rows); err != nil {
		return nil, fmt.Errorf("gathering runs: %w", err)
	}
	return rows, nil
}

// CopyParts makes the complete parts of one run's part folder srcDir (for
// example in the evolve stage's store entry) appear in dstDir (for example
// runs/<experiment>/generations/<run id>/): each part is copied (a
// reflink where the file system supports it, never a hard link, so that
// editing a results file cannot change the store) under a temporary name
// and renamed, so a reader of dstDir never sees a partial file. Parts
// already copied (same size and modification time, and not a hard link,
// as earlier versions made) are kept; parts of dstDir absent from srcDir
// are removed (the run was trimmed on resume). Temporary parts of srcDir
// are ignored.
func CopyParts(srcDir, dstDir string) error {
	src, err := partNumbers(srcDir)
	if err != nil {
		return fmt.Errorf("copying parts of %s: %w", srcDir, err)
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return fmt.Errorf("copying parts: %w", err)
	}
	dst, err := partNumbers(dstDir)
	if err != nil {
		return fmt.Errorf("copying parts into %s: %w", dstDir, err)
	}
	for _, n := range dst {
		if !slices.Contains(src, n) {
			if err := os.Remove(filepath.Join(dstDir, PartName(n))); err != nil {
				return fmt.Errorf("copying parts: %w", err)
			}
		}
	}
	for _, n := range src {
		from, to := filepath.Join(srcDir, PartName(n)), filepath.Join(dstDir, PartName(n))
		if filecopy.Same(from, to) {
			continue
		}
		tmp := filepath.Join(dstDir, tempPartName(n))
		os.Remove(tmp)
		if err := filecopy.Copy(from, tmp); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("copying parts: %w", err)
		}
		if err := os.Rename(tmp, to); err != nil {
			return fmt.Errorf("copying parts: %w", err)
		}
	}
	return atomicfile.SyncDir(dstDir)
}
