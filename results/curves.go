package results

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Curve is the convergence curve of one evolve run: the columns of its
// generation rows that plots need, sorted by generation.
type Curve struct {
	RunID      string
	Experiment string
	Variant    string
	Dataset    string
	Model      string
	Bits       int32
	ActBits    int32
	Seed       int64

	Generation         []int64
	Evaluations        []int64
	BestFitness        []float64
	BaseFitness        []float64
	ValidationAccuracy []float64 // NaN where the row's value is null
}

// curveColumns are the generation columns LoadCurves reads; the others
// (plugin stats, timings, ...) are never decoded.
var curveColumns = []string{
	"run_id", "experiment", "variant", "dataset", "model", "bits", "act_bits", "seed",
	"generation", "evaluations", "best_fitness", "base_fitness", "validation_accuracy",
}

// LoadCurves scans every complete part under dir (see ListParts) with Arrow,
// decoding only the columns in curveColumns, on up to GOMAXPROCS files at a
// time, and returns one Curve per run id, sorted by dataset, model, bits,
// act bits, variant, seed and run id. Rows repeated for the same run and
// generation (a part copied twice) are kept once. A part without the optional
// validation_accuracy column reads as all null.
func LoadCurves(ctx context.Context, dir string) ([]Curve, error) {
	parts, err := ListParts(dir)
	if err != nil {
		return nil, err
	}
	type result struct {
		curves []*Curve
		err    error
	}
	results := make([]result, len(parts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, p := range parts {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := scanPart(ctx, p)
			results[i] = result{c, err}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading curves: %w", err)
	}
	byRun := map[string]*Curve{}
	var order []*Curve
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		for _, c := range r.curves {
			if have, ok := byRun[c.RunID]; ok {
				have.appendFrom(c)
				continue
			}
			byRun[c.RunID] = c
			order = append(order, c)
		}
	}
	out := make([]Curve, 0, len(order))
	for _, c := range order {
		c.sortByGeneration()
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Curve) int {
		return cmp.Or(cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Model, b.Model),
			cmp.Compare(a.Bits, b.Bits), cmp.Compare(a.ActBits, b.ActBits),
			cmp.Compare(a.Variant, b.Variant), cmp.Compare(a.Seed, b.Seed), cmp.Compare(a.RunID, b.RunID))
	})
	return out, nil
}

