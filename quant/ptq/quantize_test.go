package ptq

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

func TestBaselines(t *testing.T) {
	ctx := context.Background()
	f := testFloatModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 9)
	x, y := testData(f.Graph, 96, 3)
	fl, err := quant.Fold(f)
	if err != nil {
		t.Fatal(err)
	}
	werr := func(m *quant.Model) float64 {
		var e float64
		for i, l := range m.Layers {
			per := len(l.Levels) / len(l.Scales)
			for j, lv := range l.Levels {
				d := float64(fl[i].Weight[j]) - float64(l.Scales[j/per])*float64(lv)
				e += d * d
			}
		}
		return e
	}
	for _, gran := range []quant.Granularity{quant.PerTensor, quant.PerChannel} {
		for _, bits := range []int{1, 2, 4, 8} {
			ms := map[string]*quant.Model{}
			for _, method := range []string{"rtn", "mse", "percentile", "bias-corr"} {
				m, err := Quantize(ctx, f, Options{Method: method, Bits: bits, Granularity: gran, CalibX: x, CalibLabels: y})
				if err != nil {
					t.Fatalf("%s %d bits %s: %v", method, bits, gran, err)
				}
				if m.Method != method || m.Bits != bits || m.UsedFPGradients {
					t.Fatalf("metadata %+v", m)
				}
				ms[method] = m
			}
			if bits > 1 && werr(ms["mse"]) > werr(ms["rtn"])*(1+1e-9) {
				t.Errorf("%d bits %s: mse weight error %g above rtn's %g", bits, gran, werr(ms["mse"]), werr(ms["rtn"]))
			}
			if bits == 8 {
				// 8-bit rtn stays close to the float network.
				fLoss, _, err := engine.EvaluateFloat(ctx, f, x, y, 2)
				if err != nil {
					t.Fatal(err)
				}
				r, err := engine.EvaluateModel(ctx, ms["rtn"], x, y, 2)
				if err != nil {
					t.Fatal(err)
				}
				if relDiff(r.Loss, fLoss) > 1e-2 {
					t.Errorf("8-bit rtn loss %g, float %g", r.Loss, fLoss)
				}
			}
		}
	}
}

// TestBiasCorrection checks that bias correction brings each layer's mean
// output per channel (on the calibration batch) close to the float model's.
func TestBiasCorrection(t *testing.T) {
	ctx := context.Background()
	f := testFloatModel(t, "mlp", nn.Shape{C: 1, H: 8, W: 8}, 2)
	x, y := testData(f.Graph, 64, 3)
	fl, _ := quant.Fold(f)
	meanGap := func(m *quant.Model) float64 {
		fr, _ := engine.NewFloatProbe(f.Graph, fl, 1)
		qr, _ := engine.NewModelProbe(m, 1)
		var gap float64
		for li := range fl {
			a, _ := channelMeans(ctx, fr, li, x, y)
			b, _ := channelMeans(ctx, qr, li, x, y)
			for o := range a {
				gap += (a[o] - b[o]) * (a[o] - b[o])
			}
		}
		return gap
	}
	rtn, err := Quantize(ctx, f, Options{Method: "rtn", Bits: 2, CalibX: x, CalibLabels: y})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := Quantize(ctx, f, Options{Method: "bias-corr", Bits: 2, CalibX: x, CalibLabels: y})
	if err != nil {
		t.Fatal(err)
	}
	bm, err := Quantize(ctx, f, Options{Method: "bias-corr", BiasCorrScales: "mse", Bits: 2, CalibX: x, CalibLabels: y})
	if err != nil {
		t.Fatal(err)
	}
	mse, _ := Quantize(ctx, f, Options{Method: "mse", Bits: 2})
	for i := range bm.Layers {
		if bm.Layers[i].Scales[0] != mse.Layers[i].Scales[0] || !slices.Equal(bm.Layers[i].Levels, mse.Layers[i].Levels) {
			t.Errorf("bias-corr on mse scales: layer %d differs from mse", i)
		}
	}
	if bm.Extra["ccq.bias_corr_scales"] != "mse" || meanGap(bm) > meanGap(mse)*0.01 {
		t.Errorf("bias-corr on mse scales: extra %v, gap %g vs %g", bm.Extra, meanGap(bm), meanGap(mse))
	}
	if _, err := Quantize(ctx, f, Options{Method: "bias-corr", BiasCorrScales: "lsq", Bits: 2, CalibX: x, CalibLabels: y}); err == nil {
		t.Error("unknown bias-corr scales accepted")
	}
	g0, g1 := meanGap(rtn), meanGap(bc)
	if !(g1 < g0*0.01) {
		t.Errorf("mean output gap: rtn %g, bias-corr %g (expected 100x smaller)", g0, g1)
	}
}

func TestActivationCalibration(t *testing.T) {
	m, _ := testModel(t, "resnet20", nn.Shape{C: 3, H: 8, W: 8}, 4, 8, quant.PerTensor, 3)
	for i, l := range m.Layers {
		wantSigned := i == 0 // only the network input can be negative
		if l.Act.Bits != 8 || l.Act.Signed != wantSigned || !(l.Act.Scale > 0) {
			t.Errorf("layer %s: activation quantizer %+v", l.Name, l.Act)
		}
	}
}

func TestQuantizeRejects(t *testing.T) {
	ctx := context.Background()
	f := testFloatModel(t, "mlp", nn.Shape{C: 1, H: 6, W: 6}, 2)
	x, y := testData(f.Graph, 8, 3)
	bad := map[string]Options{
		"bits 0":              {Method: "rtn", Bits: 0},
		"bits 9":              {Method: "rtn", Bits: 9},
		"activation bits 16":  {Method: "rtn", Bits: 4, ActBits: 16},
		`method "foo"`:        {Method: "foo", Bits: 4},
		"needs calibration":   {Method: "bias-corr", Bits: 4},
		"calibration set: 35": {Method: "rtn", Bits: 4, ActBits: 8, CalibX: x[:35], CalibLabels: y},
		`granularity "layer"`: {Method: "rtn", Bits: 4, Granularity: "layer"},
	}
	for want, opt := range bad {
		if _, err := Quantize(ctx, f, opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	// A state dict whose shapes do not match the architecture.
	p := f.Params["fc2.weight"]
	f.Params["fc2.weight"] = quant.Tensor{Shape: []int{256, 255}, Data: p.Data[:256*255]}
	if _, err := Quantize(ctx, f, Options{Method: "rtn", Bits: 4}); err == nil || !strings.Contains(err.Error(), `tensor "fc2.weight" has shape [256 255]`) {
		t.Errorf("wrong shape: %v", err)
	}
	delete(f.Params, "fc2.weight")
	if _, err := Quantize(ctx, f, Options{Method: "rtn", Bits: 4}); err == nil || !strings.Contains(err.Error(), `tensor "fc2.weight" is missing`) {
		t.Errorf("missing tensor: %v", err)
	}
}
