package report

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/results"
)

func TestGapTablesByHand(t *testing.T) {
	float := run("float", results.KindFloat, 32, 32, 1, 0.99)
	start := run("rtn", results.KindBaseline, 2, 32, 1, 0.79)
	above := run("mse", results.KindBaseline, 3, 32, 1, 0.995) // already above float: no gap to close
	runs := []results.RunRow{float, start, above}
	for i, acc := range []float64{0.89, 0.94} {
		r := run("ccea", results.KindOptimizer, 2, 32, int64(i+1), acc)
		r.StartMethod = &start.RunID
		runs = append(runs, r)
	}
	lost := "not-in-this-experiment"
	orphan := run("ccea", results.KindOptimizer, 2, 32, 3, 0.5)
	orphan.StartMethod = &lost
	fromAbove := run("ccea", results.KindOptimizer, 3, 32, 1, 0.99)
	fromAbove.StartMethod = &above.RunID
	runs = append(runs, orphan, fromAbove)

	gt := GapTables(runs)
	if len(gt) != 1 {
		t.Fatalf("%d gap tables, want 1", len(gt))
	}
	tb := gt[0]
	if len(tb.Rows) != 1 || tb.Rows[0].Label != "ccea" || len(tb.Columns) != 1 {
		t.Fatalf("gap table rows %+v columns %+v", tb.Rows, tb.Columns)
	}
	c := tb.Rows[0].Cells[0]
	// Shares (0.89-0.79)/0.2 = 0.5 and (0.94-0.79)/0.2 = 0.75; the orphan is left out.
	if c.N != 2 || math.Abs(c.Mean-0.625) > 1e-12 {
		t.Fatalf("gap cell %+v", c)
	}
	var md bytes.Buffer
	tb.Markdown(&md)
	if !strings.Contains(md.String(), "62.50") || !strings.Contains(tb.Caption(), "(float − start)") {
		t.Fatalf("gap table markdown:\n%s\ncaption %q", md.String(), tb.Caption())
	}
	// No float model: no table.
	if gt := GapTables(runs[1:]); len(gt) != 0 {
		t.Fatalf("gap tables without a float model: %+v", gt)
	}
}
