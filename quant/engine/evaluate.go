package engine

import (
	"github.com/ccq-project/ccq/quant"

	"context"
	"fmt"
	"log/slog"

	"github.com/ccq-project/ccq/nn"
)

// ClassAccuracy is the accuracy on the samples of one label.
type ClassAccuracy struct {
	Class    int     `json:"class"`
	N        int     `json:"n"`
	Accuracy float64 `json:"accuracy"`
}

// Report is the evaluation of a quantized model on a set of samples.
type Report struct {
	N             int                `json:"n"`
	Correct       int                `json:"correct"`
	Accuracy      float64            `json:"accuracy"`
	Loss          float64            `json:"loss"`
	PerClass      []ClassAccuracy    `json:"per_class"`
	Confusion     [][]int            `json:"confusion"` // [label][prediction]
	Bits          int                `json:"bits"`
	ActBits       int                `json:"act_bits"`
	Weights       int                `json:"weights"`
	PackedBytes   int                `json:"packed_bytes"`  // levels packed at Bits bits
	ModelBytes    int                `json:"model_bytes"`   // packed levels + float32 scales, biases and activation scales
	Float32Bytes  int                `json:"float32_bytes"` // the same weights and biases as float32
	Levels        []quant.LevelCount `json:"levels"`        // histogram of the levels
	Granularity   quant.Granularity  `json:"granularity"`   //
	Method        string             `json:"method"`        //
	UsedFPGrads   bool               `json:"used_fp_gradients"`
	BitsPerWeight float64            `json:"bits_per_weight"` // model bytes * 8 / weights
}

// EvaluateModel runs the quantized model on samples (NCHW float32,
// normalized) with workers goroutines (0: GOMAXPROCS) and reports
// accuracy, loss, per-class accuracy, sizes and the level histogram. It is
// the evaluator's forward path without caching; with quantized activations
// it runs on the integer path where it can (the report is the same bit for
// bit as the float32 fake-quantized path's).
func EvaluateModel(ctx context.Context, m *quant.Model, x []float32, labels []uint8, workers int) (*Report, error) {
	return evaluateModel(ctx, m, x, labels, workers, true)
}

// evaluateModel is EvaluateModel, on the float32 path only unless integer
// is set.
func evaluateModel(ctx context.Context, m *quant.Model, x []float32, labels []uint8, workers int, integer bool) (*Report, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	ls, w := layersFromModel(m)
	n, err := newNet(m.Graph, ls, 0, true)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	var q []int8
	if integer && m.ActBits != quant.FloatActBits {
		_, wmax := quant.LevelRange(m.Bits)
		if why := n.planInteger(wmax, w); why != "" {
			slog.Warn("evaluate: layers kept on the exact float32 path instead of int8", "layers", why)
		}
		if n.intOn {
			q = make([]int8, n.nq)
			n.packWeights(w, q)
		}
	}
	b, err := checkBatch(n, x, labels)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	ws := make([]*worker, min(defaultWorkers(workers), (b.n+n.chunk-1)/n.chunk))
	for i := range ws {
		ws[i] = newWorker(i, n, false)
	}
	k := m.Graph.Classes
	conf := make([]int, k*k)
	loss, correct, err := runPlain(ctx, ws, w, q, b, conf)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	r := &Report{N: b.n, Correct: correct, Accuracy: float64(correct) / float64(b.n), Loss: loss / float64(b.n),
		Bits: m.Bits, ActBits: m.ActBits, Weights: m.NumVars(), Levels: quant.LevelHistogram(m),
		Granularity: m.Granularity, Method: m.Method, UsedFPGrads: m.UsedFPGradients}
	for c := 0; c < k; c++ {
		row := conf[c*k : (c+1)*k]
		ca := ClassAccuracy{Class: c}
		for _, v := range row {
			ca.N += v
		}
		if ca.N > 0 {
			ca.Accuracy = float64(row[c]) / float64(ca.N)
		}
		r.PerClass = append(r.PerClass, ca)
		r.Confusion = append(r.Confusion, append([]int(nil), row...))
	}
	r.PackedBytes, r.ModelBytes, r.Float32Bytes = quant.Sizes(m)
	r.BitsPerWeight = float64(r.ModelBytes*8) / float64(max(r.Weights, 1))
	return r, nil
}

