// Package evalbench measures the incremental evaluator against full
// forward passes, back to back on the same random candidates, on a
// randomly initialised k-bit network (ccq bench evaluator, and the stage
// cost probe).
package evalbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/ptq"
)

// BenchConfig describes an evaluator benchmark on a randomly initialised
// network and random data.
type BenchConfig struct {
	Arch       string        `json:"arch"`        // an architecture of nn.Archs
	Input      nn.Shape      `json:"input"`       // default nn.BenchInput(Arch)
	Batch      int           `json:"batch"`       // mini-batch size (default 1024)
	Delta      int           `json:"delta"`       // changed weights per candidate (default 2000)
	Layer      string        `json:"layer"`       // layer name the deltas fall in, or "all" (spread over every layer)
	Candidates int           `json:"candidates"`  // candidates per Score call (default 32)
	Bits       int           `json:"bits"`        // weight bits (default 4)
	ActBits    int           `json:"act_bits"`    // activation bits (default 32)
	Workers    int           `json:"workers"`     // default GOMAXPROCS
	Chunk      int           `json:"chunk"`       // samples per chunk (0: the evaluator's default)
	MinTime    time.Duration `json:"min_time_ns"` // minimum measuring time of each mode, in JSON in nanoseconds
	Seed       uint64        `json:"seed"`
}

// BenchResult is the outcome of Bench: candidates per second of the
// incremental evaluator and of full forward passes, measured back to back.
type BenchResult struct {
	Config            BenchConfig `json:"config"`
	Chunk             int         `json:"chunk"`
	IncrementalPerSec float64     `json:"incremental_per_sec"`
	FullForwardPerSec float64     `json:"full_forward_per_sec"`
	Speedup           float64     `json:"speedup"`
	IncrementalRounds int         `json:"incremental_rounds"`
	// Process CPU milliseconds per candidate (user + system, all threads;
	// 0 where not measured): steadier than candidates per second on a
	// shared machine.
	IncrementalCPUms  float64 `json:"incremental_cpu_ms"`
	FullForwardCPUms  float64 `json:"full_forward_cpu_ms"`
	FullForwardRounds int     `json:"full_forward_rounds"`
	BaseLoss          float64 `json:"base_loss"`
	LayerWeights      int     `json:"layer_weights"`
	TotalWeights      int     `json:"total_weights"`
}

// BenchSetup builds the model, batch and candidates of a benchmark.
func BenchSetup(cfg *BenchConfig) (*quant.Model, []float32, []uint8, []engine.Delta, error) {
	if cfg.Input == (nn.Shape{}) {
		cfg.Input = nn.BenchInput(cfg.Arch)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1024
	}
	if cfg.Delta <= 0 {
		cfg.Delta = 2000
	}
	if cfg.Candidates <= 0 {
		cfg.Candidates = 32
	}
	if cfg.Bits == 0 {
		cfg.Bits = 4
	}
	if cfg.ActBits == 0 {
		cfg.ActBits = quant.FloatActBits
	}
	if cfg.Layer == "" {
		cfg.Layer = "all"
	}
	if cfg.MinTime <= 0 {
		cfg.MinTime = 3 * time.Second
	}
	g, err := nn.BuildGraph(cfg.Arch, cfg.Input, 10)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	fm, err := nn.NewModel(g, cfg.Seed+1)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 77))
	x := make([]float32, cfg.Batch*g.Input.Size())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]uint8, cfg.Batch)
	for i := range y {
		y[i] = uint8(rng.IntN(10))
	}
	calib := min(cfg.Batch, 256)
	m, err := ptq.Quantize(context.Background(), quant.FromNN(fm), ptq.Options{Method: "rtn", Bits: cfg.Bits, ActBits: cfg.ActBits,
		CalibX: x[:calib*g.Input.Size()], CalibLabels: y[:calib], Workers: cfg.Workers})
	fm.Close()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var layers []int
	if cfg.Layer != "all" {
		for i, l := range m.Layers {
			if l.Name == cfg.Layer {
				layers = []int{i}
			}
		}
		if layers == nil {
			var names []string
			for _, l := range m.Layers {
				names = append(names, l.Name)
			}
			return nil, nil, nil, nil, fmt.Errorf("layer %q: the %s model has layers %v (or use all)", cfg.Layer, cfg.Arch, names)
		}
	}
	cands := make([]engine.Delta, cfg.Candidates)
	for i := range cands {
		cands[i] = randomDeltaIn(rng, m, layers, cfg.Delta)
	}
	return m, x, y, cands, nil
}

