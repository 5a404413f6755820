package nn

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// blobs returns a synthetic image classification set: each class is a fixed
// random prototype image plus noise.
func blobs(seed uint64, n, classes int, s Shape, noise float64) *Slice {
	rng := rand.New(rand.NewPCG(seed, 99))
	protoRng := rand.New(rand.NewPCG(1234, 5678))
	protos := make([][]float32, classes)
	for c := range protos {
		protos[c] = make([]float32, s.Size())
		for i := range protos[c] {
			protos[c][i] = float32(protoRng.NormFloat64())
		}
	}
	d := &Slice{X: make([]float32, n*s.Size()), Y: make([]uint8, n), Shape: s}
	for i := 0; i < n; i++ {
		c := rng.IntN(classes)
		d.Y[i] = uint8(c)
		for j := 0; j < s.Size(); j++ {
			d.X[i*s.Size()+j] = protos[c][j] + float32(rng.NormFloat64()*noise)
		}
	}
	return d
}

func TestTrainSyntheticLeNet(t *testing.T) {
	s := Shape{1, 12, 12}
	train, val := blobs(1, 600, 4, s, 1.5), blobs(2, 200, 4, s, 1.5)
	g, _ := BuildGraph("lenet5", s, 4)
	m, _ := NewModel(g, 1)
	m.SetThreads(2)
	var batches, epochsDone, bests int
	tr := &Trainer{Model: m, Config: TrainConfig{Epochs: 4, BatchSize: 32, LR: 0.05, Momentum: 0.9, Schedule: ScheduleCosine, WarmupEpochs: 1},
		Progress: func(p Progress) {
			if p.EpochDone {
				epochsDone++
			} else {
				batches++
			}
		},
		OnBest: func(*Model, EpochLog) error { bests++; return nil }}
	before, _ := Evaluate(context.Background(), m, val, 0)
	log, err := tr.Train(context.Background(), train, val)
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Epochs) != 4 || epochsDone != 4 || batches != 4*19 || bests < 1 {
		t.Errorf("%d epochs logged, %d epoch reports, %d batch reports, %d bests", len(log.Epochs), epochsDone, batches, bests)
	}
	after, err := Evaluate(context.Background(), m, val, 64)
	if err != nil {
		t.Fatal(err)
	}
	if after.Accuracy < 0.9 || after.Loss >= before.Loss {
		t.Errorf("validation accuracy %.3f (loss %.3f), before training %.3f (loss %.3f): expected >= 0.9 and a lower loss",
			after.Accuracy, after.Loss, before.Accuracy, before.Loss)
	}
	if after.Accuracy != log.BestValAcc {
		t.Errorf("final model accuracy %v is not the best epoch's %v", after.Accuracy, log.BestValAcc)
	}
	if log.Epochs[0].TrainLoss <= log.Epochs[3].TrainLoss {
		t.Errorf("training loss did not fall: %v -> %v", log.Epochs[0].TrainLoss, log.Epochs[3].TrainLoss)
	}
	total := 0
	for c, k := range after.Count {
		total += k
		if k > 0 && (after.PerClass[c] < 0 || after.PerClass[c] > 1) {
			t.Errorf("per-class accuracy %v", after.PerClass[c])
		}
	}
	if total != 200 {
		t.Errorf("per-class counts sum to %d, want 200", total)
	}
}

func TestTrainDeterministic(t *testing.T) {
	s := Shape{3, 8, 8}
	train := blobs(3, 96, 3, s, 1)
	g, _ := BuildGraph("resnet20", s, 3)
	run := func() []float32 {
		m, _ := NewModel(g, 4)
		m.SetThreads(2)
		tr := &Trainer{Model: m, Config: TrainConfig{Epochs: 2, BatchSize: 16, LR: 0.1, Momentum: 0.9, Nesterov: true,
			WeightDecay: 5e-4, Augment: AugmentCropFlip, Seed: 7}}
		if _, err := tr.Train(context.Background(), train, nil); err != nil {
			t.Fatal(err)
		}
		d, _ := m.Flat()
		return slices.Clone(d)
	}
	if a, b := run(), run(); !slices.Equal(a, b) {
		t.Error("two runs with the same seed and thread count gave different weights")
	}
}

