package report

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/results"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func run(method, kind string, bits, act int32, seed int64, acc float64) results.RunRow {
	return results.RunRow{RunID: method + "-" + string(rune('a'+seed)), Experiment: "e", Method: method, Kind: kind,
		Parameters: "{}", Dataset: "mnist", Model: "lenet5", Bits: bits, ActBits: act, Granularity: "per-tensor",
		Seed: seed, TestAcc: acc, Status: results.StatusOK}
}

func seeds(method, kind string, bits int32, accs ...float64) []results.RunRow {
	var out []results.RunRow
	for i, a := range accs {
		out = append(out, run(method, kind, bits, 32, int64(i+1), a))
	}
	return out
}

func rowByLabel(t *testing.T, tb Table, label string) Row {
	t.Helper()
	for _, r := range tb.Rows {
		if r.Label == label {
			return r
		}
	}
	t.Fatalf("no row %q in %+v", label, tb.Rows)
	return Row{}
}

func TestMainTableCellsBestAndMarks(t *testing.T) {
	var runs []results.RunRow
	runs = append(runs, run("float", results.KindFloat, 32, 32, 1, 0.995))
	runs[0].UsedFPGradients = true
	runs = append(runs, seeds("ccea", results.KindOptimizer, 2, 0.90, 0.91, 0.92, 0.93, 0.94)...)
	runs = append(runs, seeds("better", results.KindOptimizer, 2, 0.95, 0.96, 0.97, 0.98, 0.99)...)
	runs = append(runs, seeds("worse", results.KindOptimizer, 2, 0.80, 0.81, 0.82, 0.83, 0.84)...)
	runs = append(runs, seeds("same", results.KindOptimizer, 2, 0.905, 0.915, 0.925, 0.935, 0.945)...)
	runs = append(runs, seeds("rtn", results.KindBaseline, 2, 0.5)...)
	qat := seeds("qat", results.KindBaseline, 2, 0.7)
	qat[0].UsedFPGradients = true
	runs = append(runs, qat...)
	failed := run("ccea", results.KindOptimizer, 2, 32, 9, 0.1)
	failed.Status = results.StatusFailed
	runs = append(runs, failed)
	runs = append(runs, seeds("ccea", results.KindOptimizer, 4, 0.97, 0.98)...)

	tables := MainTables(runs, TableOptions{})
	if len(tables) != 1 {
		t.Fatalf("%d tables, want 1", len(tables))
	}
	tb := tables[0]
	if len(tb.Columns) != 2 || tb.Columns[0] != (Column{2, 32}) || tb.Columns[1] != (Column{4, 32}) || tb.ShowAct {
		t.Fatalf("columns %+v show act %v", tb.Columns, tb.ShowAct)
	}
	var labels []string
	for _, r := range tb.Rows {
		labels = append(labels, r.Label)
	}
	if got := strings.Join(labels, " "); got != "float qat rtn better ccea same worse" {
		t.Fatalf("row order %q: want float, baselines, optimizers, each sorted", got)
	}
	ref := rowByLabel(t, tb, "ccea")
	c := ref.Cells[0]
	if c.N != 5 || math.Abs(c.Mean-0.92) > 1e-12 || math.Abs(c.Std-math.Sqrt(0.00025)) > 1e-12 || c.Mark != "" {
		t.Fatalf("ccea 2-bit cell %+v: want n 5, mean 0.92, std sqrt(0.00025), no mark", c)
	}
	if ref.Failed != 1 {
		t.Fatalf("ccea failed = %d, want 1", ref.Failed)
	}
	if ref.Cells[1] == nil || ref.Cells[1].N != 2 {
		t.Fatalf("ccea 4-bit cell %+v", ref.Cells[1])
	}
	// 3 comparisons in the 2-bit column (the single-run baselines are not
	// tested); better and worse have exact p = 2/252, Holm multiplies the
	// smallest by 3 and the next by 2 (then the running maximum): both
	// stay below 0.05.
	want := map[string]string{"better": "+", "worse": "-", "same": "=", "rtn": "", "qat": "", "float": ""}
	for label, mark := range want {
		if got := rowByLabel(t, tb, label).Cells[0].Mark; got != mark {
			t.Errorf("%s mark %q, want %q", label, got, mark)
		}
	}
	for _, label := range []string{"better", "worse"} {
		if p := rowByLabel(t, tb, label).Cells[0].P; math.Abs(p-3*2.0/252) > 1e-12 {
			t.Errorf("%s adjusted p = %v, want 3 times 2/252", label, p)
		}
	}
	if p := rowByLabel(t, tb, "rtn").Cells[0].P; !math.IsNaN(p) {
		t.Errorf("rtn (one run) adjusted p = %v, want NaN (not tested)", p)
	}
	if !rowByLabel(t, tb, "better").Cells[0].Best || rowByLabel(t, tb, "float").Cells[0].Best || ref.Cells[0].Best {
		t.Error("best flag: want only 'better' in the 2-bit column (float excluded)")
	}
	if !ref.Cells[1].Best {
		t.Error("ccea is the only quantized row at 4 bits and must be best")
	}
	if f := rowByLabel(t, tb, "float"); f.Cells[1] == nil || f.Cells[1].Mean != 0.995 || f.FPGradients != "yes" {
		t.Errorf("float row %+v: want its accuracy repeated and fp gradients yes", f)
	}
	if rowByLabel(t, tb, "qat").FPGradients != "yes" || rowByLabel(t, tb, "rtn").FPGradients != "no" {
		t.Error("fp gradients column wrong")
	}

	var md, txt, h bytes.Buffer
	tb.Markdown(&md)
	tb.Text(&txt)
	tb.HTML(&h)
	if !strings.Contains(md.String(), "| **97.00 ± 1.58 (5) +** |") {
		t.Errorf("markdown lacks the bold best cell with its mark:\n%s", md.String())
	}
	if !strings.Contains(md.String(), "82.00 ± 1.58 (5) −") || !strings.Contains(md.String(), "full-precision gradients") {
		t.Errorf("markdown:\n%s", md.String())
	}
	if !strings.Contains(txt.String(), "ccea (ref.)") || !strings.Contains(txt.String(), "97.00 ± 1.58 (5) + *") {
		t.Errorf("text:\n%s", txt.String())
	}
	if !strings.Contains(h.String(), "<strong>97.00 ± 1.58 (5) +</strong>") {
		t.Errorf("html:\n%s", h.String())
	}
	// JSON: NaN std (n = 1) becomes null.
	b, err := json.Marshal(tb)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"std":null`) {
		t.Errorf("JSON lacks null std: %s", b)
	}
}

func TestNoReferenceNoMarks(t *testing.T) {
	runs := seeds("eda", results.KindOptimizer, 2, 0.9, 0.91)
	tb := MainTables(runs, TableOptions{Reference: "ccea"})[0]
	if tb.Reference != "" || tb.Rows[0].Cells[0].Mark != "" {
		t.Fatalf("marks without a reference: %+v", tb)
	}
	if !strings.Contains(tb.Caption(), "No significance marks") {
		t.Fatalf("caption %q", tb.Caption())
	}
}

func TestActBitsColumns(t *testing.T) {
	runs := []results.RunRow{run("rtn", results.KindBaseline, 4, 8, 1, 0.9), run("rtn", results.KindBaseline, 4, 32, 1, 0.92),
		run("rtn", results.KindBaseline, 2, 4, 1, 0.5)}
	tb := MainTables(runs, TableOptions{})[0]
	var labels []string
	for _, c := range tb.Columns {
		labels = append(labels, c.Label(tb.ShowAct))
	}
	if got := strings.Join(labels, "; "); got != "W2 A4; W4 A32 (float); W4 A8" {
		t.Fatalf("column labels %q", got)
	}
}

func TestAblationTable(t *testing.T) {
	var runs []results.RunRow
	for _, lambda := range []string{"16", "32"} {
		for s := int64(1); s <= 3; s++ {
			r := run("ccea", results.KindOptimizer, 2, 32, s, 0.9+float64(s)/100)
			r.Parameters = `{"lambda":` + lambda + `,"lr":0.1}`
			r.RunID += lambda
			runs = append(runs, r)
		}
	}
	runs = append(runs, seeds("rtn", results.KindBaseline, 2, 0.5)...)
	main := MainTables(runs, TableOptions{})[0]
	rowByLabel(t, main, "ccea (lambda=16)")
	rowByLabel(t, main, "ccea (lambda=32)")
	abl := AblationTables(runs)
	if len(abl) != 1 {
		t.Fatalf("%d ablation tables, want 1", len(abl))
	}
	a := abl[0]
	if a.Parameter != "lambda" || len(a.Rows) != 2 || a.Rows[0].Label != "lambda=16" || a.Rows[1].Label != "lambda=32" {
		t.Fatalf("ablation %+v", a)
	}
	if a.Rows[0].Cells[0].N != 3 {
		t.Fatalf("ablation cell %+v", a.Rows[0].Cells[0])
	}
	var md bytes.Buffer
	a.Markdown(&md)
	if !strings.HasPrefix(md.String(), "| lambda | 2 bits |") {
		t.Fatalf("ablation markdown:\n%s", md.String())
	}
}

func TestConvergenceBandsByHand(t *testing.T) {
	curves := []results.Curve{
		{RunID: "a", Variant: "v", Dataset: "d", Model: "m", Bits: 2, ActBits: 32, Evaluations: []int64{10, 20, 30},
			BaseFitness: []float64{3, 2, 1}, ValidationAccuracy: []float64{math.NaN(), 0.5, math.NaN()}},
		{RunID: "b", Variant: "v", Dataset: "d", Model: "m", Bits: 2, ActBits: 32, Evaluations: []int64{10, 20, 30},
			BaseFitness: []float64{5, 4, 3}, ValidationAccuracy: []float64{math.NaN(), math.NaN(), math.NaN()}},
		{RunID: "c", Variant: "v", Dataset: "d", Model: "m", Bits: 2, ActBits: 32, Evaluations: []int64{10, 20},
			BaseFitness: []float64{100, 100}, ValidationAccuracy: []float64{math.NaN(), math.NaN()}},
	}
	cs := Convergences(curves)
	if len(cs) != 1 || len(cs[0].Fitness) != 1 || cs[0].MaxEvaluations != 30 {
		t.Fatalf("convergences %+v", cs)
	}
	f := cs[0].Fitness[0]
	if len(f.X) != GridPoints || f.X[0] != 10 || f.X[GridPoints-1] != 30 {
		t.Fatalf("grid %v..%v (%d points)", f.X[0], f.X[len(f.X)-1], len(f.X))
	}
	// x = 10: values 3, 5, 100: median 5, type-7 Q1 4, Q3 52.5.
	if f.Median[0] != 5 || f.Q1[0] != 4 || f.Q3[0] != 52.5 || f.N[0] != 3 {
		t.Fatalf("at 10: median %v q1 %v q3 %v n %d", f.Median[0], f.Q1[0], f.Q3[0], f.N[0])
	}
	// x = 30: run c stopped at 20; values 1, 3: median 2, Q1 1.5, Q3 2.5.
	last := GridPoints - 1
	if f.Median[last] != 2 || f.Q1[last] != 1.5 || f.Q3[last] != 2.5 || f.N[last] != 2 {
		t.Fatalf("at 30: median %v q1 %v q3 %v n %d", f.Median[last], f.Q1[last], f.Q3[last], f.N[last])
	}
	// Validation: only run a measured (0.5 at 20, carried to 30), in percent.
	v := cs[0].ValAccuracy
	if len(v) != 1 || v[0].X[0] < 20 || v[0].Median[0] != 50 || v[0].X[len(v[0].X)-1] != 30 {
		t.Fatalf("validation band %+v", v)
	}
}

// goldenCurves is a small deterministic input for the plot golden file.
func goldenCurves() []results.Curve {
	var cs []results.Curve
	for vi, v := range []string{"ccea", "ccea-random", "eda"} {
		for s := 0; s < 3; s++ {
			c := results.Curve{RunID: v + string(rune('0'+s)), Variant: v, Dataset: "mnist", Model: "lenet5", Bits: 2, ActBits: 32, Seed: int64(s)}
			for g := 0; g < 40; g++ {
				c.Generation = append(c.Generation, int64(g))
				c.Evaluations = append(c.Evaluations, int64(32*(g+1)))
				f := 2.3*math.Exp(-float64(g)/float64(10+5*vi)) + 0.1*float64(s) + 0.2
				c.BaseFitness = append(c.BaseFitness, f)
				c.BestFitness = append(c.BestFitness, f-0.05)
				val := math.NaN()
				if g%8 == 7 {
					val = 0.5 + 0.4*(1-math.Exp(-float64(g)/float64(10+5*vi))) + 0.01*float64(s)
				}
				c.ValidationAccuracy = append(c.ValidationAccuracy, val)
			}
			cs = append(cs, c)
		}
	}
	return cs
}

// TestConvergenceSVGGolden: gonum/plot's SVG output is byte-stable, so the
// figure must match testdata/convergence.golden.svg byte for byte
// (go test ./results/report -run Golden -update rewrites it).
func TestConvergenceSVGGolden(t *testing.T) {
	cs := Convergences(goldenCurves())
	if len(cs) != 1 {
		t.Fatalf("%d figures", len(cs))
	}
	got, err := cs[0].svgBytes()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/convergence.golden.svg"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		os.WriteFile(filepath.Join(t.TempDir(), "got.svg"), got, 0o644)
		t.Fatalf("SVG differs from %s (%d vs %d bytes); if the change is intended, rerun with -update", golden, len(got), len(want))
	}
	// The figure carries labelled axes with units, the legend and one dash
	// pattern per variant after the first (grayscale readability).
	s := string(got)
	for _, want := range []string{"fitness evaluations (count)", "batch cross-entropy (nats)", "validation accuracy (%)",
		"ccea (3 runs)", "ccea-random (3 runs)", "eda (3 runs)"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if n := len(regexp.MustCompile(`stroke-dasharray:[0-9]`).FindAllString(s, -1)); n < 2 {
		t.Errorf("found %d dashed strokes; variants must differ by line style", n)
	}
}

func TestPNGDecodes(t *testing.T) {
	cs := Convergences(goldenCurves())
	var b bytes.Buffer
	if err := cs[0].PNG(&b); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	// 6.5 in x 6.4 in (two panels) at 150 dpi.
	if r := img.Bounds(); r.Dx() != 975 || r.Dy() != 960 {
		t.Fatalf("PNG size %v", r)
	}
}

// externalRef matches anything in HTML that would make a browser fetch:
// attributes naming a resource, CSS url()/@import, or tags that load.
var externalRef = regexp.MustCompile(`(?i)(\s(href|src|srcset|xlink:href|action|poster|data|background)\s*=)|url\(|@import|<(script|link|iframe|img|object|embed|video|audio|source)\b`)

func buildSynthetic(t *testing.T, s synth) (string, Summary) {
	t.Helper()
	dir := t.TempDir()
	writeSynthetic(t, dir, s)
	sum, err := Build(context.Background(), dir, Options{Now: func() time.Time { return t0 }, BuiltBy: &builder})
	if err != nil {
		t.Fatal(err)
	}
	return dir, sum
}

// builder is the ccq the synthetic reports name as their builder (the real
// one's commit changes with every commit).
var builder = version.Info{Version: "0.1.0-test", Commit: "0123456789ab"}

var small = synth{datasets: []string{"mnist"}, models: []string{"lenet5"}, bits: []int32{2, 4},
	variants: []string{"ccea", "eda"}, seeds: 3, generations: 60, valEvery: 10, lambda: 32}

func TestBuildWritesSelfContainedReport(t *testing.T) {
	dir, sum := buildSynthetic(t, small)
	if sum.Partial || len(sum.MainTables) != 1 || sum.Figures != 2 || sum.EvolveRuns != 12 || sum.Generations != 720 {
		t.Fatalf("summary %+v", sum)
	}
	for _, f := range []string{"report.md", "report.html", "tables/main-mnist-lenet5.csv", "tables/runs.csv",
		"plots/convergence-mnist-lenet5-w2-a32.svg", "plots/convergence-mnist-lenet5-w2-a32.png",
		"plots/convergence-mnist-lenet5-w4-a32.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	hb, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	h := string(hb)
	if m := externalRef.FindAllString(h, 5); len(m) > 0 {
		t.Fatalf("report.html has external references: %q", m)
	}
	// The only URLs are XML namespace names, which browsers never fetch.
	for _, m := range regexp.MustCompile(`https?://[^"' )]+`).FindAllStringIndex(h, -1) {
		before := h[max(0, m[0]-20):m[0]]
		if !regexp.MustCompile(`xmlns(:\w+)?="$`).MatchString(before) {
			t.Fatalf("URL outside a namespace declaration: %q", h[max(0, m[0]-30):m[1]])
		}
	}
	if n := strings.Count(h, "<svg"); n != 2 {
		t.Fatalf("%d inline SVGs, want 2", n)
	}
	if strings.Contains(h, "<?xml") {
		t.Fatal("XML prolog left inside HTML")
	}
	// The main table's cells and the escaped experiment file are there.
	cell := FormatCell(sum.MainTables[0].Rows[len(sum.MainTables[0].Rows)-1].Cells[0])
	if !strings.Contains(h, cell) || !strings.Contains(h, "# a &lt;comment&gt; &amp; more") {
		t.Fatalf("report.html lacks the cell %q or the escaped experiment file", cell)
	}
	if strings.Contains(h, "PARTIAL") {
		t.Fatal("complete experiment marked partial")
	}
	// report.md as a whole is pinned by TestReportMarkdownGolden; here only
	// that it shows the cell the HTML shows.
	if mb, err := os.ReadFile(filepath.Join(dir, "report.md")); err != nil || !strings.Contains(string(mb), cell) {
		t.Errorf("report.md lacks the cell %q (%v)", cell, err)
	}
	csvb, _ := os.ReadFile(filepath.Join(dir, "tables/main-mnist-lenet5.csv"))
	if !strings.HasPrefix(string(csvb), "dataset,model,row,method,kind,setting,bits,act_bits,n,mean_pct") ||
		!strings.Contains(string(csvb), "mnist,lenet5,ccea,ccea,optimizer,,2,32,3,") {
		t.Errorf("CSV:\n%s", csvb)
	}
	// Building twice gives the same bytes (no map-order or clock noise).
	b2, err := Build(context.Background(), dir, Options{Now: func() time.Time { return t0 }, BuiltBy: &builder})
	if err != nil {
		t.Fatal(err)
	}
	hb2, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !bytes.Equal(hb, hb2) || len(b2.Files) != len(sum.Files) {
		t.Fatal("second build differs from the first")
	}
	// No temporary files left.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestPartialReportIsMarked(t *testing.T) {
	s := small
	s.partial = true
	dir, sum := buildSynthetic(t, s)
	if !sum.Partial || len(sum.PartialReasons) < 2 {
		t.Fatalf("summary %+v: want partial with reasons", sum)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	h, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(md), "PARTIAL REPORT") || !strings.Contains(string(h), `class="partial"`) {
		t.Fatal("partial report not marked in report.md and report.html")
	}
	if !strings.Contains(string(md), "have not finished") {
		t.Fatalf("report.md does not say which stages are unfinished:\n%s", md)
	}
}

