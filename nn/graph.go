// Package nn is ccq's pure-Go float32 neural-network engine: tensors, layers,
// the models (MLP, LeNet-5 and the CIFAR ResNets, one table entry each in
// archs.go: add an architecture there), training, and safetensors I/O.
package nn

// OpKind names the operation of one graph node.
type OpKind string

// The operations a model graph is built from. Each is documented with the
// PyTorch operation it matches.
const (
	// OpInput is the network input (always node 0), shape C x H x W.
	OpInput OpKind = "input"
	// OpPad zero-pads the spatial borders by Pad pixels on each side (used to
	// feed 28x28 images to ResNet-20 as 32x32).
	OpPad OpKind = "pad"
	// OpConv is Conv2d with square Kernel, Stride, Padding; weight
	// "<Name>.weight" [Out, In, K, K], bias "<Name>.bias" [Out] when HasBias.
	OpConv OpKind = "conv"
	// OpBatchNorm is BatchNorm2d over Out channels: "<Name>.weight", ".bias",
	// ".running_mean", ".running_var", ".num_batches_tracked"; Eps 1e-5,
	// momentum 0.1 as in PyTorch.
	OpBatchNorm OpKind = "batchnorm"
	// OpReLU is max(x, 0).
	OpReLU OpKind = "relu"
	// OpMaxPool is MaxPool2d with square Kernel and Stride, no padding.
	OpMaxPool OpKind = "maxpool"
	// OpGlobalAvgPool averages each channel over H x W to C x 1 x 1.
	OpGlobalAvgPool OpKind = "global_avgpool"
	// OpFlatten reshapes C x H x W to (C*H*W) x 1 x 1 in CHW order.
	OpFlatten OpKind = "flatten"
	// OpLinear is Linear: weight "<Name>.weight" [Out, In], bias
	// "<Name>.bias" [Out] when HasBias. Its input must be flat (In x 1 x 1).
	OpLinear OpKind = "linear"
	// OpShortcutA is the option-A ResNet shortcut: x[:, :, ::Stride, ::Stride]
	// then zero-pad the channel dimension by PadChannels before and after.
	OpShortcutA OpKind = "shortcut_a"
	// OpAdd is the element-wise sum of its two inputs.
	OpAdd OpKind = "add"
	// OpFakeQuant quantizes its input linearly in float32 (Node.Quant, see
	// FakeQuant) with a straight-through gradient, for quantization-aware
	// training. No architecture contains it: InsertFakeQuant adds it to a
	// training graph. It is torch.fake_quantize_per_tensor_affine with zero
	// point 0, except that its gradient mask tests x/scale, not the rounded
	// value, against the range.
	OpFakeQuant OpKind = "fake_quant"
)

// Shape is a per-sample activation shape: channels, height, width.
type Shape struct {
	C int `json:"c"`
	H int `json:"h"`
	W int `json:"w"`
}

// Size is the number of values in one sample of this shape.
func (s Shape) Size() int { return s.C * s.H * s.W }

// Node is one operation of a model graph. Nodes are stored in execution
// order; Inputs refer to earlier nodes by index.
type Node struct {
	Name        string // state_dict prefix of its parameters ("layer1.0.conv1"); unique
	Op          OpKind
	Inputs      []int
	Kernel      int  // conv, maxpool
	Stride      int  // conv, maxpool, shortcut_a
	Padding     int  // conv
	Pad         int  // pad
	PadChannels int  // shortcut_a: zero channels added on each side
	In, Out     int  // conv, linear: input and output channels/features; batchnorm: Out
	HasBias     bool // conv, linear
	OutShape    Shape

	// Quant is the quantizer of a fake_quant node.
	Quant FakeQuant
}

// Graph describes a model's architecture: the contract between the training
// engine (nn) and the quantized evaluator (quant). The last node's output is
// the logits (Classes x 1 x 1).
type Graph struct {
	Arch    string // an architecture of Archs: "mlp", "lenet5", "resnet20", ...
	Input   Shape
	Classes int
	Nodes   []Node
}
