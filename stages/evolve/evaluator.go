package evolve

import (
	"context"
	"fmt"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/plugins/host"
	"github.com/ccq-project/ccq/quant"
)

// batchEvaluator binds the optimizer host loop to ccq's quantized-network
// evaluator: each generation it normalises the generation's mini-batch of
// training images into a reused buffer, moves the evaluator's base as the
// host says, runs the base forward pass (which caches activations) and
// scores the candidates incrementally.
type batchEvaluator struct {
	ev      *quant.Evaluator
	d       *datasets.Dataset
	batches *batcher
	x       []float32
	labels  []uint8
	cands   []quant.Delta
	scores  []quant.Score
}

func newBatchEvaluator(ev *quant.Evaluator, d *datasets.Dataset, batchSize int) *batchEvaluator {
	b := newBatcher(d.Train.N, batchSize)
	return &batchEvaluator{
		ev: ev, d: d, batches: b,
		x:      make([]float32, b.size*d.C*d.H*d.W),
		labels: make([]uint8, b.size),
	}
}

// Score implements host.Evaluator.
func (e *batchEvaluator) Score(ctx context.Context, req *host.ScoreRequest, res *host.ScoreResult) error {
	switch {
	case req.BaseReset:
		if err := e.ev.SetBase(req.Base); err != nil {
			return fmt.Errorf("setting the base: %w", err)
		}
	case req.BaseDelta != nil:
		if err := e.ev.ApplyBase(quant.Delta{Indices: req.BaseDelta.Indices, Levels: req.BaseDelta.Levels}); err != nil {
			return fmt.Errorf("moving the base: %w", err)
		}
	}
	idx := e.batches.indices(req.Batch.Seed, req.Batch.Index)
	e.d.Normalize(&e.d.Train, idx, e.x)
	for i, j := range idx {
		e.labels[i] = e.d.Train.Labels[j]
	}
	base, err := e.ev.Prepare(ctx, e.x, e.labels)
	if err != nil {
		return fmt.Errorf("base forward pass: %w", err)
	}
	res.BaseFitness = base.Loss
	res.BaseAccuracy = float64(base.Correct) / float64(len(idx))
	n := len(req.Candidates)
	if cap(e.cands) < n {
		e.cands = make([]quant.Delta, n)
		e.scores = make([]quant.Score, n)
	}
	e.cands, e.scores = e.cands[:n], e.scores[:n]
	for i, c := range req.Candidates {
		e.cands[i] = quant.Delta{Indices: c.Indices, Levels: c.Levels}
	}
	if err := e.ev.Score(ctx, e.cands, e.scores); err != nil {
		return fmt.Errorf("scoring %d candidates: %w", n, err)
	}
	for i, s := range e.scores {
		res.Fitness[i] = s.Loss
	}
	return nil
}
