package report

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/results/stats"
)

// GridPoints is the number of evaluation counts at which curves are
// resampled before taking medians and quartiles across seeds.
const GridPoints = 200

// Band is the median and inter-quartile range of one variant's runs at each
// point of an evaluation grid (type-7 quartiles across the runs that cover
// the point).
type Band struct {
	Variant string
	Runs    int // runs of the variant in the group
	X       []float64
	Median  []float64
	Q1, Q3  []float64
	N       []int // runs contributing at each point
}

// Convergence is the data of one convergence figure: one (dataset, model,
// bits, act bits) with one band per variant for the base fitness and one for
// the validation accuracy.
type Convergence struct {
	Dataset, Model  string
	Bits, ActBits   int32
	Fitness         []Band
	ValAccuracy     []Band // in percent; empty bands are dropped
	MinEvaluations  int64
	MaxEvaluations  int64
	RunsPerVariants map[string]int
	// Palette lists every variant of the experiment, sorted: a variant's
	// colour and line style come from its place here, so they are the same
	// in every figure.
	Palette []string
}

// Name is the figure's file stem, e.g. "convergence-mnist-lenet5-w2-a32".
func (c *Convergence) Name() string {
	return fmt.Sprintf("convergence-%s-%s-w%d-a%d", slug(c.Dataset), slug(c.Model), c.Bits, c.ActBits)
}

// Title is the figure's title.
func (c *Convergence) Title() string {
	t := fmt.Sprintf("%s on %s, %d-bit weights", c.Model, c.Dataset, c.Bits)
	if c.ActBits < 32 {
		t += fmt.Sprintf(", %d-bit activations", c.ActBits)
	}
	return t
}

func slug(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Convergences groups curves by (dataset, model, bits, act bits) and
// computes the bands of each variant on a common grid of GridPoints
// evaluation counts from the smallest first to the largest last count.
func Convergences(curves []results.Curve) []Convergence {
	type key struct {
		dataset, model string
		bits, act      int32
	}
	groups := map[key][]*results.Curve{}
	var keys []key
	for i := range curves {
		c := &curves[i]
		if len(c.Evaluations) == 0 {
			continue
		}
		k := key{c.Dataset, c.Model, c.Bits, c.ActBits}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], c)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.dataset, b.dataset), cmp.Compare(a.model, b.model),
			cmp.Compare(a.bits, b.bits), cmp.Compare(b.act, a.act))
	})
	var palette []string
	for i := range curves {
		if !slices.Contains(palette, curves[i].Variant) {
			palette = append(palette, curves[i].Variant)
		}
	}
	sort.Strings(palette)
	var out []Convergence
	for _, k := range keys {
		cs := groups[k]
		lo, hi := int64(math.MaxInt64), int64(0)
		byVariant := map[string][]*results.Curve{}
		var variants []string
		for _, c := range cs {
			lo = min(lo, c.Evaluations[0])
			hi = max(hi, c.Evaluations[len(c.Evaluations)-1])
			if _, ok := byVariant[c.Variant]; !ok {
				variants = append(variants, c.Variant)
			}
			byVariant[c.Variant] = append(byVariant[c.Variant], c)
		}
		sort.Strings(variants)
		grid := make([]float64, GridPoints)
		for i := range grid {
			grid[i] = float64(lo) + float64(hi-lo)*float64(i)/float64(GridPoints-1)
		}
		conv := Convergence{Dataset: k.dataset, Model: k.model, Bits: k.bits, ActBits: k.act,
			MinEvaluations: lo, MaxEvaluations: hi, RunsPerVariants: map[string]int{}, Palette: palette}
		for _, v := range variants {
			runs := byVariant[v]
			conv.RunsPerVariants[v] = len(runs)
			fit := band(v, runs, grid, func(c *results.Curve) ([]int64, []float64) { return c.Evaluations, c.BaseFitness }, 1)
			conv.Fitness = append(conv.Fitness, fit)
			val := band(v, runs, grid, validationPoints, 100)
			if len(val.X) > 0 {
				conv.ValAccuracy = append(conv.ValAccuracy, val)
			}
		}
		out = append(out, conv)
	}
	return out
}

// validationPoints returns the non-null validation measurements of a curve,
// extended with the last measurement carried to the run's last evaluation.
func validationPoints(c *results.Curve) ([]int64, []float64) {
	var xs []int64
	var ys []float64
	for i, v := range c.ValidationAccuracy {
		if !math.IsNaN(v) {
			xs = append(xs, c.Evaluations[i])
			ys = append(ys, v)
		}
	}
	if n := len(xs); n > 0 && xs[n-1] < c.Evaluations[len(c.Evaluations)-1] {
		xs = append(xs, c.Evaluations[len(c.Evaluations)-1])
		ys = append(ys, ys[n-1])
	}
	return xs, ys
}

