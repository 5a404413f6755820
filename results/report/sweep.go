package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Sweep is one parameter-sweep figure: for one (dataset, model, column) and
// one numeric parameter, the test accuracy of each method (mean ± sample
// std over seeds) against the parameter's value, one line per method. It is
// drawn from the ablation tables that vary exactly that parameter, so a
// sweep of group_size run for confidence and for random grouping becomes one
// figure with two lines.
type Sweep struct {
	Dataset, Model string
	Parameter      string
	Column         Column
	// LogX puts the parameter on a logarithmic axis (all values positive
	// and spanning a factor of 10 or more).
	LogX  bool
	Lines []SweepLine
	// Palette lists every method of the figure set, sorted (stable styles).
	Palette []string
}

// SweepLine is one method's points of a sweep, sorted by X.
type SweepLine struct {
	Method    string
	X         []float64
	Mean, Std []float64 // percent; Std is NaN where n < 2
	N         []int
}

// Name is the figure's file stem, e.g. "sweep-fashion-lenet5-group_size-w3-a32".
func (s *Sweep) Name() string {
	return fmt.Sprintf("sweep-%s-%s-%s-w%d-a%d", slug(s.Dataset), slug(s.Model), slug(s.Parameter), s.Column.Bits, s.Column.ActBits)
}

// Title is the figure's title.
func (s *Sweep) Title() string {
	t := fmt.Sprintf("%s on %s, %d-bit weights", s.Model, s.Dataset, s.Column.Bits)
	if s.Column.ActBits < 32 {
		t += fmt.Sprintf(", %d-bit activations", s.Column.ActBits)
	}
	return fmt.Sprintf("%s: test accuracy against %s", t, s.Parameter)
}

// sweepCaption explains every sweep figure.
const sweepCaption = "Each point is the mean test accuracy over seeds of one setting of an ablation table, the bar ± one sample std; one line per method that varies the same single numeric parameter."

// Sweeps builds the sweep figures from ablation tables: every table that
// varies a single parameter whose values are all numbers contributes one
// line per column; tables of the same (dataset, model, parameter) share a
// figure per column. Figures with fewer than two parameter values are left
// out.
func Sweeps(ablations []Table) []Sweep {
	type key struct {
		dataset, model, param string
		col                   Column
	}
	figs := map[key]*Sweep{}
	var keys []key
	var palette []string
	for ti := range ablations {
		t := &ablations[ti]
		if t.Kind != "ablation" || strings.Contains(t.Parameter, ", ") || len(t.Rows) == 0 {
			continue
		}
		xs, ok := numericSettings(t)
		if !ok {
			continue
		}
		for ci, col := range t.Columns {
			line := SweepLine{Method: t.Rows[0].Method}
			for ri, r := range t.Rows {
				c := r.Cells[ci]
				if c == nil || c.N == 0 {
					continue
				}
				line.X = append(line.X, xs[ri])
				line.Mean = append(line.Mean, 100*c.Mean)
				line.Std = append(line.Std, 100*c.Std)
				line.N = append(line.N, c.N)
			}
			if len(line.X) == 0 {
				continue
			}
			sortLine(&line)
			k := key{t.Dataset, t.Model, t.Parameter, col}
			s, ok := figs[k]
			if !ok {
				s = &Sweep{Dataset: t.Dataset, Model: t.Model, Parameter: t.Parameter, Column: col}
				figs[k] = s
				keys = append(keys, k)
			}
			s.Lines = append(s.Lines, line)
			if !slices.Contains(palette, line.Method) {
				palette = append(palette, line.Method)
			}
		}
	}
	slices.Sort(palette)
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.dataset, b.dataset), cmp.Compare(a.model, b.model), cmp.Compare(a.param, b.param),
			cmp.Compare(a.col.Bits, b.col.Bits), cmp.Compare(b.col.ActBits, a.col.ActBits))
	})
	var out []Sweep
	for _, k := range keys {
		s := figs[k]
		distinct := map[float64]bool{}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, l := range s.Lines {
			for _, x := range l.X {
				distinct[x] = true
				lo, hi = min(lo, x), max(hi, x)
			}
		}
		if len(distinct) < 2 {
			continue
		}
		slices.SortFunc(s.Lines, func(a, b SweepLine) int { return cmp.Compare(a.Method, b.Method) })
		s.LogX = lo > 0 && hi/lo >= 10
		s.Palette = palette
		out = append(out, *s)
	}
	return out
}

