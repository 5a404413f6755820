package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
)

// Batch-norm constants, as in PyTorch's BatchNorm2d defaults.
const (
	bnEps      = 1e-5
	bnMomentum = 0.1
)

// Param is one trainable tensor of a model.
type Param struct {
	Name  string    // state_dict name, e.g. "layer1.0.conv1.weight"
	Shape []int     // PyTorch layout: conv [out, in, k, k], linear [out, in], vectors [n]
	Data  []float32 // the values (a view into the model's flat storage)
	Grad  []float32 // the gradient written by the last Backward
	off   int       // offset of Data in the model's flat storage
}

// Model is a network built from a Graph: its parameters, batch-norm running
// statistics, and the buffers to run it. A Model is not safe for concurrent
// use; run several models (Clone) to evaluate in parallel.
type Model struct {
	g       Graph
	params  []*Param
	byName  map[string]*Param
	data    []float32 // all parameter values, in Params order
	grad    []float32 // all parameter gradients, in Params order
	rt      []nodeRT
	threads int
	pool    *workers

	tw     *workspace   // training workspace (activations kept for Backward)
	iw     []*workspace // inference workspaces, one per thread
	logits []float32    // inference output buffer
	trainN int          // batch size of the last training forward; 0 if none
	job    nodeJob
	ijob   inferJob
	plan   *trainPlan
	macs   int // multiply-adds of one sample's forward pass
}

// nodeRT is the per-node runtime state of a model.
type nodeRT struct {
	w, b     *Param    // conv/linear weight and bias; batch-norm weight (gamma) and bias (beta)
	runMean  []float32 // batch norm running mean
	runVar   []float32 // batch norm running variance
	tracked  int64     // batch norm num_batches_tracked
	geom     convGeom
	in       Shape // shape of the first input
	needGrad bool  // the gradient of this node's output is needed
	// Fusion (see planFusion): reluOut is the ReLU fused into this node
	// (-1 if none); fusedInto is the producer a ReLU is fused into (-1).
	reluOut, fusedInto int
	// Inference only: bnFold is the batch norm folded into this
	// convolution (-1 if none), foldedInto the convolution a batch norm is
	// folded into (-1); foldW and foldB hold the folded weights and bias.
	bnFold, foldedInto int
	foldW, foldB       []float32
}

// NewModel builds a model for graph g with freshly initialised parameters
// drawn from a generator seeded with seed. Initialisation follows PyTorch:
// for the CIFAR ResNets (ArchSpec.KaimingNormal), convolution and linear
// weights are Kaiming-normal (fan-in, ReLU gain) as in the usual CIFAR
// ResNet code; otherwise they use
// PyTorch's default Kaiming-uniform (a = sqrt(5)), i.e. U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)). Biases are U(-1/sqrt(fan_in), 1/sqrt(fan_in)); batch norm
// starts at weight 1, bias 0, running mean 0, running variance 1.
// The model uses GOMAXPROCS threads until SetThreads.
func NewModel(g Graph, seed uint64) (*Model, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	m := &Model{g: g, byName: map[string]*Param{}, rt: make([]nodeRT, len(g.Nodes))}
	// Lay out the parameters in state_dict order.
	type spec struct {
		node  int
		which byte // 'w' or 'b'
		p     *Param
	}
	var specs []spec
	total := 0
	addParam := func(i int, which byte, name string, shape ...int) {
		size := 1
		for _, d := range shape {
			size *= d
		}
		p := &Param{Name: name, Shape: shape}
		specs = append(specs, spec{i, which, p})
		m.params = append(m.params, p)
		m.byName[name] = p
		total += size
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		rt := &m.rt[i]
		if len(n.Inputs) > 0 {
			rt.in = g.Nodes[n.Inputs[0]].OutShape
		}
		switch n.Op {
		case OpConv:
			rt.geom = newConvGeom(rt.in, n.OutShape, n.Kernel, n.Stride, n.Padding)
			addParam(i, 'w', n.Name+".weight", n.Out, n.In, n.Kernel, n.Kernel)
			if n.HasBias {
				addParam(i, 'b', n.Name+".bias", n.Out)
			}
		case OpLinear:
			addParam(i, 'w', n.Name+".weight", n.Out, n.In)
			if n.HasBias {
				addParam(i, 'b', n.Name+".bias", n.Out)
			}
		case OpBatchNorm:
			c := n.OutShape.C
			addParam(i, 'w', n.Name+".weight", c)
			addParam(i, 'b', n.Name+".bias", c)
			rt.runMean = make([]float32, c)
			rt.runVar = make([]float32, c)
		}
	}
	m.data = make([]float32, total)
	m.grad = make([]float32, total)
	off := 0
	for _, s := range specs {
		size := 1
		for _, d := range s.p.Shape {
			size *= d
		}
		s.p.off = off
		s.p.Data = m.data[off : off+size : off+size]
		s.p.Grad = m.grad[off : off+size : off+size]
		off += size
		if s.which == 'w' {
			m.rt[s.node].w = s.p
		} else {
			m.rt[s.node].b = s.p
		}
	}
	// Which node outputs need a gradient: those with a parameter at or
	// before them.
	for i := range g.Nodes {
		rt := &m.rt[i]
		rt.needGrad = rt.w != nil
		for _, j := range g.Nodes[i].Inputs {
			rt.needGrad = rt.needGrad || m.rt[j].needGrad
		}
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch n.Op {
		case OpConv:
			m.macs += n.Out * n.In * n.Kernel * n.Kernel * n.OutShape.H * n.OutShape.W
		case OpLinear:
			m.macs += n.Out * n.In
		}
	}
	m.planFusion()
	m.planTraining()
	m.initParams(seed)
	m.SetThreads(defaultThreads())
	return m, nil
}

