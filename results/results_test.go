package results

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "rewrite README.md's schema section and the old-schema fixtures in testdata")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func genRow(run string, variant string, seed int64, g int64) GenerationRow {
	r := GenerationRow{
		RunID: run, Experiment: "exp", Variant: variant, Dataset: "mnist", Model: "lenet5",
		Bits: 2, ActBits: 32, Seed: seed, Generation: g, Evaluations: 32 * (g + 1),
		WallTime: float64(g) * 0.5, BestFitness: 2 - 0.01*float64(g), MeanFitness: 2.1 - 0.01*float64(g),
		BaseFitness: 2.05 - 0.01*float64(g), BaseBatchAccuracy: 0.1 + 0.001*float64(g),
		PluginStats: map[string]float64{"group_size": float64(100 + g), "frozen": 0.5},
		Timestamp:   t0.Add(time.Duration(g) * time.Second),
	}
	if g%5 == 0 {
		r.ValidationAccuracy = Float64(0.5 + 0.01*float64(g))
	}
	return r
}

func runRows() []RunRow {
	return []RunRow{
		{RunID: "f", Experiment: "exp", Method: "float", Kind: KindFloat, Parameters: "{}", Dataset: "mnist", Model: "lenet5",
			Bits: 32, ActBits: 32, Seed: 1, TestAcc: 0.99, TestLoss: 0.03, ValAcc: Float64(0.988), WallTime: 12.5,
			UsedFPGradients: true, Status: StatusOK},
		{RunID: "r2", Experiment: "exp", Method: "rtn", Kind: KindBaseline, Parameters: "", Dataset: "mnist", Model: "lenet5",
			Bits: 2, ActBits: 32, Granularity: "per-tensor", Seed: 1, TestAcc: 0.5, TestLoss: 1.2, Status: StatusOK},
		{RunID: "c2", Experiment: "exp", Method: "ccea", Kind: KindOptimizer, Parameters: `{"lambda":32,"lr":0.1}`,
			Dataset: "mnist", Model: "lenet5", Bits: 2, ActBits: 32, Granularity: "per-tensor", Seed: 3,
			TestAcc: 0.9, TestLoss: 0.3, Evaluations: 5000, WallTime: 60, Status: StatusOK, StartMethod: String("rtn")},
	}
}

func TestRunsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), RunsFile)
	want := runRows()
	if err := WriteRuns(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRuns(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	// No temporary file is left beside it.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("folder holds %d entries, want only runs.parquet", len(ents))
	}
}

func TestWriteRunsRejectsBadRowByIndex(t *testing.T) {
	rows := runRows()
	rows[2].Kind = "evolved"
	path := filepath.Join(t.TempDir(), RunsFile)
	err := WriteRuns(path, rows)
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), "kind") {
		t.Fatalf("err = %v, want one naming row 2 and kind", err)
	}
	rows = runRows()
	rows[1].Parameters = `{"a":1} x`
	if err := WriteRuns(path, rows); err == nil || !strings.Contains(err.Error(), "parameters") {
		t.Fatalf("err = %v, want one naming parameters", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a rejected write left %s behind", path)
	}
}

func TestStagesRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), StagesFile)
	end := t0.Add(90 * time.Second)
	want := []StageRow{
		{Name: "pretrain/lenet5", Kind: "pretrain", Key: "abc", Status: StatusOK, WallTime: 90, Started: t0, Ended: &end, Threads: 2},
		{Name: "evolve/ccea/2/1", Kind: "evolve", Key: "def", Status: StatusFailed, Cached: false, Started: t0,
			Ended: &end, Threads: 1, Error: String("plugin crashed")},
		{Name: "evolve/ccea/2/2", Kind: "evolve", Key: "ghi", Status: StatusRunning, Started: t0, Threads: 1},
	}
	if err := WriteStages(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStages(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Started.Equal(want[i].Started) || (want[i].Ended == nil) != (got[i].Ended == nil) ||
			(want[i].Ended != nil && !got[i].Ended.Equal(*want[i].Ended)) {
			t.Fatalf("row %d times: got %v %v want %v %v", i, got[i].Started, got[i].Ended, want[i].Started, want[i].Ended)
		}
		got[i].Started, got[i].Ended = want[i].Started, want[i].Ended
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadRunsWrongTableNamesColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stages.parquet")
	if err := WriteStages(path, []StageRow{{Name: "a", Kind: "k", Status: StatusOK, Started: t0}}); err != nil {
		t.Fatal(err)
	}
	_, err := ReadRuns(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"run_id" missing`) {
		t.Fatalf("err = %v, want one naming the file and the missing column", err)
	}
	if err := os.WriteFile(path, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRuns(path); err == nil || !strings.Contains(err.Error(), "not a Parquet file") {
		t.Fatalf("err = %v, want 'not a Parquet file'", err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestGenerationWriterRollsPartsAndReaderIgnoresOpenPart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gen")
	w, err := NewGenerationWriter(dir, GenerationWriterOptions{RowsPerPart: 3, PartInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var want []GenerationRow
	for g := int64(0); g < 7; g++ {
		r := genRow("run1", "ccea", 1, g)
		want = append(want, r)
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	// Two complete parts and the open one, hidden.
	if got := strings.Join(names(t, dir), " "); got != ".part-00002.parquet.tmp part-00000.parquet part-00001.parquet" {
		t.Fatalf("before Close: %s", got)
	}
	rows, err := ReadGenerations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("read %d rows before Close, want the 6 of the complete parts", len(rows))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := w.Write(want[0]); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	rows, err = ReadGenerations(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if !rows[i].Timestamp.Equal(want[i].Timestamp) {
			t.Fatalf("row %d timestamp %v want %v", i, rows[i].Timestamp, want[i].Timestamp)
		}
		rows[i].Timestamp = want[i].Timestamp
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows differ:\n got %+v\nwant %+v", rows, want)
	}
}

func TestGenerationWriterResumesAfterCrash(t *testing.T) {
	dir := t.TempDir()
	w, err := NewGenerationWriter(dir, GenerationWriterOptions{RowsPerPart: 3, PartInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for g := int64(0); g < 5; g++ {
		if err := w.Write(genRow("r", "ccea", 1, g)); err != nil {
			t.Fatal(err)
		}
	}
	// Crash: the writer is abandoned with part 1 open (2 rows). The run
	// resumes from its checkpoint at generation 3 (rows 0..2 are safe).
	w.f.Close()
	if err := TrimGenerations(dir, 3); err != nil {
		t.Fatal(err)
	}
	w2, err := NewGenerationWriter(dir, GenerationWriterOptions{RowsPerPart: 3, PartInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for g := int64(3); g < 8; g++ {
		if err := w2.Write(genRow("r", "ccea", 1, g)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, dir), " "); got != "part-00000.parquet part-00001.parquet part-00002.parquet" {
		t.Fatalf("parts after resume: %s", got)
	}
	rows, err := ReadGenerations(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.Generation != int64(i) {
			t.Fatalf("row %d has generation %d; rows must be 0..7 once each", i, r.Generation)
		}
	}
	if len(rows) != 8 {
		t.Fatalf("read %d rows, want 8", len(rows))
	}
}

func TestTrimGenerationsRewritesStraddlingPart(t *testing.T) {
	dir := t.TempDir()
	w, err := NewGenerationWriter(dir, GenerationWriterOptions{RowsPerPart: 3, PartInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for g := int64(0); g < 9; g++ {
		if err := w.Write(genRow("r", "ccea", 1, g)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := TrimGenerations(dir, 4); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, dir), " "); got != "part-00000.parquet part-00001.parquet" {
		t.Fatalf("parts after trim: %s", got)
	}
	rows, err := ReadGenerations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[3].Generation != 3 {
		t.Fatalf("after trim at 4: %d rows, last generation %d", len(rows), rows[len(rows)-1].Generation)
	}
	if err := TrimGenerations(filepath.Join(dir, "missing"), 0); err != nil {
		t.Fatalf("trim of a missing folder: %v", err)
	}
}

// TestCompactGenerations: parts closed at irregular points (checkpoints,
// resumes) are rewritten as full-size parts holding the same rows in the
// same order; the source is kept; a folder without parts yields nothing.
func TestCompactGenerations(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	w, err := NewGenerationWriter(src, GenerationWriterOptions{RowsPerPart: 100, PartInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var want []GenerationRow
	for g := int64(0); g < 11; g++ {
		r := genRow("r", "ccea", 1, g)
		r.Timestamp = t0.Add(time.Duration(g) * time.Second)
		want = append(want, r)
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		if g == 1 || g == 2 || g == 6 {
			if err := w.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(names(t, src)); got != 4 {
		t.Fatalf("%d source parts, want 4", got)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	if err := CompactGenerations(src, dst, 4); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, dst), " "); got != "part-00000.parquet part-00001.parquet part-00002.parquet" {
		t.Fatalf("compacted parts: %s", got)
	}
	for i, n := range []int{4, 4, 3} {
		rows, err := ReadGenerationFile(filepath.Join(dst, PartName(i)))
		if err != nil || len(rows) != n {
			t.Fatalf("part %d: %d rows (%v), want %d", i, len(rows), err, n)
		}
	}
	for _, dir := range []string{src, dst} {
		rows, err := ReadGenerations(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(want) {
			t.Fatalf("%s: %d rows, want %d", dir, len(rows), len(want))
		}
		for i := range rows {
			if !rows[i].Timestamp.Equal(want[i].Timestamp) {
				t.Fatalf("%s: row %d timestamp %v want %v", dir, i, rows[i].Timestamp, want[i].Timestamp)
			}
			rows[i].Timestamp = want[i].Timestamp
		}
		if !reflect.DeepEqual(rows, want) {
			t.Fatalf("%s: rows differ", dir)
		}
	}
	if err := CompactGenerations(src, dst, 4); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("compacting into a folder with parts: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "none")
	for _, s := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
		if err := CompactGenerations(s, empty, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("compacting %s (no parts) created %s: %v", s, empty, err)
		}
	}
}

func TestGenerationWriterRollsOnInterval(t *testing.T) {
	dir := t.TempDir()
	now := t0
	w, err := NewGenerationWriter(dir, GenerationWriterOptions{RowsPerPart: 100, PartInterval: 10 * time.Second,
		now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for g := int64(0); g < 4; g++ {
		if err := w.Write(genRow("r", "ccea", 1, g)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(4 * time.Second)
	}
	// Rows at 0, 4, 8, 12 s: the write at 12 s is 12 s after the part opened.
	if got := strings.Join(names(t, dir), " "); got != "part-00000.parquet" {
		t.Fatalf("parts: %s", got)
	}
	if err := w.Write(genRow("r", "ccea", 1, 4)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, dir), " "); got != ".part-00001.parquet.tmp part-00000.parquet" {
		t.Fatalf("parts: %s", got)
	}
}

func TestGenerationWriterStampsAndValidates(t *testing.T) {
	dir := t.TempDir()
	w, err := NewGenerationWriter(dir, GenerationWriterOptions{now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	r := genRow("r", "ccea", 1, 0)
	r.Timestamp = time.Time{}
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	bad := genRow("", "ccea", 1, 0)
	if err := w.Write(bad); err == nil || !strings.Contains(err.Error(), "run_id") {
		t.Fatalf("err = %v, want one naming run_id", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadGenerations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !rows[0].Timestamp.Equal(t0) {
		t.Fatalf("rows %+v: want one stamped %v", rows, t0)
	}
}

func TestListPartsSkipsHiddenAndOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/part-00000.parquet", "a/.part-00001.parquet.tmp", "b/part-00000.parquet",
		"_tmp/part-00000.parquet", ".hidden/part-00000.parquet", "notes.txt", "part-00003.parquet.tmp"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ListParts(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a/part-00000.parquet"), filepath.Join(dir, "b/part-00000.parquet")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ListParts = %v, want %v", got, want)
	}
	if got, err := ListParts(filepath.Join(dir, "none")); err != nil || len(got) != 0 {
		t.Fatalf("missing folder: %v %v", got, err)
	}
}

// writeRuns writes n generations for each run into dir/<run>/ with small parts.
func writeRunsParts(t testing.TB, dir string, runs []string, n int64) map[string][]GenerationRow {
	out := map[string][]GenerationRow{}
	for i, run := range runs {
		w, err := NewGenerationWriter(filepath.Join(dir, run), GenerationWriterOptions{RowsPerPart: 4, PartInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		for g := int64(0); g < n; g++ {
			r := genRow(run, []string{"ccea", "eda"}[i%2], int64(i), g)
			out[run] = append(out[run], r)
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestLoadCurvesMatchesRows(t *testing.T) {
	dir := t.TempDir()
	want := writeRunsParts(t, dir, []string{"r0", "r1", "r2"}, 11)
	curves, err := LoadCurves(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(curves) != 3 {
		t.Fatalf("%d curves, want 3", len(curves))
	}
	// Sorted by variant then seed: ccea r0 (seed 0), ccea r2 (seed 2), eda r1.
	if curves[0].RunID != "r0" || curves[1].RunID != "r2" || curves[2].RunID != "r1" {
		t.Fatalf("order %s %s %s", curves[0].RunID, curves[1].RunID, curves[2].RunID)
	}
	for _, c := range curves {
		rows := want[c.RunID]
		if c.Variant != rows[0].Variant || c.Seed != rows[0].Seed || c.Bits != 2 || c.ActBits != 32 ||
			c.Dataset != "mnist" || c.Model != "lenet5" || c.Experiment != "exp" {
			t.Fatalf("curve %s metadata %+v", c.RunID, c)
		}
		if len(c.Generation) != len(rows) {
			t.Fatalf("curve %s: %d points, want %d", c.RunID, len(c.Generation), len(rows))
		}
		for i, r := range rows {
			val := math.NaN()
			if r.ValidationAccuracy != nil {
				val = *r.ValidationAccuracy
			}
			if c.Generation[i] != r.Generation || c.Evaluations[i] != r.Evaluations ||
				c.BestFitness[i] != r.BestFitness || c.BaseFitness[i] != r.BaseFitness ||
				!(c.ValidationAccuracy[i] == val || math.IsNaN(val) && math.IsNaN(c.ValidationAccuracy[i])) {
				t.Fatalf("curve %s point %d differs from row %+v", c.RunID, i, r)
			}
		}
	}
}

func TestLoadCurvesDeduplicatesCopiedPart(t *testing.T) {
	dir := t.TempDir()
	writeRunsParts(t, dir, []string{"r0"}, 6)
	b, err := os.ReadFile(filepath.Join(dir, "r0", PartName(0)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "r0", "copy.parquet"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	curves, err := LoadCurves(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(curves) != 1 || len(curves[0].Generation) != 6 {
		t.Fatalf("got %d curves / %v generations, want 1 curve with generations 0..5", len(curves), curves[0].Generation)
	}
	for i, g := range curves[0].Generation {
		if g != int64(i) {
			t.Fatalf("generations %v", curves[0].Generation)
		}
	}
}

func TestLoadCurvesReportsBadPart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "part-00000.parquet")
	if err := os.WriteFile(bad, []byte("PAR1 garbage PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCurves(context.Background(), dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err = %v, want one naming %s", err, bad)
	}
}

// TestArrowReadsWriterOutput checks that Arrow sees the documented types,
// including the map column and millisecond timestamps.
func TestArrowReadsWriterOutput(t *testing.T) {
	dir := t.TempDir()
	writeRunsParts(t, dir, []string{"r0"}, 3)
	f, err := os.Open(filepath.Join(dir, "r0", PartName(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	sc := tbl.Schema()
	checks := map[string]string{
		"plugin_stats": "map<utf8, float64",
		"timestamp":    "timestamp[ms, tz=UTC]",
		"run_id":       "utf8",
		"bits":         "int32",
	}
	for name, want := range checks {
		idx := sc.FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("column %s missing from %v", name, sc)
		}
		if got := sc.Field(idx[0]).Type.String(); !strings.HasPrefix(got, want) {
			t.Fatalf("column %s has Arrow type %s, want %s", name, got, want)
		}
	}
	m := tbl.Column(sc.FieldIndices("plugin_stats")[0]).Data().Chunk(0).(*array.Map)
	keys := m.Keys().(*array.String)
	items := m.Items().(*array.Float64)
	start, end := m.ValueOffsets(1)
	got := map[string]float64{}
	for i := start; i < end; i++ {
		got[keys.Value(int(i))] = items.Value(int(i))
	}
	if !reflect.DeepEqual(got, map[string]float64{"group_size": 101, "frozen": 0.5}) {
		t.Fatalf("plugin_stats of row 1 = %v", got)
	}
	ts := tbl.Column(sc.FieldIndices("timestamp")[0]).Data().Chunk(0).(*array.Timestamp)
	if ts.Value(1) != arrow.Timestamp(t0.Add(time.Second).UnixMilli()) {
		t.Fatalf("timestamp of row 1 = %d", ts.Value(1))
	}
}

// The old-schema fixtures: files written by structs without the newer
// optional columns (validation_accuracy of generations, start_method and
// validation_accuracy of runs). They are committed under testdata and must
// stay readable by every later ccq.
type runRowV0 struct {
	RunID           string  `parquet:"run_id,dict"`
	Experiment      string  `parquet:"experiment,dict"`
	Method          string  `parquet:"method,dict"`
	Kind            string  `parquet:"kind,dict"`
	Parameters      string  `parquet:"parameters"`
	Dataset         string  `parquet:"dataset,dict"`
	Model           string  `parquet:"model,dict"`
	Bits            int32   `parquet:"bits"`
	ActBits         int32   `parquet:"act_bits"`
	Granularity     string  `parquet:"granularity,dict"`
	Seed            int64   `parquet:"seed"`
	TestAcc         float64 `parquet:"test_accuracy"`
	TestLoss        float64 `parquet:"test_loss"`
	Evaluations     int64   `parquet:"evaluations"`
	WallTime        float64 `parquet:"wall_time_s"`
	UsedFPGradients bool    `parquet:"used_fp_gradients"`
	Status          string  `parquet:"status,dict"`
}

type generationRowV0 struct {
	RunID             string             `parquet:"run_id,dict"`
	Experiment        string             `parquet:"experiment,dict"`
	Variant           string             `parquet:"variant,dict"`
	Dataset           string             `parquet:"dataset,dict"`
	Model             string             `parquet:"model,dict"`
	Bits              int32              `parquet:"bits"`
	ActBits           int32              `parquet:"act_bits"`
	Seed              int64              `parquet:"seed"`
	Generation        int64              `parquet:"generation,delta"`
	Evaluations       int64              `parquet:"evaluations,delta"`
	WallTime          float64            `parquet:"wall_time_s"`
	BestFitness       float64            `parquet:"best_fitness"`
	MeanFitness       float64            `parquet:"mean_fitness"`
	BaseFitness       float64            `parquet:"base_fitness"`
	BaseBatchAccuracy float64            `parquet:"base_batch_accuracy"`
	PluginStats       map[string]float64 `parquet:"plugin_stats"`
	Timestamp         time.Time          `parquet:"timestamp,timestamp(millisecond)"`
}

const (
	oldRunsFixture = "testdata/runs-v0.parquet"
	oldGensFixture = "testdata/generations-v0/part-00000.parquet"
)

func writeOldFixtures(t *testing.T) {
	runs := []runRowV0{
		{RunID: "a", Experiment: "old", Method: "rtn", Kind: KindBaseline, Parameters: "{}", Dataset: "mnist",
			Model: "mlp", Bits: 4, ActBits: 32, Granularity: "per-tensor", Seed: 1, TestAcc: 0.97, TestLoss: 0.1, Status: StatusOK},
		{RunID: "b", Experiment: "old", Method: "ccea", Kind: KindOptimizer, Parameters: `{"lambda":32}`, Dataset: "mnist",
			Model: "mlp", Bits: 4, ActBits: 32, Granularity: "per-tensor", Seed: 1, TestAcc: 0.98, TestLoss: 0.08,
			Evaluations: 1000, WallTime: 10, Status: StatusOK},
	}
	var gens []generationRowV0
	for g := int64(0); g < 5; g++ {
		gens = append(gens, generationRowV0{RunID: "b", Experiment: "old", Variant: "ccea", Dataset: "mnist", Model: "mlp",
			Bits: 4, ActBits: 32, Seed: 1, Generation: g, Evaluations: 32 * (g + 1), BestFitness: 1 - 0.1*float64(g),
			BaseFitness: 1.1 - 0.1*float64(g), PluginStats: map[string]float64{"group_size": 10}, Timestamp: t0})
	}
	for path, write := range map[string]func(f *os.File) error{
		oldRunsFixture: func(f *os.File) error { return parquet.Write(f, runs) },
		oldGensFixture: func(f *os.File) error { return parquet.Write(f, gens) },
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOldSchemaFilesStayReadable(t *testing.T) {
	if *update {
		writeOldFixtures(t)
	}
	runs, err := ReadRuns(oldRunsFixture)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[1].Method != "ccea" || runs[1].TestAcc != 0.98 || runs[1].StartMethod != nil || runs[1].ValAcc != nil ||
		runs[1].IntegerTestAcc != nil || runs[1].IntegerNote != nil {
		t.Fatalf("old runs read as %+v", runs)
	}
	gens, err := ReadGenerations(filepath.Dir(oldGensFixture))
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 5 || gens[4].Generation != 4 || gens[0].ValidationAccuracy != nil || gens[2].PluginStats["group_size"] != 10 {
		t.Fatalf("old generations read as %+v", gens)
	}
	curves, err := LoadCurves(context.Background(), filepath.Dir(oldGensFixture))
	if err != nil {
		t.Fatal(err)
	}
	if len(curves) != 1 || len(curves[0].ValidationAccuracy) != 5 || !math.IsNaN(curves[0].ValidationAccuracy[0]) {
		t.Fatalf("old generations as curves: %+v", curves)
	}
}

func TestSchemasDocumentEveryColumn(t *testing.T) {
	for _, s := range Schemas() {
		if len(s.Columns) < 5 {
			t.Fatalf("table %s has %d columns", s.Name, len(s.Columns))
		}
		for _, c := range s.Columns {
			if c.Description == "" {
				t.Errorf("table %s column %s has no description", s.Name, c.Name)
			}
			if c.Type == "" || c.Type == "group" {
				t.Errorf("table %s column %s has type %q", s.Name, c.Name, c.Type)
			}
		}
	}
	gen := Schemas()[0]
	byName := map[string]ColumnSchema{}
	for _, c := range gen.Columns {
		byName[c.Name] = c
	}
	if c := byName["validation_accuracy"]; !c.Nullable || c.Type != "double" {
		t.Errorf("validation_accuracy documented as %+v", c)
	}
	if c := byName["plugin_stats"]; c.Type != "map<string, double>" {
		t.Errorf("plugin_stats documented as %+v", c)
	}
	if c := byName["timestamp"]; c.Type != "timestamp[ms, UTC]" {
		t.Errorf("timestamp documented as %+v", c)
	}
}

// TestREADMEHasCurrentSchemas keeps results/README.md in step with the code
// (go test ./results -update rewrites the section).
func TestREADMEHasCurrentSchemas(t *testing.T) {
	const begin, end = "<!-- schema:begin -->\n", "<!-- schema:end -->"
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the schema markers")
	}
	want := begin + SchemaMarkdown() + end
	if *update {
		s = s[:i] + want + s[j+len(end):]
		if err := os.WriteFile("README.md", []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s[i:j+len(end)] != want {
		t.Fatal("README.md's schema section is stale: run go test ./results -update")
	}
}

func TestParameters(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"", "{}", ""},
		{"  ", "{}", ""},
		{`{"b": 1e-1, "a": [1, 2]}`, `{"a":[1,2],"b":1e-1}`, ""},
		{`{"a":1}{"b":2}`, "", "trailing"},
		{`null`, "", "null"},
		{`[1]`, "", "JSON object"},
	} {
		got, err := CanonicalParameters(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q %v, want %q", c.in, got, err, c.want)
		}
	}
}

func TestProvenanceRoundTripAndErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), ProvenanceFile)
	p := Provenance{Experiment: "quick", CCQVersion: "0.1", Machine: CurrentMachine(), Started: t0,
		Ended: t0.Add(time.Minute), WallTime: 60, Status: StatusOK, Stages: 10, CacheHits: 4}
	if err := WriteProvenance(path, p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadProvenance(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("got %+v want %+v", got, p)
	}
	if p.Machine.CPUs <= 0 || p.Machine.OS == "" {
		t.Fatalf("machine %+v", p.Machine)
	}
	if _, err := ParseProvenance([]byte("{\n\"experiment\": \"x\",\n\"bogus\": 1}")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown field: err = %v", err)
	}
	if _, err := ParseProvenance([]byte("{\n\"experiment\": \"x\",\n oops}")); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("syntax error: err = %v", err)
	}
}

func FuzzReadRuns(f *testing.F) {
	var buf bytes.Buffer
	if err := parquet.Write(&buf, runRows()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Any input: rows or an error, never a panic.
		_, _ = decodeRows[RunRow](bytes.NewReader(b), int64(len(b)))
	})
}

func FuzzParseParameters(f *testing.F) {
	f.Add(`{"lambda": 32, "lr": 0.1}`)
	f.Add(``)
	f.Add(`{"a":{"b":[1,2,null]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalParameters(s)
		if err != nil {
			return
		}
		// Canonical form is a fixed point.
		c2, err := CanonicalParameters(c)
		if err != nil || c2 != c {
			t.Fatalf("canonical %q re-canonicalises to %q (%v)", c, c2, err)
		}
	})
}

func FuzzParseProvenance(f *testing.F) {
	f.Add([]byte(`{"experiment":"x","ccq_version":"1","machine":{"cpus":2},"started":"2026-01-01T00:00:00Z","wall_time_s":1,"status":"ok","stages":1,"cache_hits":0,"stages_run":1,"stages_failed":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseProvenance(b)
	})
}

// TestReadKeepsEveryRowsOwnMapsAndPointers: rows beyond the reader's
// batch (256) must not share the maps and pointers of earlier rows; a
// long run's plugin statistics and validation accuracies once all came back
// as those of its last batch. The same holds after TrimGenerations
// rewrites the part.
func TestReadKeepsEveryRowsOwnMapsAndPointers(t *testing.T) {
	dir := t.TempDir()
	w, err := NewGenerationWriter(dir, GenerationWriterOptions{RowsPerPart: 2000, PartInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 700
	var want []GenerationRow
	for g := int64(0); g < n; g++ {
		r := genRow("long", "ccea", 1, g)
		want = append(want, r)
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, rows []GenerationRow, upto int) {
		t.Helper()
		if len(rows) != upto {
			t.Fatalf("%s: %d rows, want %d", what, len(rows), upto)
		}
		for i, r := range rows {
			w := want[i]
			if r.PluginStats["group_size"] != w.PluginStats["group_size"] ||
				(r.ValidationAccuracy == nil) != (w.ValidationAccuracy == nil) ||
				(r.ValidationAccuracy != nil && *r.ValidationAccuracy != *w.ValidationAccuracy) {
				t.Fatalf("%s: row %d: stats %v val %v, want %v %v", what, i, r.PluginStats, r.ValidationAccuracy, w.PluginStats, w.ValidationAccuracy)
			}
		}
	}
	rows, err := ReadGenerations(dir)
	if err != nil {
		t.Fatal(err)
	}
	check("read", rows, n)
	if err := TrimGenerations(dir, 600); err != nil {
		t.Fatal(err)
	}
	rows, err = ReadGenerations(dir)
	if err != nil {
		t.Fatal(err)
	}
	check("trimmed", rows, 600)

	// runs.parquet: pointer columns of many rows.
	var runs []RunRow
	for i := 0; i < 600; i++ {
		r := runRows()[2]
		r.RunID = fmt.Sprintf("c%d", i)
		r.StartMethod = String(fmt.Sprintf("rtn-%d", i))
		r.ValAcc = Float64(float64(i) / 1000)
		if i%3 == 0 { // the integer-only columns: set, or null with a note
			r.IntegerTestAcc, r.IntegerTestLoss, r.IntegerAgree = Float64(float64(i)/700), Float64(0.25), Int64(int64(i))
		} else if i%3 == 1 {
			r.IntegerNote = String(fmt.Sprintf("not representable: %d", i))
		}
		runs = append(runs, r)
	}
	path := filepath.Join(t.TempDir(), RunsFile)
	if err := WriteRuns(path, runs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRuns(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if *r.StartMethod != *runs[i].StartMethod || *r.ValAcc != *runs[i].ValAcc {
			t.Fatalf("run row %d: start %q val %v, want %q %v", i, *r.StartMethod, *r.ValAcc, *runs[i].StartMethod, *runs[i].ValAcc)
		}
		w := runs[i]
		if (r.IntegerTestAcc == nil) != (w.IntegerTestAcc == nil) || (r.IntegerNote == nil) != (w.IntegerNote == nil) ||
			(r.IntegerAgree == nil) != (w.IntegerAgree == nil) || (r.IntegerTestLoss == nil) != (w.IntegerTestLoss == nil) {
			t.Fatalf("run row %d: integer columns %+v, want %+v", i, r, w)
		}
		if w.IntegerTestAcc != nil && (*r.IntegerTestAcc != *w.IntegerTestAcc || *r.IntegerAgree != *w.IntegerAgree || *r.IntegerTestLoss != 0.25) {
			t.Fatalf("run row %d: integer accuracy %v agree %v", i, *r.IntegerTestAcc, *r.IntegerAgree)
		}
		if w.IntegerNote != nil && *r.IntegerNote != *w.IntegerNote {
			t.Fatalf("run row %d: integer note %q, want %q", i, *r.IntegerNote, *w.IntegerNote)
		}
	}
}