// numericSettings returns each row's value of the table's one parameter,
// or false when a row has another setting or a value that is not a number.
func numericSettings(t *Table) ([]float64, bool) {
	xs := make([]float64, len(t.Rows))
	for i, r := range t.Rows {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.Setting), &m); err != nil || len(m) != 1 {
			return nil, false
		}
		raw, ok := m[t.Parameter]
		if !ok {
			return nil, false
		}
		x, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		xs[i] = x
	}
	return xs, true
}

func sortLine(l *SweepLine) {
	idx := make([]int, len(l.X))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(l.X[a], l.X[b]) })
	perm := func(v []float64) []float64 {
		out := make([]float64, len(idx))
		for i, j := range idx {
			out[i] = v[j]
		}
		return out
	}
	n := make([]int, len(idx))
	for i, j := range idx {
		n[i] = l.N[j]
	}
	l.X, l.Mean, l.Std, l.N = perm(l.X), perm(l.Mean), perm(l.Std), n
}

// plot builds the figure's single panel.
func (s *Sweep) plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = s.Title()
	p.X.Label.Text = s.Parameter
	p.Y.Label.Text = "test accuracy (%)"
	p.Add(plotter.NewGrid())
	var ticks []plot.Tick
	for _, l := range s.Lines {
		for _, x := range l.X {
			if !slices.ContainsFunc(ticks, func(t plot.Tick) bool { return t.Value == x }) {
				ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', -1, 64)})
			}
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	// Room around the points, and above them for the legend.
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, l := range s.Lines {
		for i, x := range l.X {
			sd := l.Std[i]
			if math.IsNaN(sd) {
				sd = 0
			}
			xlo, xhi = min(xlo, x), max(xhi, x)
			ylo, yhi = min(ylo, l.Mean[i]-sd), max(yhi, l.Mean[i]+sd)
		}
	}
	if s.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = xlo/1.3, xhi*1.3
	} else {
		pad := 0.06 * (xhi - xlo)
		p.X.Min, p.X.Max = xlo-pad, xhi+pad
	}
	span := max(yhi-ylo, 0.5)
	p.Y.Min, p.Y.Max = ylo-0.08*span, yhi+0.12*span*float64(1+len(s.Lines))
	for _, l := range s.Lines {
		st := styleOf(s.Palette, l.Method)
		pts := make(plotter.XYs, len(l.X))
		errs := make(plotter.YErrors, len(l.X))
		for i := range l.X {
			pts[i] = plotter.XY{X: l.X[i], Y: l.Mean[i]}
			if sd := l.Std[i]; !math.IsNaN(sd) {
				errs[i].Low, errs[i].High = sd, sd
			}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("sweep line of %s: %w", l.Method, err)
		}
		line.LineStyle = draw.LineStyle{Color: st.color, Width: vg.Points(float64(st.width)), Dashes: st.dashes}
		points.Color = st.color
		points.Shape = draw.CircleGlyph{}
		bars, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{pts, errs})
		if err != nil {
			return nil, fmt.Errorf("sweep error bars of %s: %w", l.Method, err)
		}
		bars.LineStyle.Color = st.color
		p.Add(line, points, bars)
		p.Legend.Add(fmt.Sprintf("%s (n per point: %s)", l.Method, countRange(l.N)), line, points)
	}
	p.Legend.Top = true
	p.Legend.ThumbnailWidth = vg.Points(28)
	return p, nil
}

// countRange renders the run counts of a line as "10" or "8-10".
func countRange(n []int) string {
	lo, hi := slices.Min(n), slices.Max(n)
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// draw draws the figure's single panel on dc.
func (s *Sweep) draw(dc draw.Canvas) error {
	p, err := s.plot()
	if err != nil {
		return err
	}
	p.Draw(dc)
	return nil
}

// SVG writes the figure as SVG (fonts referenced by name, not embedded).
func (s *Sweep) SVG(w io.Writer) error { return writeSVG(w, figWidth, figPanelHeight, s.draw) }

// PNG writes the figure as a PNG at 150 dpi.
func (s *Sweep) PNG(w io.Writer) error { return writePNG(w, figWidth, figPanelHeight, s.draw) }

func (s *Sweep) svgBytes() ([]byte, error) {
	var b bytes.Buffer
	err := s.SVG(&b)
	return b.Bytes(), err
}
