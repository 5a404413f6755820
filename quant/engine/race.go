package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// RaceOptions configures ScoreRace: every candidate is scored on a first
// part of the prepared batch, and only those that can still matter are
// scored on the rest.
type RaceOptions struct {
	// Fraction is the part of the batch every candidate is scored on
	// first, rounded up to whole chunks (0 < Fraction < 1).
	Fraction float64
	// Z is the one-sided z-score a difference must exceed to count as
	// decided (> 0; 3 makes each test wrong with probability about 0.0013
	// under the normal approximation).
	Z float64
	// Keep is the number of best candidates whose full-batch fitnesses the
	// caller needs (>= 1): a candidate is dropped only when at least Keep
	// others are decidedly better on the first part.
	Keep int
}

// Validate checks the options' ranges, naming the field at fault.
func (o RaceOptions) Validate() error {
	switch {
	case !(o.Fraction > 0 && o.Fraction < 1):
		return fmt.Errorf("race fraction %v: expected 0 < fraction < 1", o.Fraction)
	case !(o.Z > 0) || math.IsInf(o.Z, 0):
		return fmt.Errorf("race z %v: expected a finite z > 0", o.Z)
	case o.Keep < 1:
		return fmt.Errorf("race keep %d: expected >= 1", o.Keep)
	}
	return nil
}

// RaceStats says what ScoreRace skipped.
type RaceStats struct {
	// PartSamples is the number of samples every candidate was scored on
	// first (0: no race this time, every candidate was scored in full:
	// the first part would have been under RaceMinSamples samples, or
	// would have covered the whole batch, or there were no more than Keep
	// candidates).
	PartSamples int
	// Dropped is the number of candidates not scored on the rest.
	Dropped int
	// SkippedSamples is the number of candidate-samples not evaluated
	// (Dropped times the samples past the first part).
	SkippedSamples int64
}

// RaceMinSamples is the smallest first part ScoreRace races on: below it
// the normal approximation of its z-test is not trusted and every candidate
// is scored in full.
const RaceMinSamples = 32

// raceState is ScoreRace's scratch space, kept between calls.
type raceState struct {
	loss    []float64 // per candidate: loss sum so far
	correct []int     // per candidate: correct predictions so far
	same    []bool    // per candidate: leaves the base unchanged
	per     []float64 // per candidate: per-sample losses on the first part
	finish  []int     // candidates scored on the rest
}

// ScoreRace scores candidates like Score, but first on the first chunks
// of the prepared batch (opt.Fraction of it, in whole chunks); a
// candidate whose per-sample losses there make it decidedly worse than the
// base and than at least opt.Keep other candidates (the rule of raceDrop)
// is not scored on the rest: dropped[i] is set and out[i] holds its
// first-part mean loss and correct count (flagged by dropped, not
// comparable with the others). Every other candidate's score is the one
// Score gives, bit for bit. The first part must be a uniformly random part
// of the batch (the batch's order random) for the test to hold.
func (e *Evaluator) ScoreRace(ctx context.Context, cands []Delta, out []Score, dropped []bool, opt RaceOptions) (RaceStats, error) {
	if err := opt.Validate(); err != nil {
		return RaceStats{}, fmt.Errorf("score: %w", err)
	}
	if len(out) < len(cands) || len(dropped) < len(cands) {
		return RaceStats{}, fmt.Errorf("score: %d candidates but room for %d scores and %d flags", len(cands), len(out), len(dropped))
	}
	clear(dropped[:len(cands)])
	if err := e.prepare(ctx); err != nil {
		return RaceStats{}, fmt.Errorf("score: %w", err)
	}
	nch := e.chunks()
	mc := min(nch, int(math.Ceil(opt.Fraction*float64(e.b.n)/float64(e.n.chunk))))
	m := min(e.b.n, mc*e.n.chunk)
	if m < RaceMinSamples || mc >= nch || len(cands) <= opt.Keep {
		return RaceStats{}, e.Score(ctx, cands, out)
	}
	nc := len(cands)
	r := &e.race
	r.loss, r.correct, r.same = grow(r.loss, nc), grow(r.correct, nc), grow(r.same, nc)
	r.per = grow(r.per, nc*m)
	err := e.forEach(ctx, nc, func(w *worker, i int) error {
		r.loss[i], r.correct[i] = 0, 0
		same, err := e.candidateChunks(w, cands[i], 0, mc, &r.loss[i], &r.correct[i], r.per[i*m:(i+1)*m])
		if err != nil {
			return fmt.Errorf("candidate %d: %w", i, err)
		}
		r.same[i] = same
		if same {
			copy(r.per[i*m:(i+1)*m], e.basePer[:m])
		}
		return nil
	})
	if err != nil {
		return RaceStats{}, fmt.Errorf("score: %w", err)
	}
	raceDrop(r.per, m, e.basePer[:m], e.b.n, opt.Keep, opt.Z, dropped[:nc])
	r.finish = r.finish[:0]
	st := RaceStats{PartSamples: m}
	for i := range cands {
		switch {
		case r.same[i]:
			out[i] = e.baseSc
		case dropped[i]:
			out[i] = Score{Loss: r.loss[i] / float64(m), Correct: r.correct[i]}
			st.Dropped++
			st.SkippedSamples += int64(e.b.n - m)
		default:
			r.finish = append(r.finish, i)
		}
	}
	err = e.forEach(ctx, len(r.finish), func(w *worker, k int) error {
		i := r.finish[k]
		if _, err := e.candidateChunks(w, cands[i], mc, nch, &r.loss[i], &r.correct[i], nil); err != nil {
			return fmt.Errorf("candidate %d: %w", i, err)
		}
		out[i] = Score{Loss: r.loss[i] / float64(e.b.n), Correct: r.correct[i]}
		return nil
	})
	if err != nil {
		return RaceStats{}, fmt.Errorf("score: %w", err)
	}
	return st, nil
}

