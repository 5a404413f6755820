package ste

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

// qatNetwork builds the network ste-qat trains for the quantized model q
// (from the float model f): the batch-norm-free graph with q's activation
// quantizers as fake_quant nodes, and q's dequantized weights and biases.
func qatNetwork(t *testing.T, f *quant.FloatModel, q *quant.Model) *nn.Model {
	t.Helper()
	fl, err := quant.Fold(f)
	if err != nil {
		t.Fatal(err)
	}
	acts := make([]quant.ActQuant, len(q.Layers))
	for i := range q.Layers {
		acts[i] = q.Layers[i].Act
	}
	g, err := trainingGraph(f.Graph, fl, acts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewModel(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range q.Layers {
		l := &q.Layers[i]
		w := m.Param(l.Name + ".weight").Data
		per := len(w) / l.Out()
		for j, v := range l.Levels {
			w[j] = l.Scale(j/per) * float32(v)
		}
		copy(m.Param(l.Name+".bias").Data, l.Bias)
	}
	return m
}

// blobSet returns n samples of a synthetic image task: each of the graph's
// classes is a fixed random prototype image, a sample its class's
// prototype plus noise.
func blobSet(g nn.Graph, n int, seed uint64) *nn.Slice {
	rng := rand.New(rand.NewPCG(seed, 3))
	pr := rand.New(rand.NewPCG(77, 78))
	d := g.Input.Size()
	protos := make([]float64, g.Classes*d)
	for i := range protos {
		protos[i] = pr.NormFloat64()
	}
	s := &nn.Slice{X: make([]float32, n*d), Y: make([]uint8, n), Shape: g.Input}
	for i := 0; i < n; i++ {
		c := rng.IntN(g.Classes)
		s.Y[i] = uint8(c)
		for j := 0; j < d; j++ {
			s.X[i*d+j] = float32(protos[c*d+j] + 1.5*rng.NormFloat64())
		}
	}
	return s
}

// TestSTEQATQuantizedActivations checks ste-qat with quantized activations
// on a LeNet-5 trained on a synthetic task: the activation scales are the
// float model's calibration, the evaluator computes the network fine-tuning
// trained (same accuracy, same loss up to float rounding), and at 2-bit
// activations it beats the earlier recipe of float-activation fine-tuning
// with scales calibrated afterwards on held-out data.
func TestSTEQATQuantizedActivations(t *testing.T) {
	ctx := context.Background()
	g, err := nn.BuildGraph("lenet5", nn.Shape{C: 1, H: 12, W: 12}, 4)
	if err != nil {
		t.Fatal(err)
	}
	train, test := blobSet(g, 640, 1), blobSet(g, 400, 2)
	fm, err := nn.NewModel(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	fm.SetThreads(2)
	tr := &nn.Trainer{Model: fm, Config: nn.TrainConfig{Epochs: 3, BatchSize: 32, LR: 0.05, Momentum: 0.9, Schedule: nn.ScheduleCosine}}
	if _, err := tr.Train(ctx, train, test); err != nil {
		t.Fatal(err)
	}
	f := quant.FromNN(fm)
	d := g.Input.Size()
	calX, calY := train.X[:128*d], train.Y[:128]
	const actBits = 2
	opt := STEOptions{Bits: 4, ActBits: actBits, Epochs: 3, BatchSize: 32, LR: 0.02, CalibX: calX, CalibLabels: calY, Workers: 2}
	qat, err := QuantizeSTE(ctx, f, train, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.FloatActivations = true
	old, err := QuantizeSTE(ctx, f, train, opt)
	if err != nil {
		t.Fatal(err)
	}
	if qat.ActBits != actBits || qat.Method != "ste-qat" || !qat.UsedFPGradients {
		t.Errorf("metadata %+v", qat)
	}
	fl, err := quant.Fold(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := engine.CalibrateActs(ctx, f.Graph, fl, engine.ActCalibration{Bits: actBits, X: calX, Labels: calY})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range qat.Layers {
		if l.Act != want[i] {
			t.Errorf("layer %s: activation quantizer %+v, the float model's calibration gives %+v", l.Name, l.Act, want[i])
		}
	}
	if !qat.Layers[0].Act.Signed || qat.Layers[1].Act.Signed {
		t.Errorf("signed network input and unsigned hidden activations expected: %+v, %+v", qat.Layers[0].Act, qat.Layers[1].Act)
	}
	// The evaluator runs the trained network.
	n := test.Len()
	rq, err := engine.EvaluateModel(ctx, qat, test.X, test.Y, 2)
	if err != nil {
		t.Fatal(err)
	}
	m := qatNetwork(t, f, qat)
	logits := m.Forward(test.X, n, false)
	dl := make([]float32, len(logits))
	loss := nn.SoftmaxCrossEntropy(logits, test.Y, n, g.Classes, dl)
	correct := 0
	for s := 0; s < n; s++ {
		row := logits[s*g.Classes : (s+1)*g.Classes]
		if slices.Index(row, slices.Max(row)) == int(test.Y[s]) {
			correct++
		}
	}
	if math.Abs(rq.Loss-loss) > 1e-3*loss || abs(rq.Correct-correct) > n/200 {
		t.Errorf("the evaluator (loss %.6f, %d of %d correct) does not run the network ste-qat trained (loss %.6f, %d correct)", rq.Loss, rq.Correct, n, loss, correct)
	}
	ro, err := engine.EvaluateModel(ctx, old, test.X, test.Y, 2)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := nn.Evaluate(ctx, fm, test, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out: float loss %.4f acc %.3f; W4A%d float-activation fine-tuning + calibration: loss %.4f, acc %.3f; activation QAT: loss %.4f, acc %.3f (training graph: loss %.4f, %d correct)",
		fr.Loss, fr.Accuracy, actBits, ro.Loss, ro.Accuracy, rq.Loss, rq.Accuracy, loss, correct)
	if !(rq.Loss < ro.Loss) || rq.Correct < ro.Correct {
		t.Errorf("activation QAT (loss %.4f, %d correct) does not beat float-activation fine-tuning with scales calibrated afterwards (loss %.4f, %d correct)", rq.Loss, rq.Correct, ro.Loss, ro.Correct)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestSTEWeightsOnlyUnchanged checks that weights-only training does not
// depend on the activation settings: ActBits 32 trains exactly what the
// float-activation recipe trains before it calibrates activation scales
// (the ActBits 32 path is the one ccq had before activation QAT).
func TestSTEWeightsOnlyUnchanged(t *testing.T) {
	ctx := context.Background()
	f := steFloatModel(t, "lenet5", nn.Shape{C: 1, H: 12, W: 12}, 5)
	x, y := separable(f.Graph, 256, 2)
	src := &nn.Slice{X: x, Y: y, Shape: f.Graph.Input}
	d := f.Graph.Input.Size()
	opt := STEOptions{Bits: 3, Epochs: 2, BatchSize: 64, LR: 0.05, CalibX: x[:64*d], CalibLabels: y[:64], Workers: 2}
	w, err := QuantizeSTE(ctx, f, src, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.ActBits, opt.FloatActivations = 4, true
	a, err := QuantizeSTE(ctx, f, src, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range w.Layers {
		lw, la := &w.Layers[i], &a.Layers[i]
		if !slices.Equal(lw.Levels, la.Levels) || !slices.Equal(lw.Scales, la.Scales) || !slices.Equal(lw.Bias, la.Bias) {
			t.Errorf("layer %s: weights-only training differs between act_bits 32 and float activations at act_bits 4", lw.Name)
		}
		if lw.Act.Enabled() || !la.Act.Enabled() {
			t.Errorf("layer %s: activation quantizers %+v (act_bits 32) and %+v (act_bits 4)", lw.Name, lw.Act, la.Act)
		}
	}
	opt.FloatActivations, opt.CalibX = false, nil
	if _, err := QuantizeSTE(ctx, f, src, opt); err == nil {
		t.Error("4-bit activations without a calibration set accepted")
	}
}
