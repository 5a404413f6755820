package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestBuildGraphParams(t *testing.T) {
	cases := []struct {
		arch    string
		in      Shape
		params  int
		nodes   int
		first   string
		lastOut string
	}{
		// PyTorch counts: sum(p.numel() for p in model.parameters()).
		{"mlp", Shape{1, 28, 28}, 269322, 7, "fc1.weight", "fc3.bias"},
		{"lenet5", Shape{1, 28, 28}, 61706, 13, "conv1.weight", "fc3.bias"},
		{"lenet5", Shape{3, 32, 32}, 83126, 13, "conv1.weight", "fc3.bias"},
		{"resnet20", Shape{3, 32, 32}, 269722, 0, "conv1.weight", "linear.bias"},
		{"resnet20", Shape{1, 28, 28}, 269434, 0, "conv1.weight", "linear.bias"},
	}
	for _, tc := range cases {
		g, err := BuildGraph(tc.arch, tc.in, 10)
		if err != nil {
			t.Fatalf("%s: %v", tc.arch, err)
		}
		if tc.nodes > 0 && len(g.Nodes) != tc.nodes {
			t.Errorf("%s: %d nodes, want %d", tc.arch, len(g.Nodes), tc.nodes)
		}
		m, err := NewModel(g, 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.NumParams() != tc.params {
			t.Errorf("%s %v: %d parameters, want %d", tc.arch, tc.in, m.NumParams(), tc.params)
		}
		ps := m.Params()
		if ps[0].Name != tc.first || ps[len(ps)-1].Name != tc.lastOut {
			t.Errorf("%s: params run from %s to %s, want %s to %s", tc.arch, ps[0].Name, ps[len(ps)-1].Name, tc.first, tc.lastOut)
		}
	}
	g, _ := BuildGraph("resnet20", Shape{1, 28, 28}, 10)
	if g.Nodes[1].Op != OpPad || g.Nodes[2].OutShape != (Shape{16, 32, 32}) {
		t.Errorf("resnet20 on 28x28: want a pad to 32x32 first, got %v then %v", g.Nodes[1].Op, g.Nodes[2].OutShape)
	}
	var names []string
	for _, n := range g.Nodes {
		if n.Op == OpShortcutA {
			names = append(names, fmt.Sprintf("%s:%d", n.Name, n.PadChannels))
		}
	}
	if want := []string{"layer2.0.shortcut:8", "layer3.0.shortcut:16"}; !slices.Equal(names, want) {
		t.Errorf("shortcuts %v, want %v", names, want)
	}
}

func TestBuildGraphErrors(t *testing.T) {
	for _, tc := range []struct {
		arch    string
		in      Shape
		classes int
		want    string
	}{
		{"vgg", Shape{1, 28, 28}, 10, "unknown architecture"},
		{"mlp", Shape{0, 28, 28}, 10, "positive"},
		{"mlp", Shape{1, 28, 28}, 1, "at least 2"},
		{"lenet5", Shape{1, 6, 6}, 10, "kernel"},
	} {
		_, err := BuildGraph(tc.arch, tc.in, tc.classes)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("BuildGraph(%s, %v, %d) = %v, want an error containing %q", tc.arch, tc.in, tc.classes, err, tc.want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	g, _ := BuildGraph("lenet5", Shape{1, 28, 28}, 10)
	bad := g
	bad.Nodes = slices.Clone(g.Nodes)
	bad.Nodes[1].OutShape.H = 27
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "conv1") {
		t.Errorf("wrong OutShape: %v", err)
	}
	bad.Nodes = slices.Clone(g.Nodes)
	bad.Nodes[3].Inputs = []int{5}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "earlier") {
		t.Errorf("forward reference: %v", err)
	}
	bad.Nodes = slices.Clone(g.Nodes)
	bad.Nodes[4].Name = "conv1"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := NewModel(bad, 1); err == nil {
		t.Error("NewModel accepted an invalid graph")
	}
}

// tinyResNet is a small graph using every operation: pad, conv (with and
// without bias), batch norm, relu, max pool, an option-A block, global
// average pool, flatten and linear.
func tinyResNet(t testing.TB) Graph {
	b := &graphBuilder{g: Graph{Arch: "tiny", Input: Shape{2, 6, 6}, Classes: 3}}
	b.g.Nodes = append(b.g.Nodes, Node{Name: "input", Op: OpInput, OutShape: b.g.Input})
	x := b.add(Node{Name: "pad", Op: OpPad, Pad: 1}, 0)
	x = b.conv("conv1", x, 4, 3, 1, 1, true)
	x = b.add(Node{Name: "bn1", Op: OpBatchNorm}, x)
	x = b.add(Node{Name: "relu", Op: OpReLU}, x)
	x = b.add(Node{Name: "pool", Op: OpMaxPool, Kernel: 2, Stride: 2}, x)
	x = b.basicBlock("layer1.0", x, 4, 1)
	x = b.basicBlock("layer2.0", x, 6, 2)
	x = b.add(Node{Name: "avgpool", Op: OpGlobalAvgPool}, x)
	x = b.add(Node{Name: "flatten", Op: OpFlatten}, x)
	b.linear("linear", x, 3, true)
	if b.err != nil {
		t.Fatal(b.err)
	}
	if err := b.g.Validate(); err != nil {
		t.Fatal(err)
	}
	return b.g
}

// params64 copies the model's parameters and running statistics to float64.
func params64(m *Model) map[string][]float64 {
	p := map[string][]float64{}
	for _, q := range m.Params() {
		p[q.Name] = to64(q.Data)
	}
	for i, n := range m.g.Nodes {
		if n.Op == OpBatchNorm {
			p[n.Name+".running_mean"] = to64(m.rt[i].runMean)
			p[n.Name+".running_var"] = to64(m.rt[i].runVar)
		}
	}
	return p
}

// checkModelGradients compares Backward with finite differences of the
// float64 reference graph for up to maxPer values of every parameter.
func checkModelGradients(t *testing.T, g Graph, threads, n, maxPer int) []float32 {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	m, err := NewModel(g, 7)
	if err != nil {
		t.Fatal(err)
	}
	m.SetThreads(threads)
	// Non-trivial batch-norm affine parameters.
	for _, p := range m.Params() {
		if strings.Contains(p.Name, "bn") {
			for k := range p.Data {
				p.Data[k] = float32(0.5 + rng.Float64())
				if strings.HasSuffix(p.Name, ".bias") {
					p.Data[k] = float32(rng.NormFloat64() * 0.2)
				}
			}
		}
	}
	x := round32(randVec(rng, n*g.Input.Size(), 1))
	labels := make([]uint8, n)
	for i := range labels {
		labels[i] = uint8(rng.IntN(g.Classes))
	}
	logits := m.Forward(to32(x), n, true)
	pars := params64(m)
	assertClose(t, "train-mode logits", logits, refGraph(&g, pars, x, n, true), 1e-4, 1e-5)
	d := make([]float32, n*g.Classes)
	SoftmaxCrossEntropy(logits, labels, n, g.Classes, d)
	m.Backward(d)
	loss := func() float64 { return refCE(refGraph(&g, pars, x, n, true), labels, n, g.Classes) }
	for _, p := range m.Params() {
		v := pars[p.Name]
		idx := rng.Perm(len(v))
		if len(idx) > maxPer {
			idx = idx[:maxPer]
		}
		got := make([]float32, len(idx))
		want := make([]float64, len(idx))
		for k, i := range idx {
			got[k] = p.Grad[i]
			want[k] = numGrad(loss, v[i:i+1], 1e-5)[0]
		}
		assertClose(t, fmt.Sprintf("threads %d: grad %s", threads, p.Name), got, want, 2e-3, 2e-5)
	}
	grads := make([]float32, len(m.grad))
	copy(grads, m.grad)
	return grads
}

func TestModelGradientsTinyResNet(t *testing.T) {
	g := tinyResNet(t)
	g1 := checkModelGradients(t, g, 1, 4, 1000)
	g3 := checkModelGradients(t, g, 3, 4, 1000)
	for i := range g1 {
		if math.Abs(float64(g1[i]-g3[i])) > 1e-5*(1+math.Abs(float64(g1[i]))) {
			t.Fatalf("gradient %d differs between 1 and 3 threads: %v vs %v", i, g1[i], g3[i])
		}
	}
}

func TestModelGradientsLeNetMLP(t *testing.T) {
	g, err := BuildGraph("lenet5", Shape{1, 12, 12}, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkModelGradients(t, g, 2, 3, 40)
	g, err = BuildGraph("mlp", Shape{1, 4, 4}, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkModelGradients(t, g, 2, 3, 40)
}

func TestEvalForwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	g := tinyResNet(t)
	m, err := NewModel(g, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range g.Nodes {
		if n.Op == OpBatchNorm {
			for c := range m.rt[i].runMean {
				m.rt[i].runMean[c] = float32(rng.NormFloat64() * 0.3)
				m.rt[i].runVar[c] = float32(0.5 + rng.Float64())
			}
		}
	}
	// More samples than one inference chunk, on several threads.
	n := 2*m.inferChunk() + 5
	x := round32(randVec(rng, n*g.Input.Size(), 1))
	want := refGraph(&g, params64(m), x, n, false)
	for _, threads := range []int{1, 3} {
		m.SetThreads(threads)
		assertClose(t, fmt.Sprintf("eval logits, %d threads", threads), m.Forward(to32(x), n, false), want, 1e-4, 1e-5)
	}
}

func TestTrainingForwardDeterministic(t *testing.T) {
	g, _ := BuildGraph("resnet20", Shape{3, 8, 8}, 10)
	rng := rand.New(rand.NewPCG(41, 42))
	x := to32(randVec(rng, 6*g.Input.Size(), 1))
	run := func() ([]float32, []float32) {
		m, _ := NewModel(g, 5)
		m.SetThreads(2)
		lg := slices.Clone(m.Forward(x, 6, true))
		d := make([]float32, len(lg))
		SoftmaxCrossEntropy(lg, []uint8{1, 2, 3, 4, 5, 6}, 6, 10, d)
		m.Backward(d)
		_, gr := m.Flat()
		return lg, slices.Clone(gr)
	}
	l1, g1 := run()
	l2, g2 := run()
	if !slices.Equal(l1, l2) || !slices.Equal(g1, g2) {
		t.Error("two identical runs gave different logits or gradients")
	}
}

func TestInitStatistics(t *testing.T) {
	g, _ := BuildGraph("lenet5", Shape{1, 28, 28}, 10)
	m, _ := NewModel(g, 1)
	w := m.Param("fc1.weight").Data // fan-in 400: U(-0.05, 0.05)
	var mx, s2 float64
	for _, v := range w {
		mx = math.Max(mx, math.Abs(float64(v)))
		s2 += float64(v) * float64(v)
	}
	if mx > 0.05 || mx < 0.049 {
		t.Errorf("fc1.weight max |w| = %v, want just under 1/sqrt(400) = 0.05", mx)
	}
	if sd := math.Sqrt(s2 / float64(len(w))); math.Abs(sd-0.05/math.Sqrt(3)) > 0.001 {
		t.Errorf("fc1.weight std %v, want %v", sd, 0.05/math.Sqrt(3))
	}
	g, _ = BuildGraph("resnet20", Shape{3, 32, 32}, 10)
	m, _ = NewModel(g, 1)
	w = m.Param("layer3.1.conv1.weight").Data // fan-in 576: N(0, 2/576)
	s2 = 0
	for _, v := range w {
		s2 += float64(v) * float64(v)
	}
	if sd, want := math.Sqrt(s2/float64(len(w))), math.Sqrt(2.0/576); math.Abs(sd-want) > 0.02*want {
		t.Errorf("resnet20 conv std %v, want %v", sd, want)
	}
	if bw := m.Param("layer1.0.bn1.weight").Data; bw[0] != 1 || m.Param("layer1.0.bn1.bias").Data[0] != 0 {
		t.Error("batch norm must start at weight 1, bias 0")
	}
	m2, _ := NewModel(g, 1)
	m3, _ := NewModel(g, 2)
	d1, _ := m.Flat()
	d2, _ := m2.Flat()
	d3, _ := m3.Flat()
	if !slices.Equal(d1, d2) || slices.Equal(d1, d3) {
		t.Error("initialisation must depend on the seed and only on it")
	}
}

func TestPlanBuffersNoOverlap(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for trial := 0; trial < 50; trial++ {
		k := 1 + rng.IntN(12)
		sizes, first, end := make([]int, k), make([]int, k), make([]int, k)
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(20)
			first[i] = rng.IntN(10)
			end[i] = first[i] + rng.IntN(5)
		}
		views := planBuffers(sizes, first, end)
		for a := 0; a < k; a++ {
			if len(views[a]) != sizes[a] {
				t.Fatalf("view %d has %d values, want %d", a, len(views[a]), sizes[a])
			}
			for b := a + 1; b < k; b++ {
				overlapTime := first[a] <= end[b] && first[b] <= end[a]
				sa, sb := &views[a][0], &views[b][0]
				_ = sa
				if overlapTime && memOverlap(views[a], views[b]) {
					t.Fatalf("tensors %d [%d,%d] and %d [%d,%d] are alive together but share memory (%p, %p)", a, first[a], end[a], b, first[b], end[b], sa, sb)
				}
			}
		}
	}
}

// memOverlap reports whether two slices share any element (by writing).
func memOverlap(a, b []float32) bool {
	for i := range a {
		a[i] = 0
	}
	for i := range b {
		b[i] = 1
	}
	for _, v := range a {
		if v != 0 {
			return true
		}
	}
	return false
}
