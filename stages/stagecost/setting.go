package stagecost

import (
	"context"
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/stageparams"
)

// Setting is what an estimate needs to know of a stage's surroundings: the
// architecture of the model it works on and the dataset's split sizes.
type Setting struct {
	Arch string
	// Train, Val and Test are image counts (Train after the validation
	// split is carved out of the official training set); 0 when unknown.
	Train, Val, Test int
	// Bits and ActBits are those of the quantized model the stage reads
	// (0: a float model or unknown).
	Bits, ActBits int
}

// upstreamInputs are the inputs SettingOf follows, in order.
var upstreamInputs = []string{"start", "model", "dataset"}

// SettingOf follows a stage's inputs to the pretrain stage (the
// architecture), the dataset stage (the split sizes) and the nearest
// quantized model (its bits).
func SettingOf(up pipeline.Upstream) Setting {
	var s Setting
	seenBits := false
	var walk func(u pipeline.Upstream, depth int)
	walk = func(u pipeline.Upstream, depth int) {
		if u == nil || depth > 8 {
			return
		}
		for _, in := range upstreamInputs {
			kind, p, next, ok := u.Input(in)
			if !ok {
				continue
			}
			switch kind {
			case "pretrain":
				var pp stageparams.Pretrain
				if read(p, &pp) && s.Arch == "" {
					s.Arch = pp.Model
				}
			case "dataset":
				var dp stageparams.Dataset
				if s.Train == 0 && read(p, &dp) {
					s.setDataset(dp)
				}
			case "quantize", "evolve":
				// Both kinds' parameters have bits and act_bits.
				var qp stageparams.Quantize
				if !seenBits {
					seenBits = true
					if read(p, &qp) {
						s.Bits, s.ActBits = qp.Bits, qp.ActBits
					}
				}
			}
			walk(next, depth+1)
		}
	}
	walk(up, 0)
	return s
}

// read decodes the parameters of another stage as far as they fit v
// (their kind checks them); it reports whether they did.
func read(p pipeline.Params, v any) bool { return json.Unmarshal(p.JSON(), v) == nil }

func (s *Setting) setDataset(p stageparams.Dataset) {
	size, err := datasets.SizeOf(p.Name)
	if err != nil {
		return
	}
	val := datasets.DefaultValSize
	if p.ValSize != nil {
		val = *p.ValSize
	}
	val = max(0, min(val, size.Train))
	s.Train, s.Val, s.Test = size.Train-val, val, size.Test
}

// Duration is images times the seconds per image of w from model m, plus
// a fixed cost; ok is false when m knows nothing of w.
func (m *Model) Duration(w Work, images float64, fixed time.Duration) (time.Duration, bool) {
	if images <= 0 {
		return fixed, true
	}
	sec, _, ok := m.SecondsPerImage(context.Background(), w)
	if !ok {
		return 0, false
	}
	d := time.Duration(math.Round(sec * images * float64(time.Second)))
	return d + fixed, true
}

// weightCounts caches Weights.
var weightCounts sync.Map

// Weights is the number of parameters of an architecture built for a
// 1x28x28 input (3x32x32 for resnet20) with 10 classes.
func Weights(arch string) (int, error) {
	if n, ok := weightCounts.Load(arch); ok {
		return n.(int), nil
	}
	g, err := nn.BuildGraph(arch, nn.BenchInput(arch), 10)
	if err != nil {
		return 0, err
	}
	m, err := nn.NewModel(g, 1)
	if err != nil {
		return 0, err
	}
	n := m.NumParams()
	m.Close()
	weightCounts.Store(arch, n)
	return n, nil
}

// Chain is a fixed pipeline.Upstream built by hand (tests, tools): each
// input name maps to the stage behind it.
type Chain map[string]ChainStage

// ChainStage is one stage of a Chain: its kind, its parameters and its own
// inputs.
type ChainStage struct {
	Kind   string
	Params map[string]any
	Up     Chain
}

// Input implements pipeline.Upstream; parameters that cannot be
// canonicalised make the input absent.
func (c Chain) Input(name string) (string, pipeline.Params, pipeline.Upstream, bool) {
	s, ok := c[name]
	if !ok {
		return "", pipeline.Params{}, nil, false
	}
	p, err := pipeline.NewParams(s.Params)
	if err != nil {
		return "", pipeline.Params{}, nil, false
	}
	var up pipeline.Upstream
	if s.Up != nil {
		up = s.Up
	}
	return s.Kind, p, up, true
}
