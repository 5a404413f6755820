package report

import (
	"fmt"

	"github.com/ccq-project/ccq/results"
)

// gapCaption explains every gap table.
const gapCaption = "Cells: mean ± sample std over seeds, (n) runs, of the share of the gap between an optimizer's start model " +
	"and the float model that the optimizer closed, in percent: 100 × (evolved − start) / (float − start) of test accuracy, " +
	"per run. 100 reaches the float model, 0 keeps the start's accuracy, below 0 loses accuracy. Runs whose start is not in " +
	"the experiment, or already at or above the float model, are left out. Best mean per column in bold; no significance marks."

// GapTables builds, per (dataset, model) with a float model, a table of the
// optimizer runs' share of the gap between their start and the float model
// that they closed (see gapCaption). Rows and columns are those of the main
// table's optimizer rows.
func GapTables(runs []results.RunRow) []Table {
	var out []Table
	for _, g := range groupRuns(runs) {
		float, nfloat := 0.0, 0
		byID := map[string]results.RunRow{}
		for _, r := range g.runs {
			if r.Status != results.StatusOK {
				continue
			}
			byID[r.RunID] = r
			if r.Kind == results.KindFloat {
				float += r.TestAcc
				nfloat++
			}
		}
		if nfloat == 0 {
			continue
		}
		float /= float64(nfloat)
		var shares []results.RunRow
		for _, r := range g.runs {
			if r.Kind != results.KindOptimizer || r.Status != results.StatusOK || r.StartMethod == nil {
				continue
			}
			start, ok := byID[*r.StartMethod]
			if !ok || float-start.TestAcc <= 0 {
				continue
			}
			r.TestAcc = (r.TestAcc - start.TestAcc) / (float - start.TestAcc)
			shares = append(shares, r)
		}
		if len(shares) == 0 {
			continue
		}
		t := buildTable(g.key, shares, rowByVariant)
		t.Kind = "gap"
		t.Title = fmt.Sprintf("%s on %s: share of the gap between start and float closed (%%)", g.key.model, g.key.dataset)
		out = append(out, t)
	}
	return out
}
