package nn

import "fmt"

// ArchSpec is one architecture's entry in the table of architectures: how
// its graph is built, how it is initialised, how its PyTorch state dict is
// read and the input its benchmark uses. Adding an architecture is adding
// an entry to archSpecs (and, for a PyTorch twin, a class in
// scripts/pytorch/models.py); nothing else in nn, the stages or the
// commands names architectures.
type ArchSpec struct {
	// Name is the name in experiment files, flags and model metadata.
	Name string
	// Doc is a one-line description.
	Doc string
	// build appends the nodes after the input node (node 0).
	build func(b *graphBuilder, input Shape, classes int)
	// KaimingNormal initialises convolution and linear weights
	// Kaiming-normal (fan-in, ReLU gain) as the usual CIFAR ResNet code
	// does, instead of PyTorch's default Kaiming-uniform (a = sqrt(5)).
	KaimingNormal bool
	// FinalWeight is the state-dict name of the last layer's weight, whose
	// rows give the number of classes of an imported model.
	FinalWeight string
	// ResNetBlocks, when positive, is the number of BasicBlocks per stage of
	// a CIFAR ResNet: imports then also accept a flat "layers.N." Sequential
	// of all blocks and "fc." for "linear.".
	ResNetBlocks int
	// BenchInput is the input shape of Bench, as in the PyTorch comparison
	// script scripts/pytorch/throughput.py.
	BenchInput Shape
}

// archSpecs is the table of architectures, in the order Archs lists them.
var archSpecs = []ArchSpec{
	{
		Name: "mlp", Doc: "flatten, fc1 (C*H*W -> 256), relu, fc2 (256 -> 256), relu, fc3 (256 -> classes)",
		build: buildMLP, FinalWeight: "fc3.weight", BenchInput: Shape{1, 28, 28},
	},
	{
		Name: "lenet5", Doc: "conv1 (6 @ 5x5, padding 2), relu, maxpool 2, conv2 (16 @ 5x5), relu, maxpool 2, flatten, fc1 (-> 120), relu, fc2 (-> 84), relu, fc3",
		build: buildLeNet5, FinalWeight: "fc3.weight", BenchInput: Shape{1, 28, 28},
	},
	cifarResNet(20, 3),
	cifarResNet(32, 5),
	cifarResNet(44, 7),
	cifarResNet(56, 9),
}

// Archs lists the architectures BuildGraph knows.
var Archs = func() []string {
	names := make([]string, len(archSpecs))
	for i, a := range archSpecs {
		names[i] = a.Name
	}
	return names
}()

// LookupArch returns the table entry of the named architecture.
func LookupArch(name string) (ArchSpec, bool) {
	for _, a := range archSpecs {
		if a.Name == name {
			return a, true
		}
	}
	return ArchSpec{}, false
}

// ArchSpecs returns the table of architectures.
func ArchSpecs() []ArchSpec { return append([]ArchSpec(nil), archSpecs...) }

func buildMLP(b *graphBuilder, _ Shape, classes int) {
	x := b.add(Node{Name: "flatten", Op: OpFlatten}, 0)
	x = b.linear("fc1", x, 256, true)
	x = b.add(Node{Name: "relu1", Op: OpReLU}, x)
	x = b.linear("fc2", x, 256, true)
	x = b.add(Node{Name: "relu2", Op: OpReLU}, x)
	b.linear("fc3", x, classes, true)
}

func buildLeNet5(b *graphBuilder, _ Shape, classes int) {
	x := b.conv("conv1", 0, 6, 5, 1, 2, true)
	x = b.add(Node{Name: "relu1", Op: OpReLU}, x)
	x = b.add(Node{Name: "pool1", Op: OpMaxPool, Kernel: 2, Stride: 2}, x)
	x = b.conv("conv2", x, 16, 5, 1, 0, true)
	x = b.add(Node{Name: "relu2", Op: OpReLU}, x)
	x = b.add(Node{Name: "pool2", Op: OpMaxPool, Kernel: 2, Stride: 2}, x)
	x = b.add(Node{Name: "flatten", Op: OpFlatten}, x)
	x = b.linear("fc1", x, 120, true)
	x = b.add(Node{Name: "relu3", Op: OpReLU}, x)
	x = b.linear("fc2", x, 84, true)
	x = b.add(Node{Name: "relu4", Op: OpReLU}, x)
	b.linear("fc3", x, classes, true)
}

// cifarResNet is the entry of the CIFAR ResNet of He et al. (2016) with
// depth 6n+2: conv1 (16 @ 3x3, no bias), bn1, relu, three stages
// (layer1..layer3) of n BasicBlocks of widths 16, 32, 64 (the first block
// of layer2 and layer3 has stride 2 and an option-A shortcut), global
// average pool, linear. 28x28 inputs are zero-padded to 32x32 first (an
// OpPad node).
func cifarResNet(depth, n int) ArchSpec {
	return ArchSpec{
		Name: fmt.Sprintf("resnet%d", depth),
		Doc:  fmt.Sprintf("the CIFAR ResNet-%d of He et al. (2016): three stages of %d BasicBlocks of widths 16, 32, 64, option-A shortcuts", depth, n),
		build: func(b *graphBuilder, input Shape, classes int) {
			x := 0
			if input.H == 28 && input.W == 28 {
				x = b.add(Node{Name: "pad", Op: OpPad, Pad: 2}, x)
			}
			x = b.conv("conv1", x, 16, 3, 1, 1, false)
			x = b.add(Node{Name: "bn1", Op: OpBatchNorm}, x)
			x = b.add(Node{Name: "relu", Op: OpReLU}, x)
			for stage, width := range []int{16, 32, 64} {
				for blk := 0; blk < n; blk++ {
					stride := 1
					if stage > 0 && blk == 0 {
						stride = 2
					}
					x = b.basicBlock(fmt.Sprintf("layer%d.%d", stage+1, blk), x, width, stride)
				}
			}
			x = b.add(Node{Name: "avgpool", Op: OpGlobalAvgPool}, x)
			x = b.add(Node{Name: "flatten", Op: OpFlatten}, x)
			b.linear("linear", x, classes, true)
		},
		KaimingNormal: true, FinalWeight: "linear.weight", ResNetBlocks: n, BenchInput: Shape{3, 32, 32},
	}
}
