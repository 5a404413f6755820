package nn

import (
	"fmt"
	"strings"
)

// Limits on BuildGraph's arguments, far above any real use, so that bad
// metadata cannot overflow shape arithmetic.
const (
	maxDim     = 1 << 14
	maxInput   = 1 << 24
	maxClasses = 1 << 20
)

// BuildGraph returns the graph of a named architecture (see ArchSpecs) for
// inputs of the given shape and the given number of classes. Node names are
// the PyTorch state_dict prefixes (see the package README).
func BuildGraph(arch string, input Shape, classes int) (Graph, error) {
	if input.C <= 0 || input.H <= 0 || input.W <= 0 {
		return Graph{}, fmt.Errorf("build %s graph: input shape %dx%dx%d: every dimension must be positive", arch, input.C, input.H, input.W)
	}
	if input.C > maxDim || input.H > maxDim || input.W > maxDim || input.Size() > maxInput {
		return Graph{}, fmt.Errorf("build %s graph: input shape %dx%dx%d is too large (at most %d per dimension, %d values)", arch, input.C, input.H, input.W, maxDim, maxInput)
	}
	if classes > maxClasses {
		return Graph{}, fmt.Errorf("build %s graph: %d classes: at most %d", arch, classes, maxClasses)
	}
	if classes < 2 {
		return Graph{}, fmt.Errorf("build %s graph: %d classes: need at least 2", arch, classes)
	}
	spec, ok := LookupArch(arch)
	if !ok {
		return Graph{}, fmt.Errorf("build graph: unknown architecture %q (expected one of %s)", arch, strings.Join(Archs, ", "))
	}
	b := &graphBuilder{g: Graph{Arch: arch, Input: input, Classes: classes}}
	b.g.Nodes = append(b.g.Nodes, Node{Name: "input", Op: OpInput, OutShape: input})
	spec.build(b, input, classes)
	if b.err != nil {
		return Graph{}, fmt.Errorf("build %s graph for input %dx%dx%d: %w", arch, input.C, input.H, input.W, b.err)
	}
	if err := b.g.Validate(); err != nil {
		return Graph{}, fmt.Errorf("build %s graph: %w", arch, err)
	}
	return b.g, nil
}

// graphBuilder appends nodes and infers their output shapes; the first error
// sticks.
type graphBuilder struct {
	g   Graph
	err error
}