// floatRunner runs folded float layers (optionally with quantized
// activations) with per-layer hooks; it serves calibration and bias
// correction.
type floatRunner struct {
	n       *net
	w       []float32
	workers []*worker
}

func newRunner(g nn.Graph, ls []qlayer, w []float32, workers int) (*floatRunner, error) {
	n, err := newNet(g, ls, 0, false)
	if err != nil {
		return nil, err
	}
	r := &floatRunner{n: n, w: w}
	for i := 0; i < defaultWorkers(workers); i++ {
		r.workers = append(r.workers, newWorker(i, n, false))
	}
	return r, nil
}

// run evaluates x with the hooks set; it returns the mean loss and the
// accuracy.
func (r *floatRunner) run(ctx context.Context, x []float32, labels []uint8, onInput, onOutput func(wid, layer int, v []float32, bc int)) (float64, float64, error) {
	b, err := checkBatch(r.n, x, labels)
	if err != nil {
		return 0, 0, err
	}
	for _, w := range r.workers {
		w.onInput, w.onOutput = onInput, onOutput
	}
	loss, correct, err := runPlain(ctx, r.workers, r.w, nil, b, nil)
	for _, w := range r.workers {
		w.onInput, w.onOutput = nil, nil
	}
	return loss / float64(b.n), float64(correct) / float64(b.n), err
}

// EvaluateFloat runs the float model (batch norm folded) on samples and
// returns its mean loss and accuracy.
func EvaluateFloat(ctx context.Context, f *quant.FloatModel, x []float32, labels []uint8, workers int) (loss, acc float64, err error) {
	fl, err := quant.Fold(f)
	if err != nil {
		return 0, 0, err
	}
	ls, w := layersFromFloat(fl, nil)
	r, err := newRunner(f.Graph, ls, w, workers)
	if err != nil {
		return 0, 0, fmt.Errorf("evaluate float model: %w", err)
	}
	loss, acc, err = r.run(ctx, x, labels, nil, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("evaluate float model: %w", err)
	}
	return loss, acc, nil
}

// Runner evaluates one quantized model with varying levels on varying
// samples, reusing its buffers between calls (for repeated validation).
// With quantized activations it runs on the integer path (as
// EvaluateModel) whenever the levels keep every int8 layer's accumulators
// exact, else on the float32 path; the scores are the same bit for bit. It
// is not safe for concurrent use.
type Runner struct {
	m  *quant.Model
	r  *floatRunner
	wf []float32
	// ir runs the integer path (nil: float activations, or no layer on
	// it); q holds its packed weights.
	ir *floatRunner
	q  []int8
}

// NewRunner compiles a model (which it copies) for repeated evaluation.
func NewRunner(m *quant.Model, workers int) (*Runner, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	m = m.Clone()
	// Both runners read the same weights (Score writes them).
	w := modelWeights(m)
	// compile builds a runner with fused ReLUs (no hooks here), on the
	// integer path where it can if integer is set (nil: no layer can).
	compile := func(integer bool) (*floatRunner, error) {
		n, err := newNet(m.Graph, modelLayers(m), 0, true)
		if err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		if integer {
			_, wmax := quant.LevelRange(m.Bits)
			n.planInteger(wmax, nil) // rowCheck layers: checked on every Score
			if !n.intOn {
				return nil, nil
			}
		}
		r := &floatRunner{n: n, w: w}
		for i := 0; i < defaultWorkers(workers); i++ {
			r.workers = append(r.workers, newWorker(i, n, false))
		}
		return r, nil
	}
	r, err := compile(false)
	if err != nil {
		return nil, err
	}
	run := &Runner{m: m, r: r, wf: r.w}
	if m.ActBits != quant.FloatActBits {
		if run.ir, err = compile(true); err != nil {
			return nil, err
		}
		if run.ir != nil {
			run.q = make([]int8, run.ir.n.nq)
		}
	}
	return run, nil
}