func TestBuildWithOnlyGenerations(t *testing.T) {
	dir := t.TempDir()
	w, err := results.NewGenerationWriter(filepath.Join(dir, results.GenerationsDir, "r1"), results.GenerationWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for g := int64(0); g < 10; g++ {
		if err := w.Write(results.GenerationRow{RunID: "r1", Variant: "ccea", Dataset: "mnist", Model: "mlp", Bits: 2,
			ActBits: 32, Generation: g, Evaluations: 32 * (g + 1), BaseFitness: 2 - 0.1*float64(g), Timestamp: t0}); err != nil {
			t.Fatal(err)
		}
	}
	// The run is still going: one complete part and an open one.
	if err := w.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(results.GenerationRow{RunID: "r1", Variant: "ccea", Generation: 10, Evaluations: 352, Timestamp: t0}); err != nil {
		t.Fatal(err)
	}
	sum, err := Build(context.Background(), dir, Options{NoPNG: true})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Partial || sum.Generations != 10 || sum.Figures != 1 || len(sum.MainTables) != 0 {
		t.Fatalf("summary %+v", sum)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "runs.parquet is missing") || !strings.Contains(string(md), "No evaluated models yet") {
		t.Fatalf("report.md:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(dir, "plots/convergence-mnist-mlp-w2-a32.png")); !os.IsNotExist(err) {
		t.Fatal("NoPNG wrote a PNG")
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(context.Background(), filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Fatal("missing folder accepted")
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, results.RunsFile)
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if _, err := Build(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err = %v, want one naming %s", err, bad)
	}
	os.Remove(bad)
	os.WriteFile(filepath.Join(dir, results.ProvenanceFile), []byte("{\n\"experiment\": 3}"), 0o644)
	if _, err := Build(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), results.ProvenanceFile) {
		t.Fatalf("err = %v, want one naming provenance.json", err)
	}
}

func TestCompare(t *testing.T) {
	a := append(seeds("ccea", results.KindOptimizer, 2, 0.90, 0.91, 0.92), seeds("rtn", results.KindBaseline, 2, 0.5)...)
	b := seeds("ccea", results.KindOptimizer, 2, 0.91, 0.92, 0.93)
	b = append(b, seeds("eda", results.KindOptimizer, 2, 0.8)...)
	c := Compare("A", MainTables(a, TableOptions{}), "B", MainTables(b, TableOptions{}))
	if len(c.Cells) != 3 {
		t.Fatalf("%d cells: %+v", len(c.Cells), c.Cells)
	}
	byRow := map[string]CompareCell{}
	for _, x := range c.Cells {
		byRow[x.Row] = x
	}
	if x := byRow["ccea"]; math.Abs(x.Diff-0.01) > 1e-12 || x.A.N != 3 || x.B.N != 3 || !(x.P > 0.05) {
		t.Fatalf("ccea cell %+v", x)
	}
	if x := byRow["rtn"]; x.B != nil || !math.IsNaN(x.Diff) {
		t.Fatalf("rtn only in A: %+v", x)
	}
	if x := byRow["eda"]; x.A != nil || x.B == nil {
		t.Fatalf("eda only in B: %+v", x)
	}
	js, err := json.Marshal(c)
	if err != nil || !strings.Contains(string(js), `"diff":null`) {
		t.Fatalf("JSON %s %v", js, err)
	}
	var txt bytes.Buffer
	if err := c.Text(&txt); err != nil || !strings.Contains(txt.String(), "+1.00") {
		t.Fatalf("text:\n%s", txt.String())
	}
}

func TestCompareDirs(t *testing.T) {
	da, db := t.TempDir(), t.TempDir()
	if err := results.WriteRuns(filepath.Join(da, results.RunsFile), seeds("ccea", results.KindOptimizer, 2, 0.9, 0.91)); err != nil {
		t.Fatal(err)
	}
	if err := results.WriteRuns(filepath.Join(db, "other.parquet"), seeds("ccea", results.KindOptimizer, 2, 0.8, 0.81)); err != nil {
		t.Fatal(err)
	}
	c, err := CompareDirs(da, filepath.Join(db, "other.parquet"), TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Cells) != 1 || math.Abs(c.Cells[0].Diff+0.1) > 1e-12 {
		t.Fatalf("comparison %+v", c)
	}
	if _, err := CompareDirs(da, t.TempDir(), TableOptions{}); err == nil || !strings.Contains(err.Error(), "runs.parquet") {
		t.Fatalf("err = %v", err)
	}
}

func TestEvalTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{32, 160000, "20k 40k 60k 80k 100k 120k 140k 160k"},
		{0, 5000, "0 1k 2k 3k 4k 5k"},
		{0, 2.5e6, "0 500k 1M 1.5M 2M 2.5M"},
		{10, 30, "10 15 20 25 30"},
	} {
		var labels []string
		for _, tk := range evalTicks(c.lo, c.hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if got := strings.Join(labels, " "); got != c.want {
			t.Errorf("ticks(%v, %v) = %q, want %q", c.lo, c.hi, got, c.want)
		}
	}
}

func TestLegendCountsRuns(t *testing.T) {
	if got := plural(1, "run"); got != "1 run" {
		t.Errorf("plural(1) = %q", got)
	}
	if got := plural(3, "run"); got != "3 runs" {
		t.Errorf("plural(3) = %q", got)
	}
}

// TestPairMarks: with pairs, each row of a pair's first method is tested
// against its partner with the same setting (Holm over the pairs of the
// column), rows in no pair get no mark, and the reference is not used.
func TestPairMarks(t *testing.T) {
	var runs []results.RunRow
	runs = append(runs, seeds("conf", results.KindOptimizer, 3, 0.90, 0.91, 0.92, 0.93, 0.94)...)
	runs = append(runs, seeds("rand", results.KindOptimizer, 3, 0.80, 0.81, 0.82, 0.83, 0.84)...)
	runs = append(runs, seeds("ccea", results.KindOptimizer, 3, 0.95, 0.96, 0.97, 0.98, 0.99)...)
	// A swept method: confidence wins at G 500, not at G 8000.
	sweep := func(method, g string, accs ...float64) {
		for _, r := range seeds(method, results.KindOptimizer, 3, accs...) {
			r.RunID += "-" + g
			r.Parameters = `{"group_size":` + g + `}`
			runs = append(runs, r)
		}
	}
	sweep("conf-g", "500", 0.90, 0.91, 0.92, 0.93, 0.94)
	sweep("rand-g", "500", 0.70, 0.71, 0.72, 0.73, 0.74)
	sweep("conf-g", "8000", 0.90, 0.91, 0.92, 0.93, 0.94)
	sweep("rand-g", "8000", 0.905, 0.915, 0.925, 0.935, 0.945)
	runs = append(runs, seeds("rtn", results.KindBaseline, 3, 0.5)...)

	tb := MainTables(runs, TableOptions{Reference: "ccea", Pairs: []Pair{{"conf", "rand"}, {"conf-g", "rand-g"}, {"missing", "rand"}}})[0]
	if tb.Reference != "" {
		t.Errorf("reference %q with pairs", tb.Reference)
	}
	if got := strings.Join(tb.Pairs, "; "); got != "conf vs rand; conf-g vs rand-g" {
		t.Errorf("pairs %q", got)
	}
	// Three tests in the column; two reach the exact p = 2/252.
	want := map[string]struct {
		mark, against string
	}{
		"conf":                     {"+", "rand"},
		"conf-g (group_size=500)":  {"+", "rand-g (group_size=500)"},
		"conf-g (group_size=8000)": {"=", "rand-g (group_size=8000)"},
		"rand":                     {"", ""},
		"rand-g (group_size=500)":  {"", ""},
		"ccea":                     {"", ""},
		"rtn":                      {"", ""},
	}
	for label, w := range want {
		c := rowByLabel(t, tb, label).Cells[0]
		if c.Mark != w.mark || c.Against != w.against {
			t.Errorf("%s: mark %q against %q, want %q against %q", label, c.Mark, c.Against, w.mark, w.against)
		}
	}
	c := rowByLabel(t, tb, "conf").Cells[0]
	if math.Abs(c.PRaw-2.0/252) > 1e-12 || math.Abs(c.P-3*2.0/252) > 1e-12 {
		t.Errorf("conf: raw p %v, Holm p %v; want 2/252 and 3 times that", c.PRaw, c.P)
	}
	if !strings.Contains(tb.Caption(), "conf vs rand; conf-g vs rand-g") {
		t.Errorf("caption %q does not name the pairs", tb.Caption())
	}
	var csvb bytes.Buffer
	if err := tb.CSV(&csvb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csvb.String(), ",p_raw,tested_against\n") || !strings.Contains(csvb.String(), ",0.00793651,rand\n") {
		t.Errorf("csv lacks the raw p-value and the partner:\n%s", csvb.String())
	}
}

func TestCompareSettings(t *testing.T) {
	// The rows of one method share their keys (an unset one is "(unset)").
	sorted := []string{"", `{"a":0.25,"g":"(unset)"}`, `{"a":0.25,"g":500}`, `{"a":0.25,"g":2000}`, `{"a":0.25,"g":16000}`,
		`{"a":0.3,"g":"(unset)"}`, `{"a":0.3,"g":500}`, `{"a":0.3,"g":true}`}
	for i := range sorted {
		for j := range sorted {
			got := compareSettings(sorted[i], sorted[j])
			want := cmp.Compare(i, j)
			if got != want {
				t.Errorf("compareSettings(%s, %s) = %d, want %d", sorted[i], sorted[j], got, want)
			}
		}
	}
}

func TestShellJoinQuotesWhatAShellWouldInterpret(t *testing.T) {
	got := shellJoin([]string{"ccq", "run", "a b.toml", "--set", "optimizers[*].seeds=[1]", "", "it's", "x=1,y:2"})
	want := `ccq run 'a b.toml' --set 'optimizers[*].seeds=[1]' '' 'it'\''s' x=1,y:2`
	if got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}

// TestReportMarkdownGolden builds the report of a small synthetic
// experiment (one dataset and model, two optimizers at 2 and 4 bits, three
// seeds, with provenance) and requires report.md to match
// testdata/report.golden.md byte for byte: tables, marks, captions, plot
// links, provenance and the experiment file (go test ./results/report
// -run Golden -update rewrites it; review the diff).
func TestReportMarkdownGolden(t *testing.T) {
	dir, _ := buildSynthetic(t, small)
	got, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(got), dir) {
		t.Fatal("report.md names the temporary folder it was built in: the golden file would not be stable")
	}
	const golden = "testdata/report.golden.md"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("report.md differs from %s at line %d:\n got: %q\nwant: %q\n(if the change is intended, rerun with -update and review the diff)", golden, i+1, g, w)
			}
		}
	}
}

// The runs table carries the integer-only columns: values when set, empty
// when null.
func TestRunsCSVIntegerColumns(t *testing.T) {
	runs := []results.RunRow{
		{RunID: "a", Method: "rtn", Kind: results.KindBaseline, Bits: 4, ActBits: 8, IntegerTestAcc: results.Float64(0.5),
			IntegerTestLoss: results.Float64(0.25), IntegerAgree: results.Int64(7)},
		{RunID: "b", Method: "rtn", Kind: results.KindBaseline, Bits: 4, ActBits: 8, IntegerNote: results.String("off")},
	}
	var buf bytes.Buffer
	if err := runsCSV(&buf, runs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], ",integer_test_accuracy,integer_test_loss,integer_agree,integer_note") ||
		!strings.HasSuffix(lines[1], ",0.5,0.25,7,") || !strings.HasSuffix(lines[2], ",,,,off") {
		t.Errorf("runs.csv:\n%s", buf.String())
	}
}