func (b *graphBuilder) add(n Node, inputs ...int) int {
	n.Inputs = inputs
	if b.err == nil {
		s, err := inferShape(&b.g, &n)
		if err != nil {
			b.err = err
		}
		n.OutShape = s
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return len(b.g.Nodes) - 1
}

func (b *graphBuilder) conv(name string, x, out, k, stride, pad int, bias bool) int {
	return b.add(Node{Name: name, Op: OpConv, Kernel: k, Stride: stride, Padding: pad,
		In: b.g.Nodes[x].OutShape.C, Out: out, HasBias: bias}, x)
}

func (b *graphBuilder) linear(name string, x, out int, bias bool) int {
	return b.add(Node{Name: name, Op: OpLinear, In: b.g.Nodes[x].OutShape.Size(), Out: out, HasBias: bias}, x)
}

// basicBlock appends relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
func (b *graphBuilder) basicBlock(prefix string, x, width, stride int) int {
	in := b.g.Nodes[x].OutShape.C
	// The shortcut comes first, so that the sum's other input exists
	// before conv2: the quantized engines compute the sum in conv2's
	// epilogue then.
	sc := x
	if stride != 1 || in != width {
		sc = b.add(Node{Name: prefix + ".shortcut", Op: OpShortcutA, Stride: stride, PadChannels: (width - in) / 2}, x)
	}
	y := b.conv(prefix+".conv1", x, width, 3, stride, 1, false)
	y = b.add(Node{Name: prefix + ".bn1", Op: OpBatchNorm}, y)
	y = b.add(Node{Name: prefix + ".relu1", Op: OpReLU}, y)
	y = b.conv(prefix+".conv2", y, width, 3, 1, 1, false)
	y = b.add(Node{Name: prefix + ".bn2", Op: OpBatchNorm}, y)
	y = b.add(Node{Name: prefix + ".add", Op: OpAdd}, y, sc)
	return b.add(Node{Name: prefix + ".relu2", Op: OpReLU}, y)
}

// inferShape checks a node against its inputs' shapes and returns its output
// shape. It fills BatchNorm's In/Out from the input channels when they are 0.
func inferShape(g *Graph, n *Node) (Shape, error) {
	want := map[OpKind]int{OpInput: 0, OpAdd: 2}
	nin, ok := want[n.Op]
	if !ok {
		nin = 1
	}
	if len(n.Inputs) != nin {
		return Shape{}, fmt.Errorf("node %q (%s): %d inputs, expected %d", n.Name, n.Op, len(n.Inputs), nin)
	}
	var in []Shape
	for _, i := range n.Inputs {
		if i < 0 || i >= len(g.Nodes) {
			return Shape{}, fmt.Errorf("node %q (%s): input %d is not an earlier node", n.Name, n.Op, i)
		}
		in = append(in, g.Nodes[i].OutShape)
	}
	errf := func(format string, a ...any) (Shape, error) {
		return Shape{}, fmt.Errorf("node %q (%s): %s", n.Name, n.Op, fmt.Sprintf(format, a...))
	}
	switch n.Op {
	case OpInput:
		return g.Input, nil
	case OpPad:
		if n.Pad < 0 {
			return errf("negative Pad %d", n.Pad)
		}
		return Shape{in[0].C, in[0].H + 2*n.Pad, in[0].W + 2*n.Pad}, nil
	case OpConv:
		if n.Kernel <= 0 || n.Stride <= 0 || n.Padding < 0 || n.Out <= 0 {
			return errf("Kernel %d, Stride %d, Padding %d, Out %d: need positive kernel, stride and outputs, non-negative padding", n.Kernel, n.Stride, n.Padding, n.Out)
		}
		if n.In != in[0].C {
			return errf("In %d but the input has %d channels", n.In, in[0].C)
		}
		oh := (in[0].H+2*n.Padding-n.Kernel)/n.Stride + 1
		ow := (in[0].W+2*n.Padding-n.Kernel)/n.Stride + 1
		if in[0].H+2*n.Padding < n.Kernel || in[0].W+2*n.Padding < n.Kernel {
			return errf("kernel %d larger than the padded input %dx%d", n.Kernel, in[0].H+2*n.Padding, in[0].W+2*n.Padding)
		}
		return Shape{n.Out, oh, ow}, nil
	case OpBatchNorm:
		if n.In == 0 && n.Out == 0 {
			n.In, n.Out = in[0].C, in[0].C
		}
		if n.Out != in[0].C || n.In != in[0].C {
			return errf("In/Out %d/%d but the input has %d channels", n.In, n.Out, in[0].C)
		}
		return in[0], nil
	case OpReLU:
		return in[0], nil
	case OpMaxPool:
		if n.Kernel <= 0 || n.Stride <= 0 || in[0].H < n.Kernel || in[0].W < n.Kernel {
			return errf("Kernel %d, Stride %d on a %dx%d input", n.Kernel, n.Stride, in[0].H, in[0].W)
		}
		return Shape{in[0].C, (in[0].H-n.Kernel)/n.Stride + 1, (in[0].W-n.Kernel)/n.Stride + 1}, nil
	case OpGlobalAvgPool:
		return Shape{in[0].C, 1, 1}, nil
	case OpFlatten:
		return Shape{in[0].Size(), 1, 1}, nil
	case OpLinear:
		if in[0].H != 1 || in[0].W != 1 {
			return errf("input %dx%dx%d is not flat", in[0].C, in[0].H, in[0].W)
		}
		if n.In != in[0].C || n.Out <= 0 {
			return errf("In %d, Out %d but the input has %d features", n.In, n.Out, in[0].C)
		}
		return Shape{n.Out, 1, 1}, nil
	case OpShortcutA:
		if n.Stride <= 0 || n.PadChannels < 0 {
			return errf("Stride %d, PadChannels %d", n.Stride, n.PadChannels)
		}
		return Shape{in[0].C + 2*n.PadChannels, (in[0].H + n.Stride - 1) / n.Stride, (in[0].W + n.Stride - 1) / n.Stride}, nil
	case OpFakeQuant:
		if err := n.Quant.check(); err != nil {
			return errf("%v", err)
		}
		return in[0], nil
	case OpAdd:
		if in[0] != in[1] {
			return errf("inputs of shapes %v and %v differ", in[0], in[1])
		}
		return in[0], nil
	}
	return errf("unknown operation")
}

// Validate checks that the graph is well formed: node 0 is the input, every
// node's inputs are earlier nodes, names are unique, the recorded output
// shapes match the ones implied by each operation, and the last node's
// output is Classes x 1 x 1.
func (g Graph) Validate() error {
	if len(g.Nodes) < 2 {
		return fmt.Errorf("graph %q: %d nodes, need an input and at least one operation", g.Arch, len(g.Nodes))
	}
	if g.Nodes[0].Op != OpInput {
		return fmt.Errorf("graph %q: node 0 is %s, expected input", g.Arch, g.Nodes[0].Op)
	}
	names := make(map[string]bool, len(g.Nodes))
	for i := range g.Nodes {
		n := g.Nodes[i]
		if n.Name == "" || names[n.Name] {
			return fmt.Errorf("graph %q: node %d has an empty or duplicate name %q", g.Arch, i, n.Name)
		}
		names[n.Name] = true
		if i > 0 && n.Op == OpInput {
			return fmt.Errorf("graph %q: node %q: only node 0 may be the input", g.Arch, n.Name)
		}
		for _, j := range n.Inputs {
			if j >= i {
				return fmt.Errorf("graph %q: node %q: input %d is not an earlier node", g.Arch, n.Name, j)
			}
		}
		sub := Graph{Input: g.Input, Nodes: g.Nodes[:i]}
		s, err := inferShape(&sub, &n)
		if err != nil {
			return fmt.Errorf("graph %q: %w", g.Arch, err)
		}
		if s != n.OutShape {
			return fmt.Errorf("graph %q: node %q: OutShape %v, expected %v", g.Arch, n.Name, n.OutShape, s)
		}
	}
	last := g.Nodes[len(g.Nodes)-1].OutShape
	if last != (Shape{g.Classes, 1, 1}) {
		return fmt.Errorf("graph %q: output shape %v, expected %d x 1 x 1 logits", g.Arch, last, g.Classes)
	}
	return nil
}
