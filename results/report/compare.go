package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/results/stats"
)

// CompareCell is one main-table cell of two experiments side by side.
type CompareCell struct {
	Dataset string `json:"dataset"`
	Model   string `json:"model"`
	Row     string `json:"row"`
	Column  Column `json:"column"`
	A       *Cell  `json:"a"` // nil when experiment A has no such cell
	B       *Cell  `json:"b"`
	// Diff is B's mean minus A's mean (fraction; NaN when a side is missing).
	Diff float64 `json:"diff"`
	// P is the two-sided rank-sum p-value of A's values against B's
	// (uncorrected; NaN when a side is missing).
	P float64 `json:"p"`
}

// MarshalJSON writes NaN as null.
func (c CompareCell) MarshalJSON() ([]byte, error) {
	type plain CompareCell
	return json.Marshal(struct {
		plain
		Diff *float64 `json:"diff"`
		P    *float64 `json:"p"`
	}{plain(c), nanNull(c.Diff), nanNull(c.P)})
}

// Comparison lists the cells of two experiments' main tables.
type Comparison struct {
	A     string        `json:"a"`
	B     string        `json:"b"`
	Cells []CompareCell `json:"cells"`
}

type cellKey struct {
	dataset, model, row string
	col                 Column
}

// Compare matches the cells of two sets of main tables by dataset, model,
// row label and column.
func Compare(nameA string, a []Table, nameB string, b []Table) Comparison {
	out := Comparison{A: nameA, B: nameB}
	idx := map[cellKey]int{}
	order := map[cellKey]int{}
	add := func(tables []Table, side int) {
		for _, t := range tables {
			for ri, r := range t.Rows {
				for ci, c := range r.Cells {
					if c == nil {
						continue
					}
					k := cellKey{t.Dataset, t.Model, r.Label, t.Columns[ci]}
					i, ok := idx[k]
					if !ok {
						i = len(out.Cells)
						idx[k] = i
						order[k] = kindOrder(r.Kind)*100000 + ri
						out.Cells = append(out.Cells, CompareCell{Dataset: t.Dataset, Model: t.Model, Row: r.Label, Column: t.Columns[ci]})
					}
					if side == 0 {
						out.Cells[i].A = c
					} else {
						out.Cells[i].B = c
					}
				}
			}
		}
	}
	add(a, 0)
	add(b, 1)
	for i := range out.Cells {
		c := &out.Cells[i]
		c.Diff, c.P = math.NaN(), math.NaN()
		if c.A != nil && c.B != nil {
			c.Diff = c.B.Mean - c.A.Mean
			if r, err := stats.RankSum(c.B.Values, c.A.Values, stats.Auto); err == nil {
				c.P = r.P
			}
		}
	}
	slices.SortStableFunc(out.Cells, func(x, y CompareCell) int {
		kx := cellKey{x.Dataset, x.Model, x.Row, x.Column}
		ky := cellKey{y.Dataset, y.Model, y.Row, y.Column}
		return cmp.Or(cmp.Compare(x.Dataset, y.Dataset), cmp.Compare(x.Model, y.Model),
			cmp.Compare(order[kx], order[ky]), cmp.Compare(x.Row, y.Row),
			cmp.Compare(x.Column.Bits, y.Column.Bits), cmp.Compare(y.Column.ActBits, x.Column.ActBits))
	})
	return out
}

// CompareDirs reads runs.parquet of two results folders (or two runs.parquet
// files) and compares their main tables.
func CompareDirs(a, b string, opts TableOptions) (Comparison, error) {
	ra, err := readRunsAt(a)
	if err != nil {
		return Comparison{}, err
	}
	rb, err := readRunsAt(b)
	if err != nil {
		return Comparison{}, err
	}
	return Compare(a, MainTables(ra, opts), b, MainTables(rb, opts)), nil
}

func readRunsAt(p string) ([]results.RunRow, error) {
	if strings.HasSuffix(p, ".parquet") {
		return results.ReadRuns(p)
	}
	return results.ReadRuns(filepath.Join(p, results.RunsFile))
}

// Text writes the comparison as aligned columns: A, B, the difference in
// percentage points and the rank-sum p-value.
func (c *Comparison) Text(w io.Writer) error {
	rows := [][]string{{"dataset", "model", "method", "column", "A", "B", "B − A (pp)", "p"}}
	for _, x := range c.Cells {
		diff, p := "", ""
		if !math.IsNaN(x.Diff) {
			diff = fmt.Sprintf("%+.2f", 100*x.Diff)
		}
		if !math.IsNaN(x.P) {
			p = fmt.Sprintf("%.3g", x.P)
		}
		rows = append(rows, []string{x.Dataset, x.Model, x.Row, x.Column.Label(x.Column.ActBits < 32),
			FormatCell(x.A), FormatCell(x.B), diff, p})
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, s := range r {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "A: %s\nB: %s\n", c.A, c.B)
	for k, r := range rows {
		for i, s := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if i < 4 {
				b.WriteString(s + pad + "  ")
			} else {
				b.WriteString(pad + s + "  ")
			}
		}
		b.WriteString("\n")
		if k == 0 {
			n := 0
			for _, x := range width {
				n += x + 2
			}
			b.WriteString(strings.Repeat("-", n) + "\n")
		}
	}
	b.WriteString("Cells: mean ± std of test accuracy (%) (n); p: two-sided rank-sum test of B against A, uncorrected.\n")
	_, err := io.WriteString(w, strings.ReplaceAll(b.String(), "  \n", "\n"))
	return err
}
