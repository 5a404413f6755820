package nn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ccq-project/ccq/nn/internal/vec"
)

// Source is a labelled set of images that training and evaluation read by
// index.
type Source interface {
	// Len is the number of examples.
	Len() int
	// Batch writes the normalised images idx (NCHW float32) into x and
	// their labels into y. x holds len(idx) images, y len(idx) labels.
	Batch(idx []int, x []float32, y []uint8)
}

// Schedules of the learning rate (TrainConfig.Schedule).
const (
	ScheduleConstant = "constant"
	ScheduleStep     = "step"
	ScheduleCosine   = "cosine"
)

// Augmentations (TrainConfig.Augment).
const (
	AugmentNone     = "none"
	AugmentCropFlip = "crop-flip" // the CIFAR recipe: random crop with 4-pixel padding, horizontal flip
	AugmentCrop     = "crop"      // random crop with 4-pixel padding only
)

// TrainConfig is the recipe of a training run. Zero fields take the defaults
// of DefaultTrainConfig.
type TrainConfig struct {
	Epochs       int       `json:"epochs"`
	BatchSize    int       `json:"batch_size"`
	LR           float64   `json:"lr"`                   // base learning rate
	Momentum     float64   `json:"momentum"`             // SGD momentum (PyTorch convention, no dampening)
	Nesterov     bool      `json:"nesterov"`             // Nesterov momentum
	WeightDecay  float64   `json:"weight_decay"`         // L2 penalty added to every parameter's gradient
	Schedule     string    `json:"schedule"`             // constant, step or cosine (per iteration)
	Milestones   []float64 `json:"milestones,omitempty"` // step: epochs at which lr *= Gamma (default: 50% and 75% of Epochs)
	Gamma        float64   `json:"gamma,omitempty"`      // step: decay factor (default 0.1)
	WarmupEpochs float64   `json:"warmup_epochs"`        // linear warm-up from lr/warm-up-iterations to lr
	Augment      string    `json:"augment"`              // none, crop-flip or crop
	Seed         uint64    `json:"seed"`                 // shuffling and augmentation
	EvalBatch    int       `json:"eval_batch"`           // batch size for validation (default 1024)
}

// DefaultTrainConfig returns the recommended recipe: 10 epochs, batch 128,
// SGD lr 0.05, momentum 0.9, weight decay 5e-4, cosine schedule after one
// epoch of linear warm-up, no augmentation, seed 1. (Without the warm-up,
// lr 0.05 with momentum 0.9 can blow up in the first hundred steps and
// cost LeNet-5 most of a point on MNIST.) In a TrainConfig, zero
// WeightDecay and WarmupEpochs mean none; other zero fields take these
// defaults.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{Epochs: 10, BatchSize: 128, LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, Schedule: ScheduleCosine,
		WarmupEpochs: 1, Augment: AugmentNone, Seed: 1, EvalBatch: 1024, Gamma: 0.1}
}