// randomDeltaIn draws k distinct variables uniformly from the given layers
// (every layer when nil) and moves each by one level (within range).
func randomDeltaIn(rng *rand.Rand, m *quant.Model, layers []int, k int) engine.Delta {
	vars := m.Layout()
	base := m.Flat()
	var lo, hi []int
	if layers == nil {
		lo, hi = []int{0}, []int{len(base)}
	} else {
		for _, li := range layers {
			lo = append(lo, vars[li].Offset)
			hi = append(hi, vars[li].Offset+vars[li].Count)
		}
	}
	total := 0
	for i := range lo {
		total += hi[i] - lo[i]
	}
	k = min(k, total)
	seen := map[int]bool{}
	d := engine.Delta{}
	minL, maxL := m.Domain()
	for len(d.Indices) < k {
		r := rng.IntN(total)
		idx := 0
		for i := range lo {
			if r < hi[i]-lo[i] {
				idx = lo[i] + r
				break
			}
			r -= hi[i] - lo[i]
		}
		if seen[idx] {
			continue
		}
		seen[idx] = true
		l := int(base[idx]) + 1 - 2*rng.IntN(2)
		if m.Bits == 1 {
			l = -int(base[idx])
		} else if l > int(maxL) {
			l = int(maxL) - 1
		} else if l < int(minL) {
			l = int(minL) + 1
		}
		d.Indices = append(d.Indices, int32(idx))
		d.Levels = append(d.Levels, int8(l))
	}
	return d
}

// Bench measures the incremental evaluator and full forward passes back
// to back on the same candidates, each for at least cfg.MinTime.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchResult, error) {
	m, x, y, cands, err := BenchSetup(&cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	res := &BenchResult{Config: cfg, TotalWeights: m.NumVars()}
	for _, v := range m.Layout() {
		if v.Name == cfg.Layer {
			res.LayerWeights = v.Count
		}
	}
	out := make([]engine.Score, len(cands))
	measure := func(full bool, cpuMs *float64) (float64, int, error) {
		ev, err := engine.NewEvaluator(m, engine.EvalOptions{Workers: cfg.Workers, FullForward: full, Chunk: cfg.Chunk})
		if err != nil {
			return 0, 0, err
		}
		res.Chunk = ev.Chunk()
		base, err := ev.Prepare(ctx, x, y)
		if err != nil {
			return 0, 0, err
		}
		res.BaseLoss = base.Loss
		if err := ev.Score(ctx, cands[:1], out); err != nil { // warm-up
			return 0, 0, err
		}
		start, cpu0 := time.Now(), processCPU()
		rounds := 0
		for time.Since(start) < cfg.MinTime || rounds == 0 {
			if err := ev.Score(ctx, cands, out); err != nil {
				return 0, 0, err
			}
			rounds++
		}
		*cpuMs = float64(processCPU()-cpu0) / float64(time.Millisecond) / float64(rounds*len(cands))
		return float64(rounds*len(cands)) / time.Since(start).Seconds(), rounds, nil
	}
	if res.IncrementalPerSec, res.IncrementalRounds, err = measure(false, &res.IncrementalCPUms); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if res.FullForwardPerSec, res.FullForwardRounds, err = measure(true, &res.FullForwardCPUms); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	res.Speedup = res.IncrementalPerSec / res.FullForwardPerSec
	return res, nil
}