// grow returns s resized to n elements (contents unspecified).
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// forEach runs job(w, i) for i in [0, n) on the evaluator's workers and
// returns the first error (after which the remaining jobs are skipped).
func (e *Evaluator) forEach(ctx context.Context, n int, job func(w *worker, i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(e.workers))
	for wi, w := range e.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := job(w, i); err != nil {
					errs[wi] = err
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// raceDrop decides which candidates to drop after the first part of a
// batch. per holds every candidate's per-sample losses on the first part
// (m samples each, candidate after candidate), base the base's on the same
// samples; n is the whole batch's size. Candidate i is dropped when both
//
//   - the base is decidedly better than i, and
//   - at least keep other candidates are each decidedly better than i,
//
// where "a is decidedly better than b" is a paired z-test on the
// per-sample differences d = loss_b - loss_a of the m samples: their mean
// exceeds z times its standard error, with a positive standard error. The
// quantity the optimizer sees is the mean over the whole batch of n, and
// the first part is a simple random sample of it without replacement, so
// the standard error carries the finite-population correction:
// se = s * sqrt((1 - m/n) / m), s the samples' standard deviation. With
// the fitness the optimizer uses being a rank among the keep best (or a
// comparison with the base), a candidate among the keep best on the whole
// batch is dropped only if one of its tests against a candidate it
// actually beats, or against the base, is wrong.
func raceDrop(per []float64, m int, base []float64, n int, keep int, z float64, drop []bool) {
	nc := len(drop)
	fpc := (1 - float64(m)/float64(n)) / float64(m)
	better := func(a, b []float64) bool { // a decidedly better (lower) than b
		var s float64
		for k := range m {
			s += b[k] - a[k]
		}
		mean := s / float64(m)
		if !(mean > 0) {
			return false
		}
		var ss float64
		for k := range m {
			d := b[k] - a[k] - mean
			ss += d * d
		}
		se := math.Sqrt(ss / float64(m-1) * fpc)
		return se > 0 && mean > z*se
	}
	for i := range nc {
		drop[i] = false
		pi := per[i*m : (i+1)*m]
		if !better(base, pi) {
			continue
		}
		cnt := 0
		for j := 0; j < nc && cnt < keep; j++ {
			if j != i && better(per[j*m:(j+1)*m], pi) {
				cnt++
			}
		}
		drop[i] = cnt >= keep
	}
}

// chunkLossPer is chunkLoss (without the confusion matrix) that also
// writes each sample's cross-entropy into per (len bc); it adds the same
// values to *loss in the same order, so the sums are bit for bit the same.
func chunkLossPer(logits []float32, labels []uint8, classes, bc int, loss *float64, correct *int, per []float64) {
	for b := 0; b < bc; b++ {
		best, arg := logits[b], 0
		for k := 1; k < classes; k++ {
			if v := logits[k*bc+b]; v > best {
				best, arg = v, k
			}
		}
		var sum float64
		for k := 0; k < classes; k++ {
			sum += math.Exp(float64(logits[k*bc+b] - best))
		}
		lab := int(labels[b])
		v := math.Log(sum) - float64(logits[lab*bc+b]-best)
		per[b] = v
		*loss += v
		if arg == lab {
			*correct++
		}
	}
}
