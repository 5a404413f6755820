package nn

import (
	"slices"
	"testing"
)

// TestCIFARResNetFamily checks the CIFAR ResNets of He et al. (2016) that
// the architecture table adds beside ResNet-20: their trainable parameter
// counts for 10 classes are those of the option-A reference implementation
// (0.27M, 0.46M, 0.66M, 0.85M: 269,722 for ResNet-20 and 194,432 more per
// two blocks added to each stage), their depth is 6n+2 weighted layers, and
// a flat "layers.N." PyTorch checkpoint maps onto their stages.
func TestCIFARResNetFamily(t *testing.T) {
	want := map[string]int{"resnet20": 269722, "resnet32": 464154, "resnet44": 658586, "resnet56": 853018}
	for arch, params := range want {
		g, err := BuildGraph(arch, Shape{3, 32, 32}, 10)
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewModel(g, 1)
		if err != nil {
			t.Fatal(err)
		}
		n, layers := 0, 0
		for _, p := range m.Params() {
			n += len(p.Data)
		}
		for _, node := range g.Nodes {
			if node.Op == OpConv || node.Op == OpLinear {
				layers++
			}
		}
		m.Close()
		spec, _ := LookupArch(arch)
		if n != params || layers != 6*spec.ResNetBlocks+2 || !spec.KaimingNormal || spec.FinalWeight != "linear.weight" {
			t.Errorf("%s: %d parameters (want %d), %d weighted layers (want %d), spec %+v", arch, n, params, layers, 6*spec.ResNetBlocks+2, spec)
		}
	}
	for _, c := range []struct{ arch, in, want string }{
		{"resnet20", "layers.4.conv1.weight", "layer2.1.conv1.weight"},
		{"resnet32", "layers.7.bn2.bias", "layer2.2.bn2.bias"},
		{"resnet56", "module.layers.26.conv2.weight", "layer3.8.conv2.weight"},
		{"resnet56", "layers.27.conv2.weight", "layers.27.conv2.weight"}, // beyond the 27 blocks: unchanged
		{"resnet44", "fc.bias", "linear.bias"},
		{"lenet5", "fc.bias", "fc.bias"},
	} {
		if got := CanonicalName(c.arch, c.in); got != c.want {
			t.Errorf("CanonicalName(%s, %s) = %s, want %s", c.arch, c.in, got, c.want)
		}
	}
}

// TestArchTable checks that every table entry builds for both input shapes
// ccq uses and that its final layer is the one the entry names.
func TestArchTable(t *testing.T) {
	if !slices.Equal(Archs[:3], []string{"mlp", "lenet5", "resnet20"}) {
		t.Errorf("Archs %v: the first three keep their order", Archs)
	}
	for _, spec := range ArchSpecs() {
		for _, in := range []Shape{{1, 28, 28}, {3, 32, 32}} {
			g, err := BuildGraph(spec.Name, in, 10)
			if err != nil {
				t.Fatalf("%s on %v: %v", spec.Name, in, err)
			}
			last := g.Nodes[len(g.Nodes)-1]
			if last.Name+".weight" != spec.FinalWeight {
				t.Errorf("%s: last node %s, entry names %s", spec.Name, last.Name, spec.FinalWeight)
			}
		}
		if spec.BenchInput.Size() == 0 || spec.Doc == "" {
			t.Errorf("%s: incomplete entry %+v", spec.Name, spec)
		}
	}
}