// withDefaults fills zero fields and checks the values.
func (c TrainConfig) withDefaults() (TrainConfig, error) {
	d := DefaultTrainConfig()
	if c.Epochs == 0 {
		c.Epochs = d.Epochs
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.LR == 0 {
		c.LR = d.LR
	}
	if c.Schedule == "" {
		c.Schedule = d.Schedule
	}
	if c.Augment == "" {
		c.Augment = d.Augment
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = d.EvalBatch
	}
	if c.Gamma == 0 {
		c.Gamma = d.Gamma
	}
	switch {
	case c.Epochs < 0:
		return c, fmt.Errorf("epochs %d: expected a positive number", c.Epochs)
	case c.BatchSize < 2:
		return c, fmt.Errorf("batch size %d: expected at least 2", c.BatchSize)
	case c.LR < 0 || math.IsNaN(c.LR) || math.IsInf(c.LR, 0):
		return c, fmt.Errorf("learning rate %v: expected a non-negative number", c.LR)
	case c.Momentum < 0 || c.Momentum >= 1:
		return c, fmt.Errorf("momentum %v: expected a value in [0, 1)", c.Momentum)
	case c.WeightDecay < 0:
		return c, fmt.Errorf("weight decay %v: expected a non-negative number", c.WeightDecay)
	case c.WarmupEpochs < 0 || c.WarmupEpochs > float64(c.Epochs):
		return c, fmt.Errorf("warm-up %v epochs: expected 0 to %d", c.WarmupEpochs, c.Epochs)
	case c.Nesterov && c.Momentum == 0:
		return c, errors.New("Nesterov momentum needs a positive momentum")
	case c.EvalBatch < 1:
		return c, fmt.Errorf("evaluation batch %d: expected a positive number", c.EvalBatch)
	}
	switch c.Schedule {
	case ScheduleConstant, ScheduleCosine:
	case ScheduleStep:
		if len(c.Milestones) == 0 {
			c.Milestones = []float64{0.5 * float64(c.Epochs), 0.75 * float64(c.Epochs)}
		}
	default:
		return c, fmt.Errorf("schedule %q: expected %s, %s or %s", c.Schedule, ScheduleConstant, ScheduleStep, ScheduleCosine)
	}
	switch c.Augment {
	case AugmentNone, AugmentCropFlip, AugmentCrop:
	default:
		return c, fmt.Errorf("augmentation %q: expected %s, %s or %s", c.Augment, AugmentNone, AugmentCropFlip, AugmentCrop)
	}
	return c, nil
}

// LRAt returns the learning rate of iteration it (0-based) of a run of
// total iterations with perEpoch iterations per epoch.
func (c TrainConfig) LRAt(it, total, perEpoch int) float64 {
	warm := int(math.Round(c.WarmupEpochs * float64(perEpoch)))
	if it < warm {
		return c.LR * float64(it+1) / float64(warm)
	}
	switch c.Schedule {
	case ScheduleCosine:
		span := total - warm
		if span <= 0 {
			return c.LR
		}
		return c.LR * 0.5 * (1 + math.Cos(math.Pi*float64(it-warm)/float64(span)))
	case ScheduleStep:
		epoch := float64(it) / float64(perEpoch)
		lr := c.LR
		for _, m := range c.Milestones {
			if epoch >= m {
				lr *= c.Gamma
			}
		}
		return lr
	}
	return c.LR
}

// EpochLog is one epoch of a training run.
type EpochLog struct {
	Epoch        int     `json:"epoch"` // 1-based
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_acc"`          // on the augmented training batches, in [0, 1]
	ValLoss      float64 `json:"val_loss,omitempty"` // 0 without a validation set
	ValAcc       float64 `json:"val_acc,omitempty"`
	LR           float64 `json:"lr"` // at the end of the epoch
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_sec"` // training throughput (validation excluded)
}

// TrainLog is the record of a training run.
type TrainLog struct {
	Config     TrainConfig `json:"config"`
	Threads    int         `json:"threads"`
	TrainN     int         `json:"train_n"`
	ValN       int         `json:"val_n"`
	Epochs     []EpochLog  `json:"epochs"`
	BestEpoch  int         `json:"best_epoch"` // the epoch whose weights the model holds at the end
	BestValAcc float64     `json:"best_val_acc,omitempty"`
	Seconds    float64     `json:"seconds"`           // wall time (resumed: plus the earlier sessions' up to the state)
	Stopped    string      `json:"stopped,omitempty"` // why the run ended early, if it did
	// ResumedAt lists the epochs at which the run continued from a
	// TrainState (Trainer.Resume), one per resumption; empty for a run
	// trained in one go.
	ResumedAt []int `json:"resumed_at,omitempty"`
}

// Progress is reported after every training batch and at the end of every
// epoch (EpochDone, with Val* set when there is a validation set).
type Progress struct {
	Epoch, Epochs   int // 1-based
	Batch, Batches  int // 1-based within the epoch
	Loss            float64
	AvgLoss         float64 // mean over the epoch so far
	LR              float64
	ImagesPerSec    float64 // over the epoch so far
	ETA             time.Duration
	EpochDone       bool
	ValAcc, ValLoss float64
	Best            bool // EpochDone: this epoch is the best so far
}

// Trainer trains a model with SGD (see TrainConfig).
type Trainer struct {
	Model  *Model
	Config TrainConfig
	// Progress, if set, is called after every batch and every epoch.
	Progress func(Progress)
	// OnBest, if set, is called when an epoch improves the validation
	// accuracy (or, without validation data, after every epoch) with the
	// model holding that epoch's weights; use it to write a checkpoint.
	OnBest func(m *Model, e EpochLog) error
	// OnEpoch, if set, is called after every epoch with the log so far.
	OnEpoch func(l *TrainLog)
	// OnCheckpoint, if set, is called after every epoch (after OnBest,
	// before OnEpoch) with the state that Resume takes to continue from
	// there. The state's models, momentum and log are views of the live
	// run, valid only during the call: encode it (EncodeTrainState), do not
	// keep it. An error stops training, as OnBest's does.
	OnCheckpoint func(s *TrainState) error
	// Resume, if set, is the state after a completed epoch of an earlier
	// run of the same recipe on the same data with the same thread count
	// (from OnCheckpoint, usually through DecodeTrainState). Train copies
	// it into Model and continues with the next epoch, computing exactly
	// what the uninterrupted run would have; it first calls OnBest with the
	// restored best model, so that a writer of the best model has it again.
	// A state that does not fit is an error wrapping ErrStateMismatch,
	// returned before anything is trained or called.
	Resume *TrainState
}

// TrainState is a training run after a completed epoch: everything Train
// needs to continue with the next epoch as if it had not stopped. The
// learning-rate schedule position follows from Epoch (the schedule is a
// function of the iteration), and SGD's momentum has always started
// after an epoch, so neither is stored separately.
type TrainState struct {
	// Epoch is the number of completed epochs.
	Epoch int
	// Model holds the weights and batch-norm statistics after Epoch.
	Model *Model
	// Momentum is SGD's momentum buffer, one value per parameter in
	// Model.Flat order.
	Momentum []float32
	// Best is the model of the best epoch so far (Log.BestEpoch); nil
	// only when Log.BestEpoch is 0.
	Best *Model
	// RNG is the state of the generator that shuffles and augments
	// (rand.PCG's MarshalBinary).
	RNG []byte
	// Order is the order of the training examples after the last epoch's
	// shuffle (each epoch shuffles the previous epoch's order).
	Order []int
	// Log is the run's log up to Epoch, Log.Epochs included.
	Log TrainLog
}

// ErrStateMismatch is wrapped by Train's error when Trainer.Resume is not
// a state of the configured run (another recipe, data size, thread count
// or architecture).
var ErrStateMismatch = errors.New("the training state does not fit this run")

// Train runs the configured number of epochs over train, evaluating on val
// (which may be nil) after each one. At the end the model holds the weights
// of the best validation epoch (the last epoch without validation data).
// It stops early, returning the log so far and the context's error, when
// ctx is cancelled; the model then holds the best weights seen so far.
// With Resume set it starts after the state's epoch (see Trainer.Resume).
func (tr *Trainer) Train(ctx context.Context, train, val Source) (*TrainLog, error) {
	cfg, err := tr.Config.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	m := tr.Model
	n := train.Len()
	if n < 2 {
		return nil, fmt.Errorf("train: %d training examples: need at least 2", n)
	}
	if cfg.Augment != AugmentNone && (m.g.Input.H < 1 || m.g.Input.W < 1) {
		return nil, fmt.Errorf("train: augmentation %s needs images", cfg.Augment)
	}
	bs := min(cfg.BatchSize, n)
	perEpoch := (n + bs - 1) / bs
	if n%bs == 1 { // a last batch of one sample would break batch norm: drop it
		perEpoch--
	}
	total := perEpoch * cfg.Epochs
	dim := m.g.Input.Size()
	x := make([]float32, bs*dim)
	aug := make([]float32, bs*dim)
	y := make([]uint8, bs)
	dl := make([]float32, bs*m.g.Classes)
	idx := make([]int, bs)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	pcg := rand.NewPCG(cfg.Seed, 0x5851f42d4c957f2d)
	rng := rand.New(pcg)
	opt := newSGD(m, cfg)
	log := &TrainLog{Config: cfg, Threads: m.threads, TrainN: n}
	if val != nil {
		log.ValN = val.Len()
	}
	var best *Model
	bestAcc := math.Inf(-1)
	start := time.Now()
	sessionStart := start // start goes back by the earlier sessions' time on resume
	var trainTime time.Duration
	var ev *evaluator
	if val != nil && val.Len() > 0 {
		ev = newEvaluator(m, cfg.EvalBatch)
	}
	first := 1 // the first epoch to train
	if s := tr.Resume; s != nil {
		if err := s.check(m, log); err != nil {
			return nil, fmt.Errorf("train: resume: %w", err)
		}
		if err := pcg.UnmarshalBinary(s.RNG); err != nil {
			return nil, fmt.Errorf("train: resume: generator state: %v: %w", err, ErrStateMismatch)
		}
		first = s.Epoch + 1
		copy(perm, s.Order)
		if err := m.CopyFrom(s.Model); err != nil { // cannot happen after check
			return nil, fmt.Errorf("train: resume: %v: %w", err, ErrStateMismatch)
		}
		copy(opt.buf, s.Momentum)
		opt.first = false
		*log = s.Log
		log.Config = cfg // equal to the state's (checked), without a JSON round trip
		log.Epochs = slices.Clone(s.Log.Epochs)
		log.ResumedAt = append(slices.Clone(s.Log.ResumedAt), first)
		log.Stopped = ""
		start = start.Add(-time.Duration(s.Log.Seconds * float64(time.Second)))
		if s.Best != nil {
			best = s.Best.Clone()
			best.SetThreads(1)
			bestAcc = float64(log.BestEpoch)
			if ev != nil {
				bestAcc = log.BestValAcc
			}
			if tr.OnBest != nil {
				if err := tr.OnBest(best, log.Epochs[log.BestEpoch-1]); err != nil {
					return log, fmt.Errorf("train: epoch %d checkpoint: %w", log.BestEpoch, err)
				}
			}
		}
	}
	it0 := (first - 1) * perEpoch // iterations done before this session
	finish := func(stopped string) {
		if best != nil {
			m.CopyFrom(best)
		}
		log.Seconds = time.Since(start).Seconds()
		log.Stopped = stopped
	}
	it := it0
	for epoch := first; epoch <= cfg.Epochs; epoch++ {
		t0 := time.Now()
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var lossSum float64
		var correct, seen int
		lr := 0.0
		for b := 0; b < perEpoch; b++ {
			if err := ctx.Err(); err != nil {
				finish("cancelled")
				return log, err
			}
			lo := b * bs
			cnt := min(bs, n-lo)
			copy(idx, perm[lo:lo+cnt])
			train.Batch(idx[:cnt], x[:cnt*dim], y[:cnt])
			in := x
			if cfg.Augment != AugmentNone {
				augment(m.g.Input, x[:cnt*dim], aug[:cnt*dim], cnt, cfg.Augment == AugmentCropFlip, rng)
				in = aug
			}
			logits := m.Forward(in[:cnt*dim], cnt, true)
			loss := SoftmaxCrossEntropy(logits, y[:cnt], cnt, m.g.Classes, dl[:cnt*m.g.Classes])
			for i := 0; i < cnt; i++ {
				if Argmax(logits[i*m.g.Classes:(i+1)*m.g.Classes]) == int(y[i]) {
					correct++
				}
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				finish(fmt.Sprintf("loss diverged (%v) in epoch %d batch %d", loss, epoch, b+1))
				return log, fmt.Errorf("train: loss is %v in epoch %d, batch %d: lower the learning rate", loss, epoch, b+1)
			}
			m.Backward(dl[:cnt*m.g.Classes])
			lr = cfg.LRAt(it, total, perEpoch)
			opt.step(lr)
			it++
			lossSum += loss * float64(cnt)
			seen += cnt
			if tr.Progress != nil {
				el := trainTime + time.Since(t0)
				ips := float64(seen) / time.Since(t0).Seconds()
				eta := time.Duration(float64(el) / float64(it-it0) * float64(total-it))
				tr.Progress(Progress{Epoch: epoch, Epochs: cfg.Epochs, Batch: b + 1, Batches: perEpoch, Loss: loss,
					AvgLoss: lossSum / float64(seen), LR: lr, ImagesPerSec: ips, ETA: eta})
			}
		}
		trainSecs := time.Since(t0)
		trainTime += trainSecs
		e := EpochLog{Epoch: epoch, TrainLoss: lossSum / float64(seen), TrainAcc: float64(correct) / float64(seen),
			LR: lr, ImagesPerSec: float64(seen) / trainSecs.Seconds()}
		acc := float64(epoch) // without validation the last epoch is the best
		if ev != nil {
			r, err := ev.run(ctx, val)
			if err != nil {
				finish("cancelled")
				return log, err
			}
			e.ValAcc, e.ValLoss = r.Accuracy, r.Loss
			acc = r.Accuracy
		}
		e.Seconds = time.Since(t0).Seconds()
		log.Epochs = append(log.Epochs, e)
		isBest := acc > bestAcc
		if isBest {
			bestAcc = acc
			log.BestEpoch = epoch
			if ev != nil {
				log.BestValAcc = e.ValAcc
			}
			if best == nil {
				best = m.Clone()
				best.SetThreads(1)
			} else {
				best.CopyFrom(m)
			}
			if tr.OnBest != nil {
				if err := tr.OnBest(m, e); err != nil {
					finish("checkpoint failed")
					return log, fmt.Errorf("train: epoch %d checkpoint: %w", epoch, err)
				}
			}
		}
		log.Seconds = time.Since(start).Seconds()
		if tr.OnCheckpoint != nil {
			st, err := pcg.MarshalBinary()
			if err == nil {
				err = tr.OnCheckpoint(&TrainState{Epoch: epoch, Model: m, Momentum: opt.buf, Best: best, RNG: st, Order: perm, Log: *log})
			}
			if err != nil {
				finish("checkpoint failed")
				return log, fmt.Errorf("train: epoch %d state: %w", epoch, err)
			}
		}
		if tr.OnEpoch != nil {
			tr.OnEpoch(log)
		}
		if tr.Progress != nil {
			done := epoch - first + 1 // epochs of this session
			eta := time.Duration(float64(time.Since(sessionStart)) / float64(done) * float64(cfg.Epochs-epoch))
			tr.Progress(Progress{Epoch: epoch, Epochs: cfg.Epochs, Batch: perEpoch, Batches: perEpoch,
				AvgLoss: e.TrainLoss, LR: lr, ImagesPerSec: e.ImagesPerSec, ETA: eta, EpochDone: true,
				ValAcc: e.ValAcc, ValLoss: e.ValLoss, Best: isBest})
		}
	}
	finish("")
	if best != nil {
		best.Close()
	}
	return log, nil
}

// check returns an error wrapping ErrStateMismatch unless s continues
// the run that m, with fresh log l (config, threads and data sizes), is
// about to train.
func (s *TrainState) check(m *Model, l *TrainLog) error {
	mismatch := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrStateMismatch)
	}
	same := func(a, b *Model) bool {
		return a != nil && a.g.Arch == b.g.Arch && a.g.Input == b.g.Input && a.g.Classes == b.g.Classes &&
			len(a.data) == len(b.data) && len(a.rt) == len(b.rt)
	}
	want, err := json.Marshal(l.Config)
	if err != nil {
		return fmt.Errorf("encoding the run's config: %w", err)
	}
	got, err := json.Marshal(s.Log.Config)
	if err != nil {
		return fmt.Errorf("encoding the checkpoint's config: %w", err)
	}
	switch {
	case !bytes.Equal(got, want):
		return mismatch("the state's recipe %s differs from this run's %s", got, want)
	case s.Log.TrainN != l.TrainN || s.Log.ValN != l.ValN:
		return mismatch("the state trained on %d examples and validated on %d, this run has %d and %d",
			s.Log.TrainN, s.Log.ValN, l.TrainN, l.ValN)
	case s.Log.Threads != l.Threads:
		return mismatch("the state was trained on %d threads, this run has %d (results depend on the thread count)",
			s.Log.Threads, l.Threads)
	case !same(s.Model, m):
		return mismatch("the state's model does not have this run's architecture (%s, %v inputs, %d classes)", m.g.Arch, m.g.Input, m.g.Classes)
	case s.Epoch < 1 || s.Epoch > l.Config.Epochs || len(s.Log.Epochs) != s.Epoch:
		return mismatch("the state is at epoch %d with %d epochs logged; this run has %d epochs", s.Epoch, len(s.Log.Epochs), l.Config.Epochs)
	case !isPermutation(s.Order, l.TrainN):
		return mismatch("the state's example order is not a permutation of the %d training examples", l.TrainN)
	case len(s.Momentum) != len(m.data):
		return mismatch("the state has %d momentum values for %d parameters", len(s.Momentum), len(m.data))
	case s.Log.BestEpoch < 1 || s.Log.BestEpoch > s.Epoch || !same(s.Best, m):
		return mismatch("the state has no best model of an epoch up to %d (best epoch %d)", s.Epoch, s.Log.BestEpoch)
	}
	return nil
}

