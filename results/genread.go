package results

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// ListParts returns the complete Parquet part files under dir, recursively,
// in lexical path order. It skips hidden files and folders (names starting
// with "." or "_", as Arrow and pandas do), so parts still being written
// (.part-NNNNN.parquet.tmp) are never listed, and any name not ending in
// ".parquet". A missing dir yields no parts and no error.
func ListParts(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		name := d.Name()
		if path != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(name, ".parquet") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing parts of %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// ReadGenerations reads every complete part under dir as one table, in part
// order. It suits one run or a few; for scans across many runs use LoadCurves.
func ReadGenerations(dir string) ([]GenerationRow, error) {
	parts, err := ListParts(dir)
	if err != nil {
		return nil, err
	}
	var rows []GenerationRow
	for _, p := range parts {
		r, err := readTable[GenerationRow](p)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// ReadGenerationFile reads one generation part file.
func ReadGenerationFile(path string) ([]GenerationRow, error) {
	return readTable[GenerationRow](path)
}
