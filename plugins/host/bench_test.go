package host

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/rpc"
)

// lenetProblem has LeNet-5's layer sizes (61,470 weights) at 4 bits.
func lenetProblem() *optimizer.Problem {
	sizes := []struct {
		name  string
		shape []int
	}{
		{"conv1.weight", []int{6, 1, 5, 5}}, {"conv2.weight", []int{16, 6, 5, 5}},
		{"fc1.weight", []int{120, 400}}, {"fc2.weight", []int{84, 120}}, {"fc3.weight", []int{10, 84}},
	}
	p := &optimizer.Problem{Seed: 1}
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range sizes {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		p.Layers = append(p.Layers, optimizer.Layer{Name: s.name, Offset: len(p.Start), Count: n, Shape: s.shape})
		for i := 0; i < n; i++ {
			p.Start = append(p.Start, int8(r.IntN(15)-7))
			p.Lo = append(p.Lo, -7)
			p.Hi = append(p.Hi, 7)
		}
	}
	return p
}

// noiseEval returns random fitnesses without any computation: what is left
// of a generation's time is the host's and the optimizer's overhead.
type noiseEval struct{ r *rand.Rand }

func (e *noiseEval) Score(_ context.Context, req *ScoreRequest, res *ScoreResult) error {
	for k := range res.Fitness {
		res.Fitness[k] = 2 + e.r.Float64()
	}
	res.BaseFitness = 2.5
	return nil
}

func benchGenerations(b *testing.B, opt optimizer.Optimizer) {
	cfg := Config{
		Problem:   lenetProblem(),
		Evaluator: &noiseEval{rand.New(rand.NewPCG(2, 2))},
		Budget:    Budget{Generations: int64(b.N)},
	}
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := Run(context.Background(), opt, cfg); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGenerationInProcess: host + ccea overhead per generation on a
// LeNet-5-sized problem (lambda 32, G 2000), optimizer in process.
func BenchmarkGenerationInProcess(b *testing.B) {
	benchGenerations(b, newOpt(b, "ccea"))
}

// BenchmarkGenerationGRPC: the same with ccea in a plugin process.
func BenchmarkGenerationGRPC(b *testing.B) {
	r := &catalog.Resolver{Builtin: catalog.TestBinarySpec}
	p, err := r.Open(context.Background(), catalog.Ref{Plugin: "ccea"}, rpc.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	benchGenerations(b, p)
}