func TestTrainCancel(t *testing.T) {
	s := Shape{1, 8, 8}
	train := blobs(5, 200, 2, s, 1)
	g, _ := BuildGraph("mlp", s, 2)
	m, _ := NewModel(g, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &Trainer{Model: m, Config: TrainConfig{Epochs: 50, BatchSize: 10},
		Progress: func(p Progress) {
			if p.Epoch == 2 && p.Batch == 3 {
				cancel()
			}
		}}
	log, err := tr.Train(ctx, train, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if log == nil || len(log.Epochs) != 1 || log.Stopped != "cancelled" || log.BestEpoch != 1 {
		t.Errorf("log after cancel: %+v", log)
	}
}

func TestTrainConfigErrors(t *testing.T) {
	for _, c := range []TrainConfig{
		{Schedule: "linear"}, {Augment: "mixup"}, {Momentum: 1}, {BatchSize: 1}, {Epochs: 2, WarmupEpochs: 3},
		{Nesterov: true, Momentum: 0}, {LR: math.NaN()},
	} {
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestLRSchedules(t *testing.T) {
	c, _ := TrainConfig{LR: 0.1, Epochs: 10, Schedule: ScheduleCosine, WarmupEpochs: 1}.withDefaults()
	const per = 10
	if lr := c.LRAt(0, 100, per); math.Abs(lr-0.01) > 1e-12 {
		t.Errorf("warm-up start %v, want 0.01", lr)
	}
	if lr := c.LRAt(9, 100, per); math.Abs(lr-0.1) > 1e-12 {
		t.Errorf("warm-up end %v, want 0.1", lr)
	}
	if lr := c.LRAt(10, 100, per); math.Abs(lr-0.1) > 1e-12 {
		t.Errorf("cosine start %v, want 0.1", lr)
	}
	if lr := c.LRAt(55, 100, per); math.Abs(lr-0.05) > 1e-12 {
		t.Errorf("cosine middle %v, want 0.05", lr)
	}
	if lr := c.LRAt(99, 100, per); lr > 0.001 {
		t.Errorf("cosine end %v, want near 0", lr)
	}
	s, _ := TrainConfig{LR: 0.1, Epochs: 180, Schedule: ScheduleStep, Milestones: []float64{100, 150}}.withDefaults()
	for _, tc := range []struct {
		it   int
		want float64
	}{{0, 0.1}, {999, 0.1}, {1000, 0.01}, {1499, 0.01}, {1500, 0.001}} {
		if lr := s.LRAt(tc.it, 1800, 10); math.Abs(lr-tc.want) > 1e-12 {
			t.Errorf("step schedule at %d: %v, want %v", tc.it, lr, tc.want)
		}
	}
	d, _ := TrainConfig{Epochs: 8, Schedule: ScheduleStep}.withDefaults()
	if !slices.Equal(d.Milestones, []float64{4, 6}) {
		t.Errorf("default milestones %v", d.Milestones)
	}
	if ms, err := ParseMilestones("100, 150"); err != nil || !slices.Equal(ms, []float64{100, 150}) {
		t.Errorf("ParseMilestones: %v %v", ms, err)
	}
	if _, err := ParseMilestones("150,100"); err == nil {
		t.Error("decreasing milestones accepted")
	}
}

// TestSGDMatchesPyTorch checks two steps against torch.optim.SGD's update
// written out by hand: buf = g + wd*p (first step), then mu*buf + g + wd*p;
// Nesterov uses g + wd*p + mu*buf.
func TestSGDMatchesPyTorch(t *testing.T) {
	for _, nesterov := range []bool{false, true} {
		p := []float32{1, -2}
		g := []float32{0.5, 0.25}
		o := &sgd{data: p, grad: g, buf: make([]float32, 2), momentum: 0.9, wd: 0.1, nesterov: nesterov, first: true}
		wp := []float64{1, -2}
		wbuf := []float64{0, 0}
		for step := 0; step < 2; step++ {
			for i := range wp {
				d := float64(g[i]) + 0.1*wp[i]
				if step == 0 {
					wbuf[i] = d
				} else {
					wbuf[i] = 0.9*wbuf[i] + d
				}
				if nesterov {
					d += 0.9 * wbuf[i]
				} else {
					d = wbuf[i]
				}
				wp[i] -= 0.5 * d
			}
			o.step(0.5)
		}
		assertClose(t, "sgd params", p, wp, 1e-6, 1e-7)
	}
}

func TestAugmentIsShiftAndFlip(t *testing.T) {
	s := Shape{2, 6, 5}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 40
	x := make([]float32, n*s.Size())
	for i := range x {
		x[i] = float32(i%97) + 1 // no zeros: padding is recognisable
	}
	out := make([]float32, len(x))
	augment(s, x, out, n, true, rng)
	flips, shifts := 0, 0
	for i := 0; i < n; i++ {
		src, got := x[i*s.Size():(i+1)*s.Size()], out[i*s.Size():(i+1)*s.Size()]
		found := false
		for dy := -4; dy <= 4 && !found; dy++ {
			for dx := -4; dx <= 4 && !found; dx++ {
				for _, mirror := range []bool{false, true} {
					if slices.Equal(got, shifted(s, src, dy, dx, mirror)) {
						found = true
						if mirror {
							flips++
						}
						if dy != 0 || dx != 0 {
							shifts++
						}
						break
					}
				}
			}
		}
		if !found {
			t.Fatalf("image %d is not a shifted or mirrored copy of its source", i)
		}
	}
	if flips == 0 || flips == n || shifts < n/2 {
		t.Errorf("%d flips and %d shifts of %d images: not random", flips, shifts, n)
	}
}

// shifted is the reference crop: out[r][c] = src[r+dy][c'+dx] with c' = c or
// its mirror, zero outside.
func shifted(s Shape, src []float32, dy, dx int, mirror bool) []float32 {
	out := make([]float32, len(src))
	for ch := 0; ch < s.C; ch++ {
		for r := 0; r < s.H; r++ {
			for c := 0; c < s.W; c++ {
				cc := c
				if mirror {
					cc = s.W - 1 - c
				}
				sr, sc := r+dy, cc+dx
				if sr >= 0 && sr < s.H && sc >= 0 && sc < s.W {
					out[(ch*s.H+r)*s.W+c] = src[(ch*s.H+sr)*s.W+sc]
				}
			}
		}
	}
	return out
}