// scanPart reads one part file's curve columns into per-run curves.
func scanPart(ctx context.Context, path string) (curves []*Curve, err error) {
	defer func() {
		if p := recover(); p != nil {
			curves, err = nil, fmt.Errorf("reading %s: not a readable generations part: %v", path, p)
		}
	}()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer rdr.Close()
	sc := rdr.MetaData().Schema
	var idx []int
	for _, name := range curveColumns {
		i := sc.ColumnIndexByName(name)
		if i < 0 {
			if name == "validation_accuracy" {
				continue
			}
			return nil, fmt.Errorf("reading %s: column %q missing", path, name)
		}
		idx = append(idx, i)
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	rgs := make([]int, rdr.NumRowGroups())
	for i := range rgs {
		rgs[i] = i
	}
	tbl, err := fr.ReadRowGroups(ctx, idx, rgs)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer tbl.Release()
	cols := map[string]*arrow.Chunked{}
	for i := 0; i < int(tbl.NumCols()); i++ {
		cols[tbl.Schema().Field(i).Name] = tbl.Column(i).Data()
	}
	byRun := map[string]*Curve{}
	// Iterate chunk by chunk: every column of a table read from one file is
	// chunked alike per row group, but do not rely on it: index by row.
	n := int(tbl.NumRows())
	get := newColumnGetter(cols)
	for row := 0; row < n; row++ {
		id, err := get.str("run_id", row)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		c, ok := byRun[id]
		if !ok {
			c = &Curve{RunID: id}
			var errs [7]error
			c.Experiment, errs[0] = get.str("experiment", row)
			c.Variant, errs[1] = get.str("variant", row)
			c.Dataset, errs[2] = get.str("dataset", row)
			c.Model, errs[3] = get.str("model", row)
			var b, ab int64
			b, errs[4] = get.int("bits", row)
			ab, errs[5] = get.int("act_bits", row)
			c.Seed, errs[6] = get.int("seed", row)
			for _, e := range errs {
				if e != nil {
					return nil, fmt.Errorf("reading %s: %w", path, e)
				}
			}
			c.Bits, c.ActBits = int32(b), int32(ab)
			byRun[id] = c
			curves = append(curves, c)
		}
		g, err1 := get.int("generation", row)
		e, err2 := get.int("evaluations", row)
		best, err3 := get.float("best_fitness", row)
		base, err4 := get.float("base_fitness", row)
		val, err5 := get.float("validation_accuracy", row)
		for _, e := range []error{err1, err2, err3, err4, err5} {
			if e != nil {
				return nil, fmt.Errorf("reading %s: %w", path, e)
			}
		}
		c.Generation = append(c.Generation, g)
		c.Evaluations = append(c.Evaluations, e)
		c.BestFitness = append(c.BestFitness, best)
		c.BaseFitness = append(c.BaseFitness, base)
		c.ValidationAccuracy = append(c.ValidationAccuracy, val)
	}
	return curves, nil
}

// columnGetter reads single values from chunked columns by row, remembering
// the chunk of the previous lookup (rows are visited in order).
type columnGetter struct {
	cols  map[string]*arrow.Chunked
	chunk map[string]int // current chunk index per column
	start map[string]int // first row of the current chunk
}

func newColumnGetter(cols map[string]*arrow.Chunked) *columnGetter {
	return &columnGetter{cols: cols, chunk: map[string]int{}, start: map[string]int{}}
}

// at returns the array holding row and the row's offset in it; nil if the
// column is absent.
func (g *columnGetter) at(name string, row int) (arrow.Array, int) {
	c, ok := g.cols[name]
	if !ok {
		return nil, 0
	}
	k, s := g.chunk[name], g.start[name]
	chunks := c.Chunks()
	if row < s {
		k, s = 0, 0
	}
	for k < len(chunks) && row >= s+chunks[k].Len() {
		s += chunks[k].Len()
		k++
	}
	g.chunk[name], g.start[name] = k, s
	if k >= len(chunks) {
		return nil, 0
	}
	return chunks[k], row - s
}

func (g *columnGetter) str(name string, row int) (string, error) {
	a, i := g.at(name, row)
	switch a := a.(type) {
	case *array.String:
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	case *array.Binary:
		return string(a.Value(i)), nil
	case *array.Dictionary:
		if d, ok := a.Dictionary().(*array.String); ok {
			return d.Value(a.GetValueIndex(i)), nil
		}
	}
	return "", fmt.Errorf("column %q: expected strings, found %v", name, typeOf(a))
}

func (g *columnGetter) int(name string, row int) (int64, error) {
	a, i := g.at(name, row)
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i), nil
	case *array.Int32:
		return int64(a.Value(i)), nil
	}
	return 0, fmt.Errorf("column %q: expected integers, found %v", name, typeOf(a))
}

// float returns the value, NaN for null or for an absent optional column.
func (g *columnGetter) float(name string, row int) (float64, error) {
	a, i := g.at(name, row)
	if a == nil {
		if _, ok := g.cols[name]; !ok {
			return math.NaN(), nil
		}
	}
	switch a := a.(type) {
	case *array.Float64:
		if a.IsNull(i) {
			return math.NaN(), nil
		}
		return a.Value(i), nil
	case *array.Float32:
		if a.IsNull(i) {
			return math.NaN(), nil
		}
		return float64(a.Value(i)), nil
	}
	return 0, fmt.Errorf("column %q: expected floats, found %v", name, typeOf(a))
}

func typeOf(a arrow.Array) string {
	if a == nil {
		return "nothing"
	}
	return a.DataType().String()
}

// appendFrom appends o's rows to c.
func (c *Curve) appendFrom(o *Curve) {
	c.Generation = append(c.Generation, o.Generation...)
	c.Evaluations = append(c.Evaluations, o.Evaluations...)
	c.BestFitness = append(c.BestFitness, o.BestFitness...)
	c.BaseFitness = append(c.BaseFitness, o.BaseFitness...)
	c.ValidationAccuracy = append(c.ValidationAccuracy, o.ValidationAccuracy...)
}

// sortByGeneration orders the rows by generation and keeps one row per
// generation (the last one read).
func (c *Curve) sortByGeneration() {
	n := len(c.Generation)
	sorted := true
	for i := 1; i < n; i++ {
		if c.Generation[i] <= c.Generation[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int { return cmp.Compare(c.Generation[a], c.Generation[b]) })
	keep := perm[:0]
	for _, p := range perm {
		if len(keep) > 0 && c.Generation[keep[len(keep)-1]] == c.Generation[p] {
			keep[len(keep)-1] = p
			continue
		}
		keep = append(keep, p)
	}
	c.Generation = gather(c.Generation, keep)
	c.Evaluations = gather(c.Evaluations, keep)
	c.BestFitness = gather(c.BestFitness, keep)
	c.BaseFitness = gather(c.BaseFitness, keep)
	c.ValidationAccuracy = gather(c.ValidationAccuracy, keep)
}

func gather[T any](xs []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}
