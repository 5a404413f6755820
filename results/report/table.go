package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/results/stats"
)

// Column is one column of a results table: a weight bit width and an
// activation bit width (32 = float activations).
type Column struct {
	Bits    int32 `json:"bits"`
	ActBits int32 `json:"act_bits"`
}

// floatColumn is the one column of a table that has only the float model
// (no quantized run yet).
var floatColumn = Column{Bits: 32, ActBits: 32}

// Label names the column: "2 bits", or "W2 A8" when showAct is set; the
// column of a float-only table is "float".
func (c Column) Label(showAct bool) string {
	if c == floatColumn {
		return "float"
	}
	if showAct {
		a := fmt.Sprint(c.ActBits)
		if c.ActBits >= 32 {
			a = "32 (float)"
		}
		return fmt.Sprintf("W%d A%s", c.Bits, a)
	}
	if c.Bits == 1 {
		return "1 bit"
	}
	return fmt.Sprintf("%d bits", c.Bits)
}

// Cell summarises the test accuracies of one method at one column.
type Cell struct {
	N      int       `json:"n"`
	Mean   float64   `json:"mean"` // fraction in [0, 1]
	Std    float64   `json:"std"`  // sample std (n-1); NaN (null in JSON) when n < 2
	Values []float64 `json:"values"`
	// Best is set on the highest mean of the column (ties all best).
	Best bool `json:"best"`
	// Mark is the significance mark against the reference method: "+"
	// (significantly better), "-" (worse), "=" (no significant difference),
	// "" when not tested (the reference itself, the float model, no data).
	Mark string `json:"mark"`
	// P is the Holm-adjusted two-sided p-value behind Mark (NaN if none).
	P float64 `json:"p"`
	// PRaw is the same test's p-value before the Holm correction.
	PRaw float64 `json:"p_raw"`
	// Against labels the row this cell was tested against ("" if none).
	Against string `json:"against,omitempty"`
}

// MarshalJSON writes NaN as null.
func (c Cell) MarshalJSON() ([]byte, error) {
	type plain Cell
	return json.Marshal(struct {
		plain
		Std  *float64 `json:"std"`
		P    *float64 `json:"p"`
		PRaw *float64 `json:"p_raw"`
	}{plain(c), nanNull(c.Std), nanNull(c.P), nanNull(c.PRaw)})
}