// initParams draws the initial parameters (see NewModel).
func (m *Model) initParams(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	spec, _ := LookupArch(m.g.Arch)
	kaimingNormal := spec.KaimingNormal
	for i := range m.g.Nodes {
		n := &m.g.Nodes[i]
		rt := &m.rt[i]
		switch n.Op {
		case OpConv, OpLinear:
			fanIn := n.In
			if n.Op == OpConv {
				fanIn = n.In * n.Kernel * n.Kernel
			}
			bound := 1 / math.Sqrt(float64(fanIn))
			if kaimingNormal {
				std := math.Sqrt(2 / float64(fanIn))
				for k := range rt.w.Data {
					rt.w.Data[k] = float32(rng.NormFloat64() * std)
				}
			} else {
				for k := range rt.w.Data {
					rt.w.Data[k] = float32((2*rng.Float64() - 1) * bound)
				}
			}
			if rt.b != nil {
				for k := range rt.b.Data {
					rt.b.Data[k] = float32((2*rng.Float64() - 1) * bound)
				}
			}
		case OpBatchNorm:
			for k := range rt.w.Data {
				rt.w.Data[k] = 1
				rt.b.Data[k] = 0
				rt.runMean[k] = 0
				rt.runVar[k] = 1
			}
			rt.tracked = 0
		}
	}
}

// Graph returns the model's architecture.
func (m *Model) Graph() Graph { return m.g }

// Params returns the trainable tensors in state_dict order. The slices are
// views into the model: writing Data changes the model.
func (m *Model) Params() []*Param { return m.params }

// Param returns the trainable tensor with the given state_dict name, or nil.
func (m *Model) Param(name string) *Param { return m.byName[name] }

// Flat returns all parameter values and gradients as two flat slices, in
// Params order (each Param's Data and Grad are views into them).
func (m *Model) Flat() (data, grad []float32) { return m.data, m.grad }

// NumParams is the number of trainable values.
func (m *Model) NumParams() int { return len(m.data) }

// Threads returns the number of goroutines the model uses.
func (m *Model) Threads() int { return m.threads }

// SetThreads sets the number of goroutines used by Forward and Backward
// (at least 1). Results are deterministic for a given thread count.
func (m *Model) SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	if n == m.threads {
		return
	}
	if m.pool != nil {
		m.pool.close()
	}
	m.threads = n
	m.pool = newWorkers(n)
	pool := m.pool
	runtime.AddCleanup(m, func(w *workers) { w.close() }, pool)
	m.tw, m.iw, m.trainN = nil, nil, 0
}

// Close stops the model's worker goroutines early; they are otherwise
// stopped when the model is garbage collected. The model must not be used
// afterwards.
func (m *Model) Close() {
	if m.pool != nil {
		m.pool.close()
	}
}

// Clone returns an independent copy of the model (parameters and running
// statistics) with its own buffers and the same thread count.
func (m *Model) Clone() *Model {
	c, err := NewModel(m.g, 0)
	if err != nil {
		panic(fmt.Sprintf("nn: clone of a valid model failed: %v", err)) // cannot happen: m.g was validated
	}
	m.copyStateTo(c)
	c.SetThreads(m.threads)
	return c
}

// copyStateTo copies parameters and batch-norm statistics into c, which has
// the same graph.
func (m *Model) copyStateTo(c *Model) {
	copy(c.data, m.data)
	for i := range m.rt {
		copy(c.rt[i].runMean, m.rt[i].runMean)
		copy(c.rt[i].runVar, m.rt[i].runVar)
		c.rt[i].tracked = m.rt[i].tracked
	}
}

// CopyFrom copies parameters and batch-norm statistics from src, which must
// have been built from an identical graph.
func (m *Model) CopyFrom(src *Model) error {
	if len(src.data) != len(m.data) || len(src.rt) != len(m.rt) || src.g.Arch != m.g.Arch || src.g.Input != m.g.Input || src.g.Classes != m.g.Classes {
		return fmt.Errorf("copy model: architectures differ (%s %v %d classes vs %s %v %d classes)",
			src.g.Arch, src.g.Input, src.g.Classes, m.g.Arch, m.g.Input, m.g.Classes)
	}
	src.copyStateTo(m)
	return nil
}

// BatchNormStats returns views of the running mean and variance of the
// batch-norm node with the given name (nil if there is none).
func (m *Model) BatchNormStats(name string) (mean, variance []float32) {
	for i := range m.g.Nodes {
		if m.g.Nodes[i].Name == name && m.g.Nodes[i].Op == OpBatchNorm {
			return m.rt[i].runMean, m.rt[i].runVar
		}
	}
	return nil, nil
}