// band resamples each run as a step function (the last value at or before x)
// over [its first, its last evaluation] and takes quartiles across runs.
func band(variant string, runs []*results.Curve, grid []float64, pick func(*results.Curve) ([]int64, []float64), scale float64) Band {
	b := Band{Variant: variant, Runs: len(runs)}
	type series struct {
		x []int64
		y []float64
	}
	ss := make([]series, 0, len(runs))
	for _, r := range runs {
		x, y := pick(r)
		if len(x) > 0 {
			ss = append(ss, series{x, y})
		}
	}
	vals := make([]float64, 0, len(ss))
	for _, gx := range grid {
		vals = vals[:0]
		for _, s := range ss {
			if gx < float64(s.x[0]) || gx > float64(s.x[len(s.x)-1]) {
				continue
			}
			i := sort.Search(len(s.x), func(i int) bool { return float64(s.x[i]) > gx }) - 1
			if v := s.y[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
				vals = append(vals, scale*v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		slices.Sort(vals)
		b.X = append(b.X, gx)
		b.Q1 = append(b.Q1, stats.QuantileSorted(vals, 0.25))
		b.Median = append(b.Median, stats.QuantileSorted(vals, 0.5))
		b.Q3 = append(b.Q3, stats.QuantileSorted(vals, 0.75))
		b.N = append(b.N, len(vals))
	}
	return b
}

// style is a variant's line: a colour of the Okabe-Ito palette (safe for
// colour-blind readers) and a dash pattern, so that variants stay apart in
// grayscale too.
type style struct {
	color  color.NRGBA
	dashes []vg.Length
	width  vg.Length
}

var styles = []style{
	{color.NRGBA{0, 0, 0, 255}, nil, 1.6},                                         // black, solid
	{color.NRGBA{230, 159, 0, 255}, []vg.Length{vg.Points(6), vg.Points(3)}, 1.6}, // orange, dashed
	{color.NRGBA{0, 114, 178, 255}, []vg.Length{vg.Points(1.5), vg.Points(2.5)}, 1.8},
	{color.NRGBA{0, 158, 115, 255}, []vg.Length{vg.Points(8), vg.Points(3), vg.Points(1.5), vg.Points(3)}, 1.6},
	{color.NRGBA{213, 94, 0, 255}, []vg.Length{vg.Points(12), vg.Points(4)}, 1.6},
	{color.NRGBA{86, 180, 233, 255}, []vg.Length{vg.Points(3), vg.Points(2)}, 1.6},
	{color.NRGBA{204, 121, 167, 255}, []vg.Length{vg.Points(8), vg.Points(2), vg.Points(1.5), vg.Points(2), vg.Points(1.5), vg.Points(2)}, 1.6},
	{color.NRGBA{240, 228, 66, 255}, []vg.Length{vg.Points(1), vg.Points(1)}, 2.2},
}

// styleOf gives each variant name a stable style within a figure set.
func styleOf(variants []string, v string) style {
	i := slices.Index(variants, v)
	if i < 0 {
		i = 0
	}
	return styles[i%len(styles)]
}

// Figure sizes.
const (
	figWidth       = 6.5 * vg.Inch
	figPanelHeight = 3.2 * vg.Inch
	pngDPI         = 150
)

// panel builds one plot of bands over the evaluations [xmin, xmax].
func panel(title, ylabel string, bands []Band, variants []string, legend bool, xmin, xmax float64) (*plot.Plot, error) {
	p := plot.New()
	p.X.Min, p.X.Max = xmin, xmax
	p.Title.Text = title
	p.X.Label.Text = "fitness evaluations (count)"
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = plot.TickerFunc(evalTicks)
	p.Add(plotter.NewGrid())
	for _, b := range bands {
		if len(b.X) == 0 {
			continue
		}
		st := styleOf(variants, b.Variant)
		ring := make(plotter.XYs, 0, 2*len(b.X))
		for i := range b.X {
			ring = append(ring, plotter.XY{X: b.X[i], Y: b.Q3[i]})
		}
		for i := len(b.X) - 1; i >= 0; i-- {
			ring = append(ring, plotter.XY{X: b.X[i], Y: b.Q1[i]})
		}
		poly, err := plotter.NewPolygon(ring)
		if err != nil {
			return nil, fmt.Errorf("band of %s: %w", b.Variant, err)
		}
		fill := st.color
		fill.A = 56
		poly.Color = fill
		poly.LineStyle.Width = 0
		line := make(plotter.XYs, len(b.X))
		for i := range b.X {
			line[i] = plotter.XY{X: b.X[i], Y: b.Median[i]}
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return nil, fmt.Errorf("median of %s: %w", b.Variant, err)
		}
		l.LineStyle = draw.LineStyle{Color: st.color, Width: vg.Points(float64(st.width)), Dashes: st.dashes}
		p.Add(poly, l)
		if legend {
			p.Legend.Add(fmt.Sprintf("%s (%s)", b.Variant, plural(b.Runs, "run")), l)
		}
	}
	p.Legend.Top = true
	p.Legend.ThumbnailWidth = vg.Points(28)
	return p, nil
}

// evalTicks puts round major ticks (steps of 1, 2 or 5 times a power of
// ten, about four to eight of them) on the evaluations axis, labelled 0, 2k, 4k,
// ... or 0, 0.5M, 1M, with four minor ticks between.
func evalTicks(lo, hi float64) []plot.Tick {
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := span / 8
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []plot.Tick
	minor := step / 5
	for i := math.Ceil(lo / minor); i*minor <= hi+1e-9*step; i++ {
		v := i * minor
		t := plot.Tick{Value: v}
		if r := math.Mod(math.Abs(v), step); r < 1e-9*step || step-r < 1e-9*step {
			t.Label = evalLabel(v)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

func evalLabel(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// variants returns the palette order of variants (Palette, or the figure's
// own variants sorted).
func (c *Convergence) variants() []string {
	if len(c.Palette) > 0 {
		return c.Palette
	}
	vs := make([]string, 0, len(c.RunsPerVariants))
	for v := range c.RunsPerVariants {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// draw lays the figure's panels (fitness, and validation accuracy when
// measured) one above the other on dc.
func (c *Convergence) draw(dc draw.Canvas) error {
	vs := c.variants()
	xmin, xmax := float64(c.MinEvaluations), float64(c.MaxEvaluations)
	top, err := panel(c.Title(), "base fitness: batch cross-entropy (nats)", c.Fitness, vs, true, xmin, xmax)
	if err != nil {
		return err
	}
	plots := [][]*plot.Plot{{top}}
	if len(c.ValAccuracy) > 0 {
		bottom, err := panel("", "validation accuracy (%)", c.ValAccuracy, vs, false, xmin, xmax)
		if err != nil {
			return err
		}
		plots = append(plots, []*plot.Plot{bottom})
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4),
		PadLeft: vg.Points(4), PadRight: vg.Points(8), PadY: vg.Points(10)}
	canvases := plot.Align(plots, tiles, dc)
	for i, row := range plots {
		row[0].Draw(canvases[i][0])
	}
	return nil
}

func (c *Convergence) size() (vg.Length, vg.Length) {
	h := figPanelHeight
	if len(c.ValAccuracy) > 0 {
		h *= 2
	}
	return figWidth, h
}

// SVG writes the figure as SVG (fonts referenced by name, not embedded).
func (c *Convergence) SVG(w io.Writer) error {
	wd, ht := c.size()
	return writeSVG(w, wd, ht, c.draw)
}

// PNG writes the figure as a PNG at 150 dpi.
func (c *Convergence) PNG(w io.Writer) error {
	wd, ht := c.size()
	return writePNG(w, wd, ht, c.draw)
}

// writeSVG draws a figure of the given size as SVG (fonts referenced by
// name, not embedded).
func writeSVG(w io.Writer, wd, ht vg.Length, drawOn func(draw.Canvas) error) error {
	cv := vgsvg.New(wd, ht)
	if err := drawOn(draw.New(cv)); err != nil {
		return err
	}
	_, err := cv.WriteTo(w)
	return err
}

// writePNG draws a figure of the given size as a PNG at pngDPI.
func writePNG(w io.Writer, wd, ht vg.Length, drawOn func(draw.Canvas) error) error {
	cv := vgimg.NewWith(vgimg.UseWH(wd, ht), vgimg.UseDPI(pngDPI))
	if err := drawOn(draw.New(cv)); err != nil {
		return err
	}
	_, err := vgimg.PngCanvas{Canvas: cv}.WriteTo(w)
	return err
}

// svgBytes renders the SVG into memory.
func (c *Convergence) svgBytes() ([]byte, error) {
	var b bytes.Buffer
	err := c.SVG(&b)
	return b.Bytes(), err
}

// plural writes a count with its noun, "1 run" or "3 runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