func nanNull(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Row is one method (or one parameter setting) of a table.
type Row struct {
	Label  string `json:"label"`
	Method string `json:"method"`
	Kind   string `json:"kind"`
	// Setting is the canonical JSON of the parameters that distinguish this
	// row from others of the same method ("" if the method has one setting).
	Setting string `json:"setting,omitempty"`
	// FPGradients is "yes", "no" or "mixed".
	FPGradients string `json:"fp_gradients"`
	// Cells are aligned with the table's Columns; nil where no run exists.
	Cells []*Cell `json:"cells"`
	// Failed counts runs of this row with a status other than "ok".
	Failed int `json:"failed"`
}

// Table is a results table of one (dataset, model): rows are methods,
// columns bit widths, cells the test accuracy over seeds.
type Table struct {
	Title   string   `json:"title"`
	Dataset string   `json:"dataset"`
	Model   string   `json:"model"`
	Columns []Column `json:"columns"`
	ShowAct bool     `json:"show_act_bits"`
	Rows    []Row    `json:"rows"`
	// Reference is the method the marks compare against ("" for none).
	Reference string `json:"reference,omitempty"`
	// Pairs are the comparisons behind the marks when they are pairs
	// ("A vs B") instead of a reference (then Reference is "").
	Pairs []string `json:"pairs,omitempty"`
	Alpha float64  `json:"alpha,omitempty"`
	// Kind is "main" or "ablation".
	Kind string `json:"kind"`
	// Parameter names what varies in an ablation table.
	Parameter string `json:"parameter,omitempty"`
}

// TableOptions tunes MainTables.
type TableOptions struct {
	// Reference is the method tested against (default "ccea"). When no row
	// of a table has this method, the table has no marks.
	Reference string
	// Alpha is the significance level after Holm correction (default 0.05).
	Alpha float64
	// Pairs, when set, replace the reference: each row of a pair's Method
	// is tested against the row of its Against method with the same
	// setting, in every column. Rows in no pair get no mark.
	Pairs []Pair
}

// Pair is one comparison of the marks: Method's rows against Against's.
type Pair struct {
	Method, Against string
}

func (o *TableOptions) defaults() {
	if o.Reference == "" {
		o.Reference = "ccea"
	}
	if o.Alpha == 0 {
		o.Alpha = 0.05
	}
}

// variant identifies a row: method, kind, granularity and parameters.
type variant struct {
	method, kind, gran, params string
}

type groupKey struct{ dataset, model string }

// MainTables builds one main table per (dataset, model) from runs rows:
// rows are the float model, each baseline and each optimizer (one row per
// parameter setting when a method was run with several), columns the bit
// widths, cells mean ± std (n) of test accuracy over seeds with the best of
// each column flagged, and each method tested against the reference method
// in the same column by the Wilcoxon rank-sum test, Holm-corrected within
// the column. The float model's cell is repeated in every column as a
// reference point and takes no part in "best" or the tests. Runs whose
// status is not "ok" are counted in Row.Failed and left out.
func MainTables(runs []results.RunRow, opts TableOptions) []Table {
	opts.defaults()
	var out []Table
	for _, g := range groupRuns(runs) {
		t := buildTable(g.key, g.runs, rowByVariant)
		t.Kind = "main"
		t.Title = fmt.Sprintf("%s on %s: test accuracy (%%)", g.key.model, g.key.dataset)
		markTable(&t, g.runs, opts)
		out = append(out, t)
	}
	return out
}

// AblationTables builds, for each (dataset, model, method) run with more than
// one parameter setting, a table whose rows are the settings (only the
// parameters that vary are shown) and whose columns are the bit widths.
func AblationTables(runs []results.RunRow) []Table {
	var out []Table
	for _, g := range groupRuns(runs) {
		byMethod := map[string][]results.RunRow{}
		var methods []string
		for _, r := range g.runs {
			if _, ok := byMethod[r.Method]; !ok {
				methods = append(methods, r.Method)
			}
			byMethod[r.Method] = append(byMethod[r.Method], r)
		}
		sort.Strings(methods)
		for _, m := range methods {
			rs := byMethod[m]
			vary := varyingKeys(rs)
			if len(vary) == 0 {
				continue
			}
			t := buildTable(g.key, rs, rowByVariant)
			t.Kind = "ablation"
			t.Parameter = strings.Join(vary, ", ")
			t.Title = fmt.Sprintf("Ablation of %s (%s) on %s, %s: test accuracy (%%)", m, t.Parameter, g.key.model, g.key.dataset)
			for i := range t.Rows {
				t.Rows[i].Label = settingLabel(t.Rows[i].Setting)
			}
			out = append(out, t)
		}
	}
	return out
}

type runGroup struct {
	key  groupKey
	runs []results.RunRow
}

func groupRuns(runs []results.RunRow) []runGroup {
	idx := map[groupKey]int{}
	var out []runGroup
	for _, r := range runs {
		k := groupKey{r.Dataset, r.Model}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, runGroup{key: k})
		}
		out[i].runs = append(out[i].runs, r)
	}
	slices.SortFunc(out, func(a, b runGroup) int {
		return cmp.Or(cmp.Compare(a.key.dataset, b.key.dataset), cmp.Compare(a.key.model, b.key.model))
	})
	return out
}

func canonical(params string) string {
	c, err := results.CanonicalParameters(params)
	if err != nil {
		return params
	}
	return c
}

// paramMap parses canonical parameters plus the granularity as a pseudo
// parameter.
func paramMap(r results.RunRow) map[string]string {
	m := map[string]string{}
	if p, err := results.ParseParameters(r.Parameters); err == nil {
		for k, v := range p {
			b, _ := json.Marshal(v)
			m[k] = string(b)
		}
	}
	if r.Kind != results.KindFloat {
		m["granularity"] = fmt.Sprintf("%q", r.Granularity)
	}
	return m
}

