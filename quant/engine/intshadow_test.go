package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
)

// TestResidualLevelsShadow checks the residual sums whose byte levels the
// layer computing them writes for the next block's first convolution (see
// planShadows): ResNet-20 has eight (the last sum feeds the average
// pooling only), and candidates score exactly as the float32 path of the
// candidate network, chunk sizes making partial GEMM tiles included, also when a
// candidate recomputes such a sum without that layer's epilogue (a few
// weights of the layer changed: it is updated sparsely, the sum is added
// apart) after a candidate whose epilogue wrote the levels of every sum,
// so that the reader must not take those stale levels.
func TestResidualLevelsShadow(t *testing.T) {
	useIntegerKernels(t)
	ctx := context.Background()
	m, _ := testModel(t, "resnet20", nn.Shape{C: 3, H: 16, W: 16}, 4, 8, quant.PerChannel, 41)
	rng := rand.New(rand.NewPCG(41, 42))
	m = withDelta(t, m, randomDelta(rng, m, nil, m.NumVars()/3))
	x, y := testData(m.Graph, 6, 43)
	for _, chunk := range []int{6, 4} {
		ev, err := NewEvaluator(m, EvalOptions{Workers: 1, Chunk: chunk})
		if err != nil {
			t.Fatal(err)
		}
		n := ev.n
		producers, readers := 0, 0
		for li := range n.layers {
			if n.shadowTo[li] >= 0 {
				producers++
			}
			if n.shadowFrom[li] >= 0 {
				readers++
			}
		}
		if producers != 8 || readers != 8 {
			t.Fatalf("%d layers write a sum's levels, %d read them; want 8 and 8", producers, readers)
		}
		if _, err := ev.Prepare(ctx, x, y); err != nil {
			t.Fatal(err)
		}
		var sparse []int // producers scored with a few changed weights
		for li := range n.layers {
			if n.shadowTo[li] >= 0 {
				sparse = append(sparse, li)
			}
		}
		for _, lb := range sparse {
			for i, d := range []Delta{randomDelta(rng, m, nil, 60), randomDelta(rng, m, []int{lb}, 2)} {
				w := ev.workers[0]
				var loss float64
				var correct int
				for c := 0; c < ev.chunks(); c++ {
					start, bc := n.chunkRange(c, ev.b.n)
					if _, err := ev.candidateChunks(w, d, c, c+1, &loss, &correct, nil); err != nil {
						t.Fatal(err)
					}
					if i == 1 && w.mode[lb] == modeFull {
						t.Fatalf("layer %s: a 2-weight delta recomputes it in full; the test needs the sparse update", n.layers[lb].name)
					}
					got := w.bufs[n.nodeSlot[len(n.g.Nodes)-1]][:n.g.Classes*bc]
					want := floatLogits(t, withDelta(t, m, d), x[start*m.Graph.Input.Size():(start+bc)*m.Graph.Input.Size()], y[start:start+bc])
					for k := range want {
						if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
							t.Fatalf("chunk size %d, layer %s, candidate %d, chunk %d: logit %d: integer path %v, float32 path %v", chunk, n.layers[lb].name, i, c, k, got[k], want[k])
						}
					}
				}
			}
		}
	}
}

// TestStridedInPlaceExact checks the strided int8 convolutions that read
// their input in place (byte output, chunks of a multiple of 16 samples:
// see stridedBlocks): ResNet-20 on 12 x 12 inputs (rows of 6 and 3 output
// pixels, so tiles of 96 and 48 columns, partial ones included) scores
// candidates exactly as the float32 path of the candidate network, in the
// evaluator and in EvaluateModel.
func TestStridedInPlaceExact(t *testing.T) {
	useIntegerKernels(t)
	ctx := context.Background()
	m, _ := testModel(t, "resnet20", nn.Shape{C: 3, H: 12, W: 12}, 4, 8, quant.PerChannel, 51)
	rng := rand.New(rand.NewPCG(51, 52))
	m = withDelta(t, m, randomDelta(rng, m, nil, m.NumVars()/3))
	for _, batch := range []int{16, 32} {
		x, y := testData(m.Graph, batch, 53)
		ev, err := NewEvaluator(m, EvalOptions{Workers: 1, Chunk: batch})
		if err != nil {
			t.Fatal(err)
		}
		strided := 0
		for _, l := range ev.n.layers {
			if l.intPath && l.conv && l.stride != 1 && ev.n.u8[l.node] {
				strided++
			}
		}
		if strided != 2 {
			t.Fatalf("%d strided int8 convolutions with byte output, want 2", strided)
		}
		if _, err := ev.Prepare(ctx, x, y); err != nil {
			t.Fatal(err)
		}
		for i, d := range []Delta{randomDelta(rng, m, nil, 80), randomDelta(rng, m, nil, 5)} {
			s, got := candidateLogits(t, ev, d)
			cm := withDelta(t, m, d)
			want := floatLogits(t, cm, x, y)
			for k := range want {
				if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
					t.Fatalf("batch %d candidate %d: logit %d: integer path %v, float32 path %v", batch, i, k, got[k], want[k])
				}
			}
			rep, err := EvaluateModel(ctx, cm, x, y, 1)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Correct != s.Correct || relDiff(rep.Loss, s.Loss) > 1e-12 {
				t.Fatalf("batch %d candidate %d: score %+v, EvaluateModel loss %v correct %d", batch, i, s, rep.Loss, rep.Correct)
			}
		}
	}
}