// isPermutation reports whether p holds each of 0..n-1 once.
func isPermutation(p []int, n int) bool {
	if len(p) != n {
		return false
	}
	seen := make([]bool, n)
	for _, v := range p {
		if v < 0 || v >= n || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

// sgd is SGD with momentum, Nesterov and weight decay over the model's flat
// parameters, following torch.optim.SGD.
type sgd struct {
	data, grad, buf []float32
	momentum, wd    float32
	nesterov        bool
	first           bool
}

func newSGD(m *Model, c TrainConfig) *sgd {
	data, grad := m.Flat()
	return &sgd{data: data, grad: grad, buf: make([]float32, len(data)), momentum: float32(c.Momentum),
		wd: float32(c.WeightDecay), nesterov: c.Nesterov, first: true}
}

// step applies one update with learning rate lr.
func (o *sgd) step(lr float64) {
	vec.SGD(o.data, o.grad[:len(o.data)], o.buf, float32(lr), o.momentum, o.wd, o.first, o.nesterov)
	o.first = false
}

// augment writes a randomly cropped (4-pixel zero padding, after
// normalisation) and, if flip, randomly mirrored copy of each of n images
// of x into dst.
func augment(s Shape, x, dst []float32, n int, flip bool, rng *rand.Rand) {
	const pad = 4
	dim := s.Size()
	hw := s.H * s.W
	for i := 0; i < n; i++ {
		dy := rng.IntN(2*pad+1) - pad
		dx := rng.IntN(2*pad+1) - pad
		mirror := flip && rng.IntN(2) == 1
		src, out := x[i*dim:(i+1)*dim], dst[i*dim:(i+1)*dim]
		for c := 0; c < s.C; c++ {
			sc, oc := src[c*hw:(c+1)*hw], out[c*hw:(c+1)*hw]
			for r := 0; r < s.H; r++ {
				row := oc[r*s.W : (r+1)*s.W]
				sr := r + dy
				if sr < 0 || sr >= s.H {
					clear(row)
					continue
				}
				srow := sc[sr*s.W : (sr+1)*s.W]
				for col := range row {
					scol := col + dx
					if mirror {
						scol = s.W - 1 - col + dx
					}
					if scol < 0 || scol >= s.W {
						row[col] = 0
					} else {
						row[col] = srow[scol]
					}
				}
			}
		}
	}
}

// EvalResult is a model's accuracy and loss on a set of examples.
type EvalResult struct {
	N        int       `json:"n"`
	Accuracy float64   `json:"accuracy"` // in [0, 1]
	Loss     float64   `json:"loss"`     // mean cross-entropy
	PerClass []float64 `json:"per_class_accuracy"`
	Count    []int     `json:"per_class_count"`
	// Confusion[t][p] counts examples of true class t predicted as p.
	Confusion [][]int `json:"confusion"`
}

// evaluator holds the buffers to evaluate a model in batches.
type evaluator struct {
	m     *Model
	batch int
	x     []float32
	y     []uint8
	idx   []int
}

func newEvaluator(m *Model, batch int) *evaluator {
	return &evaluator{m: m, batch: batch, x: make([]float32, batch*m.g.Input.Size()), y: make([]uint8, batch), idx: make([]int, batch)}
}

func (e *evaluator) run(ctx context.Context, src Source) (EvalResult, error) {
	m := e.m
	k := m.g.Classes
	n := src.Len()
	r := EvalResult{N: n, PerClass: make([]float64, k), Count: make([]int, k), Confusion: make([][]int, k)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	dim := m.g.Input.Size()
	var loss float64
	correct := 0
	for lo := 0; lo < n; lo += e.batch {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		cnt := min(e.batch, n-lo)
		for i := 0; i < cnt; i++ {
			e.idx[i] = lo + i
		}
		src.Batch(e.idx[:cnt], e.x[:cnt*dim], e.y[:cnt])
		logits := m.Forward(e.x[:cnt*dim], cnt, false)
		for i := 0; i < cnt; i++ {
			if int(e.y[i]) >= k {
				return r, fmt.Errorf("evaluate: example %d has label %d, but the model has %d classes", lo+i, e.y[i], k)
			}
		}
		loss += SoftmaxCrossEntropy(logits, e.y[:cnt], cnt, k, nil) * float64(cnt)
		for i := 0; i < cnt; i++ {
			p, t := Argmax(logits[i*k:(i+1)*k]), int(e.y[i])
			r.Confusion[t][p]++
			r.Count[t]++
			if p == t {
				correct++
			}
		}
	}
	if n > 0 {
		r.Accuracy = float64(correct) / float64(n)
		r.Loss = loss / float64(n)
	}
	for c := range r.PerClass {
		if r.Count[c] > 0 {
			r.PerClass[c] = float64(r.Confusion[c][c]) / float64(r.Count[c])
		}
	}
	return r, nil
}

// Evaluate returns the accuracy, mean cross-entropy, per-class accuracy and
// confusion matrix of the model (inference mode) on src, in batches of
// batch examples (1024 when batch <= 0).
func Evaluate(ctx context.Context, m *Model, src Source, batch int) (EvalResult, error) {
	if batch <= 0 {
		batch = 1024
	}
	return newEvaluator(m, batch).run(ctx, src)
}

// Slice is a Source over in-memory normalised images (N x C x H x W) and
// labels; tests and synthetic benchmarks use it.
type Slice struct {
	X     []float32
	Y     []uint8
	Shape Shape
}

// Len implements Source.
func (s *Slice) Len() int { return len(s.Y) }

// Batch implements Source.
func (s *Slice) Batch(idx []int, x []float32, y []uint8) {
	d := s.Shape.Size()
	for k, i := range idx {
		copy(x[k*d:(k+1)*d], s.X[i*d:(i+1)*d])
		y[k] = s.Y[i]
	}
}

// ParseMilestones parses a comma-separated list of epochs ("100,150").
func ParseMilestones(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, p := range strings.Split(s, ",") {
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(p), &v); err != nil || v < 0 {
			return nil, fmt.Errorf("milestones %q: %q is not a non-negative number of epochs", s, p)
		}
		out = append(out, v)
	}
	if !slices.IsSorted(out) {
		return nil, fmt.Errorf("milestones %q: expected increasing epochs", s)
	}
	return out, nil
}
