// Package hosteval binds the quantized-network evaluator (quant/engine.Evaluator)
// to the optimizer host's generation loop (plugins/host.Evaluator): it keeps
// the evaluator's base in step with the host's, draws each generation's
// mini-batch, and scores the candidates and the base on it.
package hosteval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/plugins/host"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

// Sampler writes one generation's mini-batch: len(y) normalized images
// (NCHW float32) into x and their labels into y. It must depend only on the
// batch identity, so that a resumed run sees the same batches. With racing
// (host.Race) the batch's order must be random too: its first part stands
// for the whole in the race's test (SplitSampler's is).
type Sampler interface {
	Sample(b host.Batch, x []float32, y []uint8)
}

// Evaluator implements host.Evaluator over a engine.Evaluator.
type Evaluator struct {
	ev      *engine.Evaluator
	s       Sampler
	x       []float32
	y       []uint8
	cands   []engine.Delta
	scores  []engine.Score
	dropped []bool
	version uint64
	synced  bool
}

var _ host.Evaluator = (*Evaluator)(nil)

// New returns a host evaluator scoring on mini-batches of batch samples
// drawn by s (the evaluator's model fixes the image shape).
func New(ev *engine.Evaluator, s Sampler, batch int) (*Evaluator, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("hosteval: batch size %d: must be positive", batch)
	}
	in := ev.Model().Graph.Input.Size()
	return &Evaluator{ev: ev, s: s, x: make([]float32, batch*in), y: make([]uint8, batch)}, nil
}

// Score implements host.Evaluator: it syncs the base (a reset or an
// unknown version loads it whole, a known previous version applies the
// delta), samples the batch, runs the base (caching its activations) and
// scores every candidate incrementally (with req.Race, by
// engine.Evaluator.ScoreRace).
func (e *Evaluator) Score(ctx context.Context, req *host.ScoreRequest, res *host.ScoreResult) error {
	switch {
	case req.BaseReset || !e.synced || (req.BaseVersion != e.version && req.BaseDelta == nil):
		if err := e.ev.SetBase(req.Base); err != nil {
			return fmt.Errorf("hosteval: %w", err)
		}
	case req.BaseVersion != e.version:
		if err := e.ev.ApplyBase(engine.Delta(*req.BaseDelta)); err != nil {
			return fmt.Errorf("hosteval: %w", err)
		}
	}
	e.version, e.synced = req.BaseVersion, true
	e.s.Sample(req.Batch, e.x, e.y)
	base, err := e.ev.Prepare(ctx, e.x, e.y)
	if err != nil {
		return fmt.Errorf("hosteval: generation %d: %w", req.Generation, err)
	}
	e.cands = e.cands[:0]
	for _, d := range req.Candidates {
		e.cands = append(e.cands, engine.Delta(d))
	}
	if cap(e.scores) < len(e.cands) {
		e.scores = make([]engine.Score, len(e.cands))
	}
	e.scores = e.scores[:len(e.cands)]
	if req.Race == nil {
		if err := e.ev.Score(ctx, e.cands, e.scores); err != nil {
			return fmt.Errorf("hosteval: generation %d: %w", req.Generation, err)
		}
		for i, s := range e.scores {
			res.Fitness[i] = s.Loss
		}
	} else if err := e.race(ctx, req, res); err != nil {
		return err
	}
	res.BaseFitness = base.Loss
	res.BaseAccuracy = float64(base.Correct) / float64(len(e.y))
	return nil
}

// race scores the candidates with engine.Evaluator.ScoreRace: a dropped
// candidate's fitness is +Inf (its first-part loss is not comparable with
// the full-batch ones and is not passed on).
func (e *Evaluator) race(ctx context.Context, req *host.ScoreRequest, res *host.ScoreResult) error {
	if cap(e.dropped) < len(e.cands) {
		e.dropped = make([]bool, len(e.cands))
	}
	e.dropped = e.dropped[:len(e.cands)]
	st, err := e.ev.ScoreRace(ctx, e.cands, e.scores, e.dropped,
		engine.RaceOptions{Fraction: req.Race.Fraction, Z: req.Race.Z, Keep: req.Race.Keep})
	if err != nil {
		return fmt.Errorf("hosteval: generation %d: %w", req.Generation, err)
	}
	for i, s := range e.scores {
		res.Fitness[i] = s.Loss
		if e.dropped[i] {
			res.Fitness[i] = math.Inf(1)
		}
	}
	res.Dropped, res.SkippedImages = st.Dropped, st.SkippedSamples
	return nil
}

// SplitSampler draws each generation's mini-batch from a dataset split:
// len(y) distinct images chosen uniformly by a generator seeded with the
// batch's seed and index (a partial Fisher-Yates shuffle), so the batch
// depends on the batch identity only. A batch larger than the split
// repeats the shuffled split.
type SplitSampler struct {
	D    *datasets.Dataset
	S    *datasets.Split
	perm []int
	idx  []int
}

// Sample implements Sampler.
func (s *SplitSampler) Sample(b host.Batch, x []float32, y []uint8) {
	n := min(len(y), s.S.N)
	if len(s.perm) != s.S.N {
		s.perm = make([]int, s.S.N)
	}
	for i := range s.perm {
		s.perm[i] = i
	}
	rng := rand.New(rand.NewPCG(b.Seed, b.Index))
	for i := 0; i < n; i++ {
		j := i + rng.IntN(len(s.perm)-i)
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
	}
	s.idx = s.idx[:0]
	for k := range y {
		s.idx = append(s.idx, s.perm[k%n])
	}
	s.D.Normalize(s.S, s.idx, x)
	for k, i := range s.idx {
		y[k] = s.S.Labels[i]
	}
}

// Validator returns a host.ValidateFunc that measures a base's accuracy on
// fixed samples (a validation split, NCHW float32 normalized) with the
// quantized forward path, reusing its buffers between calls. Like the host,
// it calls it from one goroutine at a time.
func Validator(model *quant.Model, x []float32, labels []uint8, workers int) (host.ValidateFunc, error) {
	r, err := engine.NewRunner(model, workers)
	if err != nil {
		return nil, fmt.Errorf("hosteval: validation: %w", err)
	}
	return func(ctx context.Context, base []int8) (float64, error) {
		s, err := r.Score(ctx, base, x, labels)
		if err != nil {
			return 0, fmt.Errorf("hosteval: validation: %w", err)
		}
		return float64(s.Correct) / float64(len(labels)), nil
	}, nil
}