// varyingKeys returns the sorted parameter names whose values differ among
// runs of one method.
func varyingKeys(rs []results.RunRow) []string {
	values := map[string]map[string]bool{}
	maps := make([]map[string]string, len(rs))
	keys := map[string]bool{}
	for i, r := range rs {
		maps[i] = paramMap(r)
		for k := range maps[i] {
			keys[k] = true
		}
	}
	for k := range keys {
		values[k] = map[string]bool{}
		for _, m := range maps {
			v, ok := m[k]
			if !ok {
				v = "(unset)"
			}
			values[k][v] = true
		}
	}
	var out []string
	for k, vs := range values {
		if len(vs) > 1 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// settingLabel renders a setting JSON object as "k=v, k2=v2".
func settingLabel(setting string) string {
	if setting == "" {
		return "(default)"
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(setting), &m); err != nil {
		return setting
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := string(m[k])
		if s, err := unquote(v); err == nil {
			v = s
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, ", ")
}

func unquote(v string) (string, error) {
	var s string
	err := json.Unmarshal([]byte(v), &s)
	return s, err
}

type rowKeyFunc func(r results.RunRow, vary []string) (variant, string)

// rowByVariant keys a run by method and the values of the method's varying
// parameters; it returns the key and the setting JSON ("" if none vary).
func rowByVariant(r results.RunRow, vary []string) (variant, string) {
	if len(vary) == 0 {
		return variant{method: r.Method, kind: r.Kind}, ""
	}
	m := paramMap(r)
	sub := map[string]json.RawMessage{}
	for _, k := range vary {
		v, ok := m[k]
		if !ok {
			v = `"(unset)"`
		}
		sub[k] = json.RawMessage(v)
	}
	b, _ := json.Marshal(sub)
	return variant{method: r.Method, kind: r.Kind, params: string(b)}, string(b)
}

func kindOrder(kind string) int {
	switch kind {
	case results.KindFloat:
		return 0
	case results.KindBaseline:
		return 1
	case results.KindOptimizer:
		return 2
	}
	return 3
}

// buildTable lays out runs of one (dataset, model) as rows and columns.
func buildTable(key groupKey, runs []results.RunRow, rowKey rowKeyFunc) Table {
	t := Table{Dataset: key.dataset, Model: key.model}
	// Varying parameters per method.
	byMethod := map[string][]results.RunRow{}
	for _, r := range runs {
		byMethod[r.Method] = append(byMethod[r.Method], r)
	}
	vary := map[string][]string{}
	for m, rs := range byMethod {
		vary[m] = varyingKeys(rs)
	}
	// Columns from the quantized runs.
	colSet := map[Column]bool{}
	acts := map[int32]bool{}
	for _, r := range runs {
		if r.Kind == results.KindFloat {
			continue
		}
		colSet[Column{r.Bits, r.ActBits}] = true
		acts[r.ActBits] = true
	}
	for c := range colSet {
		t.Columns = append(t.Columns, c)
	}
	if len(t.Columns) == 0 {
		// Only the float model so far: one column, so its accuracy shows.
		t.Columns = []Column{floatColumn}
		acts[32] = true
	}
	slices.SortFunc(t.Columns, func(a, b Column) int {
		return cmp.Or(cmp.Compare(a.Bits, b.Bits), cmp.Compare(b.ActBits, a.ActBits))
	})
	t.ShowAct = len(acts) > 1 || (len(acts) == 1 && !acts[32])
	colIdx := map[Column]int{}
	for i, c := range t.Columns {
		colIdx[c] = i
	}
	// Rows.
	type acc struct {
		row    Row
		values [][]float64
		fp     map[bool]bool
	}
	rows := map[variant]*acc{}
	var order []variant
	for _, r := range runs {
		v, setting := rowKey(r, vary[r.Method])
		a, ok := rows[v]
		if !ok {
			label := r.Method
			if setting != "" {
				label += " (" + settingLabel(setting) + ")"
			}
			a = &acc{row: Row{Label: label, Method: r.Method, Kind: r.Kind, Setting: setting},
				values: make([][]float64, len(t.Columns)), fp: map[bool]bool{}}
			rows[v] = a
			order = append(order, v)
		}
		a.fp[r.UsedFPGradients] = true
		if r.Status != results.StatusOK {
			a.row.Failed++
			continue
		}
		if r.Kind == results.KindFloat {
			for i := range t.Columns {
				a.values[i] = append(a.values[i], r.TestAcc)
			}
			continue
		}
		i := colIdx[Column{r.Bits, r.ActBits}]
		a.values[i] = append(a.values[i], r.TestAcc)
	}
	slices.SortFunc(order, func(x, y variant) int {
		return cmp.Or(cmp.Compare(kindOrder(x.kind), kindOrder(y.kind)), cmp.Compare(x.method, y.method),
			compareSettings(x.params, y.params))
	})
	for _, v := range order {
		a := rows[v]
		switch {
		case a.fp[true] && a.fp[false]:
			a.row.FPGradients = "mixed"
		case a.fp[true]:
			a.row.FPGradients = "yes"
		default:
			a.row.FPGradients = "no"
		}
		a.row.Cells = make([]*Cell, len(t.Columns))
		for i, vals := range a.values {
			if len(vals) == 0 {
				continue
			}
			a.row.Cells[i] = &Cell{N: len(vals), Mean: stats.Mean(vals), Std: stats.Std(vals), Values: vals, P: math.NaN(), PRaw: math.NaN()}
		}
		t.Rows = append(t.Rows, a.row)
	}
	// Best per column among quantized rows.
	for i := range t.Columns {
		best := math.Inf(-1)
		for _, r := range t.Rows {
			if c := r.Cells[i]; c != nil && r.Kind != results.KindFloat && c.Mean > best {
				best = c.Mean
			}
		}
		for _, r := range t.Rows {
			if c := r.Cells[i]; c != nil && r.Kind != results.KindFloat && c.Mean == best {
				c.Best = true
			}
		}
	}
	return t
}

// markTable tests each quantized row against the reference row in every
// column (Wilcoxon rank-sum, two-sided) and Holm-corrects within the column.
// A row with the reference's method but another setting is tested too.
// Cells with a single run, or against a reference cell with a single run,
// are not tested and get no mark: with n = 1 on a side the smallest
// attainable p-value exceeds any usual α, and such untestable hypotheses
// would only inflate the Holm family of the real comparisons.
func markTable(t *Table, runs []results.RunRow, opts TableOptions) {
	if len(opts.Pairs) > 0 {
		markPairs(t, opts)
		return
	}
	ref := -1
	for i, r := range t.Rows {
		if r.Method == opts.Reference {
			ref = i
			break
		}
	}
	if ref < 0 {
		return
	}
	t.Reference = t.Rows[ref].Label
	t.Alpha = opts.Alpha
	for col := range t.Columns {
		rc := t.Rows[ref].Cells[col]
		if rc == nil {
			continue
		}
		var ps []float64
		var cells []*Cell
		var dirs []float64
		for i, r := range t.Rows {
			c := r.Cells[col]
			if i == ref || c == nil || r.Kind == results.KindFloat {
				continue
			}
			if c.N < 2 || rc.N < 2 {
				// One run on a side (a deterministic baseline): the
				// test cannot reach significance, and counting it in
				// the Holm family would only weaken the others.
				continue
			}
			res, err := stats.RankSum(c.Values, rc.Values, stats.Auto)
			if err != nil {
				continue
			}
			ps = append(ps, res.P)
			cells = append(cells, c)
			dirs = append(dirs, res.U1-float64(len(c.Values)*len(rc.Values))/2)
		}
		setMarks(cells, ps, dirs, opts.Alpha, t.Rows[ref].Label)
	}
}

// setMarks Holm-corrects one column's p-values and marks its tested cells.
func setMarks(cells []*Cell, ps, dirs []float64, alpha float64, against ...string) {
	adj := stats.Holm(ps)
	for k, c := range cells {
		c.P, c.PRaw = adj[k], ps[k]
		if len(against) == 1 {
			c.Against = against[0]
		} else if len(against) == len(cells) {
			c.Against = against[k]
		}
		switch {
		case adj[k] > alpha || dirs[k] == 0:
			c.Mark = "="
		case dirs[k] > 0:
			c.Mark = "+"
		default:
			c.Mark = "-"
		}
	}
}

// markPairs marks the rows of each pair's method against the row of its
// partner method with the same setting (or the partner's only row), column
// by column, Holm-correcting over all the pair tests of a column. Cells
// with a single run on a side are not tested, as in markTable.
func markPairs(t *Table, opts TableOptions) {
	type test struct{ row, partner int }
	var tests []test
	for _, pr := range opts.Pairs {
		var partners []int
		for j, r := range t.Rows {
			if r.Method == pr.Against {
				partners = append(partners, j)
			}
		}
		found := false
		for i, r := range t.Rows {
			if r.Method != pr.Method || r.Kind == results.KindFloat {
				continue
			}
			partner := -1
			for _, j := range partners {
				if t.Rows[j].Setting == r.Setting {
					partner = j
				}
			}
			if partner < 0 && len(partners) == 1 {
				partner = partners[0]
			}
			if partner >= 0 && partner != i {
				tests = append(tests, test{i, partner})
				found = true
			}
		}
		if found {
			t.Pairs = append(t.Pairs, pr.Method+" vs "+pr.Against)
		}
	}
	if len(tests) == 0 {
		return
	}
	t.Alpha = opts.Alpha
	for col := range t.Columns {
		var ps, dirs []float64
		var cells []*Cell
		var against []string
		for _, ts := range tests {
			c, pc := t.Rows[ts.row].Cells[col], t.Rows[ts.partner].Cells[col]
			if c == nil || pc == nil || c.N < 2 || pc.N < 2 {
				continue
			}
			res, err := stats.RankSum(c.Values, pc.Values, stats.Auto)
			if err != nil {
				continue
			}
			ps = append(ps, res.P)
			cells = append(cells, c)
			dirs = append(dirs, res.U1-float64(len(c.Values)*len(pc.Values))/2)
			against = append(against, t.Rows[ts.partner].Label)
		}
		if len(cells) > 0 {
			setMarks(cells, ps, dirs, opts.Alpha, against...)
		}
	}
}

// FormatCell renders a cell as "91.23 ± 0.45 (5)" in percent, "—" when nil.
func FormatCell(c *Cell) string {
	if c == nil {
		return "—"
	}
	if c.N < 2 || math.IsNaN(c.Std) {
		return fmt.Sprintf("%.2f (%d)", 100*c.Mean, c.N)
	}
	return fmt.Sprintf("%.2f ± %.2f (%d)", 100*c.Mean, 100*c.Std, c.N)
}

// compareSettings orders two settings (canonical JSON objects, "" for none)
// key by key with numbers compared as numbers, so that group_size 500 comes
// before 2000 and alpha 0.25 before 0.3; a missing key first, other values
// by their JSON text.
func compareSettings(a, b string) int {
	var ma, mb map[string]json.RawMessage
	if a == "" || b == "" || json.Unmarshal([]byte(a), &ma) != nil || json.Unmarshal([]byte(b), &mb) != nil {
		return cmp.Compare(a, b)
	}
	keys := make([]string, 0, len(ma)+len(mb))
	for k := range ma {
		keys = append(keys, k)
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		va, oka := ma[k]
		vb, okb := mb[k]
		switch {
		case !oka:
			return -1
		case !okb:
			return 1
		}
		var fa, fb float64
		if json.Unmarshal(va, &fa) == nil && json.Unmarshal(vb, &fb) == nil {
			if c := cmp.Compare(fa, fb); c != 0 {
				return c
			}
			continue
		}
		if c := cmp.Compare(string(va), string(vb)); c != 0 {
			return c
		}
	}
	return cmp.Compare(a, b)
}
