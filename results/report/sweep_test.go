package report

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/results"
)

// sweepRuns makes seeds of method at each group size with accuracy base +
// g/1e6 + seed/1000, so the means are known by hand.
func sweepRuns(method string, base float64, sizes []int, nseeds int) []results.RunRow {
	var out []results.RunRow
	for _, g := range sizes {
		for s := 1; s <= nseeds; s++ {
			r := run(method, results.KindOptimizer, 3, 32, int64(s), base+float64(g)/1e6+float64(s)/1000)
			r.Parameters = `{"group_size":` + strconv.Itoa(g) + `,"lambda":32}`
			r.RunID = method + strconv.Itoa(g) + "-" + strconv.Itoa(s)
			out = append(out, r)
		}
	}
	return out
}

func TestSweepsFromAblations(t *testing.T) {
	runs := sweepRuns("ccea-sweep", 0.80, []int{16000, 500, 2000}, 3)
	runs = append(runs, sweepRuns("random-sweep", 0.70, []int{500, 2000, 16000}, 2)...)
	// A method whose ablation varies a string parameter gives no sweep.
	for _, acc := range []string{"greedy", "recheck"} {
		r := run("other", results.KindOptimizer, 3, 32, 1, 0.5)
		r.Parameters = `{"acceptance":"` + acc + `"}`
		r.RunID = "other-" + acc
		runs = append(runs, r)
	}
	sw := Sweeps(AblationTables(runs))
	if len(sw) != 1 {
		t.Fatalf("%d sweeps, want 1: %+v", len(sw), sw)
	}
	s := sw[0]
	if s.Parameter != "group_size" || s.Column != (Column{3, 32}) || !s.LogX || len(s.Lines) != 2 {
		t.Fatalf("sweep %+v", s)
	}
	if s.Name() != "sweep-mnist-lenet5-group_size-w3-a32" {
		t.Fatalf("name %q", s.Name())
	}
	c := s.Lines[0]
	if c.Method != "ccea-sweep" || len(c.X) != 3 || c.X[0] != 500 || c.X[1] != 2000 || c.X[2] != 16000 {
		t.Fatalf("line %+v", c)
	}
	// Mean at 500: 80 + 0.05 + mean(0.1, 0.2, 0.3) = 80.25 percent; sd 0.1.
	if math.Abs(c.Mean[0]-80.25) > 1e-9 || math.Abs(c.Std[0]-0.1) > 1e-9 || c.N[0] != 3 {
		t.Fatalf("point at 500: mean %v sd %v n %d", c.Mean[0], c.Std[0], c.N[0])
	}
	if r := s.Lines[1]; r.Method != "random-sweep" || r.N[2] != 2 || math.Abs(r.Mean[2]-(70+1.6+0.15)) > 1e-9 {
		t.Fatalf("random line %+v", r)
	}
	var svg, pb bytes.Buffer
	if err := s.SVG(&svg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svg.String(), "random-sweep (n per point: 2)") || !strings.Contains(svg.String(), "16000") {
		t.Fatal("sweep SVG lacks the legend or the tick labels")
	}
	if err := s.PNG(&pb); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&pb); err != nil {
		t.Fatal(err)
	}
}

// One value of the parameter is not a sweep.
func TestSweepNeedsTwoValues(t *testing.T) {
	runs := sweepRuns("ccea-sweep", 0.8, []int{500}, 2)
	if sw := Sweeps(AblationTables(runs)); len(sw) != 0 {
		t.Fatalf("want no sweep, got %+v", sw)
	}
}

// A table with only the float model shows its accuracy in one "float"
// column (it had no column at all).
func TestFloatOnlyTable(t *testing.T) {
	tb := MainTables([]results.RunRow{run("float", results.KindFloat, 32, 32, 1, 0.9347)}, TableOptions{})[0]
	if len(tb.Columns) != 1 || tb.Columns[0].Label(tb.ShowAct) != "float" {
		t.Fatalf("columns %+v", tb.Columns)
	}
	var md bytes.Buffer
	tb.Markdown(&md)
	if !strings.Contains(md.String(), "93.47") {
		t.Fatalf("float-only table lacks the accuracy:\n%s", md.String())
	}
}

// Build writes each sweep as SVG and PNG and links it from report.md and
// report.html.
func TestBuildWritesSweeps(t *testing.T) {
	dir := t.TempDir()
	runs := append(sweepRuns("ccea-sweep", 0.8, []int{500, 2000}, 2), sweepRuns("random-sweep", 0.7, []int{500, 2000}, 2)...)
	if err := results.WriteRuns(filepath.Join(dir, results.RunsFile), runs); err != nil {
		t.Fatal(err)
	}
	sum, err := Build(context.Background(), dir, Options{Now: func() time.Time { return t0 }, BuiltBy: &builder})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Figures != 1 {
		t.Fatalf("%d figures, want the one sweep", sum.Figures)
	}
	name := "sweep-mnist-lenet5-group_size-w3-a32"
	for _, ext := range []string{".svg", ".png"} {
		if _, err := os.Stat(filepath.Join(dir, results.ReportPlotsDir, name+ext)); err != nil {
			t.Fatal(err)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, results.ReportMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, results.ReportHTML))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "## Parameter sweeps") || !strings.Contains(string(md), name+".svg") ||
		!strings.Contains(string(page), "random-sweep (n per point: 2)") {
		t.Fatal("the report does not show the sweep")
	}
}
