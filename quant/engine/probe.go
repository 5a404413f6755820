package engine

import (
	"github.com/ccq-project/ccq/quant"

	"context"
	"sync"
	"sync/atomic"

	"github.com/ccq-project/ccq/nn"
)

// Probe runs a network, float or quantized, on the forward engine for the
// quantizers that learn from its activations: every layer's input and
// output as the batch streams through (Run), or one layer's input per
// sample (LayerInputs).
type Probe struct{ r *floatRunner }

// LayerGeometry is the shape of a conv or linear layer as the engine runs
// it.
type LayerGeometry struct {
	Conv              bool // a convolution (else a linear layer)
	In, Out           int  // input and output channels (linear: features)
	K, Stride, Pad    int  // kernel size, stride, zero padding (linear: 1, 1, 0)
	CKK               int  // weights per output channel
	InShape, OutShape nn.Shape
}

// NewFloatProbe runs the folded float layers fl of g (float activations)
// on workers goroutines (GOMAXPROCS when <= 0).
func NewFloatProbe(g nn.Graph, fl []quant.FloatLayer, workers int) (*Probe, error) {
	ls, w := layersFromFloat(fl, nil)
	r, err := newRunner(g, ls, w, workers)
	if err != nil {
		return nil, err
	}
	return &Probe{r: r}, nil
}

// NewModelProbe runs the k-bit model m (its levels, scales and activation
// quantizers) on workers goroutines (GOMAXPROCS when <= 0).
func NewModelProbe(m *quant.Model, workers int) (*Probe, error) {
	ls, w := layersFromModel(m)
	r, err := newRunner(m.Graph, ls, w, workers)
	if err != nil {
		return nil, err
	}
	return &Probe{r: r}, nil
}

// Workers is the number of goroutines the probe runs on.
func (p *Probe) Workers() int { return len(p.r.workers) }

// Geometry returns the shape of layer li (an index into the model's layers).
func (p *Probe) Geometry(li int) LayerGeometry {
	l := &p.r.n.layers[li]
	return LayerGeometry{Conv: l.conv, In: l.in, Out: l.out, K: l.k, Stride: l.stride, Pad: l.pad,
		CKK: l.ckk, InShape: l.inS, OutShape: l.outS}
}

// Run runs the network on x (NCHW float32, normalized) and labels, calling
// onInput with every layer's input (before its activation quantizer) and
// onOutput with every layer's output (its pre-activation, bias added; a
// probe fuses no ReLU into it), as feature-major chunks of bc samples
// (samples innermost), from worker goroutine worker; either may be nil.
// Calls from one worker are sequential.
func (p *Probe) Run(ctx context.Context, x []float32, labels []uint8, onInput, onOutput func(worker, layer int, v []float32, bc int)) error {
	_, _, err := p.r.run(ctx, x, labels, onInput, onOutput)
	return err
}

// LayerInputs runs the network up to layer li on the first n samples of x
// and returns the layer's input per sample (sample-major, CHW), quantized
// and dequantized by the layer's activation quantizer when it has one.
func (p *Probe) LayerInputs(ctx context.Context, li int, x []float32, n int) ([]float32, error) {
	return p.r.layerInputs(ctx, li, x, n)
}

// layerInputs runs the network up to layer li on n samples of x and returns
// the layer's input per sample (sample-major, CHW), quantized and
// dequantized by the layer's activation quantizer when it has one.
func (r *floatRunner) layerInputs(ctx context.Context, li int, x []float32, n int) ([]float32, error) {
	nt := r.n
	l := &nt.layers[li]
	size := l.inS.Size()
	out := make([]float32, n*size)
	b := &batch{x: x, n: n}
	nch := (n + nt.chunk - 1) / nt.chunk
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tmp := make([]float32, size*nt.chunk)
			for {
				c := int(next.Add(1) - 1)
				if c >= nch || ctx.Err() != nil {
					return
				}
				start, bc := nt.chunkRange(c, n)
				w.setScratch(bc)
				w.loadInput(b, start, bc)
				for i := 1; i < l.node; i++ {
					if lj := nt.layerOf[i]; lj >= 0 {
						w.layerFull(lj, r.w, nil, bc, true)
						continue
					}
					nt.execOp(i, w.bufs, bc)
				}
				in := w.bufs[l.inSlot][:size*bc]
				if l.act.Enabled() {
					q := tmp[:len(in)]
					l.act.QuantizeSlice(q, in)
					for i := range q {
						q[i] *= l.act.Scale
					}
					in = q
				}
				for s := 0; s < bc; s++ {
					dst := out[(start+s)*size : (start+s+1)*size]
					for i := range dst {
						dst[i] = in[i*bc+s]
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