// Score sets the levels (the flat vector of Model.Layout) and returns the
// mean loss and correct count on the samples.
func (r *Runner) Score(ctx context.Context, levels []int8, x []float32, labels []uint8) (Score, error) {
	if len(levels) != len(r.wf) {
		return Score{}, fmt.Errorf("runner: %d levels, the model has %d weights", len(levels), len(r.wf))
	}
	for i, l := range levels {
		if !quant.ValidLevel(r.m.Bits, l) {
			return Score{}, fmt.Errorf("runner: level %d at index %d is outside the %d-bit range", l, i, r.m.Bits)
		}
		r.wf[i] = float32(l)
	}
	fr, q := r.r, []int8(nil)
	if r.ir != nil && r.intExact() {
		fr, q = r.ir, r.q
		r.ir.n.packWeights(r.wf, q)
	}
	b, err := checkBatch(fr.n, x, labels)
	if err != nil {
		return Score{}, fmt.Errorf("runner: %w", err)
	}
	loss, correct, err := runPlain(ctx, fr.workers, r.wf, q, b, nil)
	if err != nil {
		return Score{}, fmt.Errorf("runner: %w", err)
	}
	return Score{Loss: loss / float64(b.n), Correct: correct}, nil
}

// intExact reports whether the current levels keep the accumulators of
// every integer-path layer that could leave float32's exact range (the
// rowCheck layers) inside it.
func (r *Runner) intExact() bool {
	for li := range r.ir.n.layers {
		l := &r.ir.n.layers[li]
		if l.rowCheck && l.rowAbsMax(r.wf) > l.rowLimit() {
			return false
		}
	}
	return true
}

// FakeQuantLogits returns the logits of every sample on the float32
// fake-quantized forward pass (workers goroutines, 0: GOMAXPROCS),
// sample-major: sample i's logit for class c at i*classes+c.
func FakeQuantLogits(ctx context.Context, m *quant.Model, x []float32, labels []uint8, workers int) ([]float32, error) {
	ls, w := layersFromModel(m)
	r, err := newRunner(m.Graph, ls, w, workers)
	if err != nil {
		return nil, fmt.Errorf("fake-quantized logits: %w", err)
	}
	k := m.Graph.Classes
	if len(x) != len(labels)*m.Graph.Input.Size() {
		return nil, fmt.Errorf("fake-quantized logits: %d values for %d samples of %d", len(x), len(labels), m.Graph.Input.Size())
	}
	out := make([]float32, len(labels)*k)
	for _, wk := range r.workers {
		wk.onLogits = func(start, bc int, z []float32) {
			for b := 0; b < bc; b++ {
				for c := 0; c < k; c++ {
					out[(start+b)*k+c] = z[c*bc+b]
				}
			}
		}
	}
	_, _, err = r.run(ctx, x, labels, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("fake-quantized logits: %w", err)
	}
	return out, nil
}

// FakeQuantPredictions returns the predicted class of every sample on the
// float32 fake-quantized forward pass (workers goroutines, 0: GOMAXPROCS;
// EvaluateModel reports only counts): the first class with the largest
// logit.
func FakeQuantPredictions(ctx context.Context, m *quant.Model, x []float32, labels []uint8, workers int) ([]int, error) {
	z, err := FakeQuantLogits(ctx, m, x, labels, workers)
	if err != nil {
		return nil, err
	}
	k := m.Graph.Classes
	pred := make([]int, len(labels))
	for i := range pred {
		v := z[i*k : (i+1)*k]
		best := 0
		for c := 1; c < k; c++ {
			if v[c] > v[best] {
				best = c
			}
		}
		pred[i] = best
	}
	return pred, nil
}
