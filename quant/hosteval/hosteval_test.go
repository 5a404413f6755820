package hosteval

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/plugins/host"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/ptq"
)

// randSampler draws Gaussian images and random labels from the batch seed.
type randSampler struct{ classes int }

func (s randSampler) Sample(b host.Batch, x []float32, y []uint8) {
	rng := rand.New(rand.NewPCG(b.Seed, b.Index))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range y {
		y[i] = uint8(rng.IntN(s.classes))
	}
}

func TestScoreMatchesFromScratch(t *testing.T) {
	ctx := context.Background()
	g, err := nn.BuildGraph("mlp", nn.Shape{C: 1, H: 8, W: 8}, 10)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := nn.NewModel(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer fm.Close()
	m, err := ptq.Quantize(ctx, quant.FromNN(fm), ptq.Options{Method: "rtn", Bits: 3})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := engine.NewEvaluator(m, engine.EvalOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	const batch = 50
	he, err := New(ev, randSampler{10}, batch)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	base := m.Flat()
	randDelta := func(k int) optimizer.Delta {
		var d optimizer.Delta
		for _, i := range rng.Perm(len(base))[:k] {
			d.Indices = append(d.Indices, int32(i))
			d.Levels = append(d.Levels, int8(rng.IntN(7)-3))
		}
		return d
	}
	check := func(req *host.ScoreRequest) {
		t.Helper()
		res := &host.ScoreResult{Fitness: make([]float64, len(req.Candidates))}
		if err := he.Score(ctx, req, res); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, batch*g.Input.Size())
		y := make([]uint8, batch)
		randSampler{10}.Sample(req.Batch, x, y)
		score := func(levels []int8) (float64, float64) {
			c := m.Clone()
			if err := c.SetFlat(levels); err != nil {
				t.Fatal(err)
			}
			r, err := engine.EvaluateModel(ctx, c, x, y, 1)
			if err != nil {
				t.Fatal(err)
			}
			return r.Loss, r.Accuracy
		}
		bl, ba := score(req.Base)
		if math.Abs(bl-res.BaseFitness) > 1e-5*bl || ba != res.BaseAccuracy {
			t.Errorf("base: %v %v, from scratch %v %v", res.BaseFitness, res.BaseAccuracy, bl, ba)
		}
		for i, d := range req.Candidates {
			lv := append([]int8(nil), req.Base...)
			d.ApplyTo(lv)
			l, _ := score(lv)
			if math.Abs(l-res.Fitness[i]) > 1e-5*l {
				t.Errorf("candidate %d: %v, from scratch %v", i, res.Fitness[i], l)
			}
		}
	}
	req := &host.ScoreRequest{Batch: host.Batch{Index: 0, Seed: 11}, Base: base, BaseVersion: 1, BaseReset: true,
		Candidates: []optimizer.Delta{randDelta(5), randDelta(100)}}
	check(req)
	// The host moves the base by a delta.
	bd := randDelta(30)
	bd.ApplyTo(base)
	req = &host.ScoreRequest{Generation: 1, Batch: host.Batch{Index: 1, Seed: 12}, Base: base, BaseVersion: 2, BaseDelta: &bd,
		Candidates: []optimizer.Delta{randDelta(1), randDelta(300), randDelta(10)}}
	check(req)
	// An unknown version without a delta reloads the base.
	base[0] = -base[0]
	req = &host.ScoreRequest{Generation: 2, Batch: host.Batch{Index: 2, Seed: 13}, Base: base, BaseVersion: 7,
		Candidates: []optimizer.Delta{randDelta(3)}}
	check(req)
	// The validator scores a base like EvaluateModel does.
	x := make([]float32, 80*g.Input.Size())
	y := make([]uint8, 80)
	randSampler{10}.Sample(host.Batch{Seed: 5}, x, y)
	val, err := Validator(m, x, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := val(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Clone()
	_ = c.SetFlat(base)
	r, _ := engine.EvaluateModel(ctx, c, x, y, 1)
	if acc != r.Accuracy {
		t.Errorf("validator %v, EvaluateModel %v", acc, r.Accuracy)
	}
	if _, err := val(ctx, base[:3]); err == nil {
		t.Error("validator accepted a base of the wrong length")
	}
}
