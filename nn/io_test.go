package nn

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn/safetensors"
)

// trainedLike returns a small ResNet-20 whose parameters and running
// statistics all differ from the initial ones.
func trainedLike(t testing.TB) *Model {
	g, err := BuildGraph("resnet20", Shape{3, 8, 8}, 5)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(g, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 6*g.Input.Size())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	m.Forward(x, 6, true) // moves the running statistics
	data, _ := m.Flat()
	for i := range data {
		data[i] += float32(rng.NormFloat64() * 0.01)
	}
	return m
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := trainedLike(t)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path, map[string]string{MetaDataset: "synthetic", MetaMean: FormatFloats([]float32{0.5, 0.25, 0.125})}); err != nil {
		t.Fatal(err)
	}
	m2, md, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if md[MetaDataset] != "synthetic" || md[MetaArch] != "resnet20" || md[MetaInput] != "3,8,8" || md[MetaClasses] != "5" || md[MetaFormat] != FormatFloat32 {
		t.Errorf("metadata %v", md)
	}
	if mean, err := ParseFloats(md[MetaMean]); err != nil || !slices.Equal(mean, []float32{0.5, 0.25, 0.125}) {
		t.Errorf("mean %v, %v", mean, err)
	}
	d1, _ := m.Flat()
	d2, _ := m2.Flat()
	if !slices.Equal(d1, d2) {
		t.Error("parameters differ after a round trip")
	}
	for i := range m.rt {
		if !slices.Equal(m.rt[i].runMean, m2.rt[i].runMean) || !slices.Equal(m.rt[i].runVar, m2.rt[i].runVar) || m.rt[i].tracked != m2.rt[i].tracked {
			t.Fatalf("node %s: batch-norm statistics differ after a round trip", m.g.Nodes[i].Name)
		}
	}
	if m2.rt[2].tracked != 1 {
		t.Errorf("num_batches_tracked %d, want 1", m2.rt[2].tracked)
	}
	x := make([]float32, 2*m.g.Input.Size())
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	if !slices.Equal(m.Forward(x, 2, false), m2.Forward(x, 2, false)) {
		t.Error("logits differ after a round trip")
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the model", len(entries))
	}
}

func TestLoadStateDictAliases(t *testing.T) {
	m := trainedLike(t)
	var ts []safetensors.Tensor
	for _, tn := range m.StateDict() {
		name := tn.Name
		// The flat naming: layers.N.* and fc.*, saved from DataParallel.
		for s := 1; s <= 3; s++ {
			for b := 0; b < 3; b++ {
				name = strings.Replace(name, "layer"+string(rune('0'+s))+"."+string(rune('0'+b))+".", "layers."+string(rune('0'+(s-1)*3+b))+".", 1)
			}
		}
		name = "module." + strings.Replace(name, "linear.", "fc.", 1)
		tn.Name = name
		ts = append(ts, tn)
	}
	if !slices.ContainsFunc(ts, func(x safetensors.Tensor) bool { return x.Name == "module.layers.8.bn2.running_var" }) {
		t.Fatal("renaming did not produce the flat names")
	}
	m2, _ := NewModel(m.g, 9)
	if err := m2.LoadStateDict(ts); err != nil {
		t.Fatal(err)
	}
	d1, _ := m.Flat()
	d2, _ := m2.Flat()
	if !slices.Equal(d1, d2) {
		t.Error("parameters differ after loading under aliases")
	}
}

func TestLoadStateDictErrors(t *testing.T) {
	m := trainedLike(t)
	good := m.StateDict()
	edit := func(f func(ts []safetensors.Tensor) []safetensors.Tensor) []safetensors.Tensor {
		ts := slices.Clone(good)
		return f(ts)
	}
	cases := []struct {
		name string
		ts   []safetensors.Tensor
		want []string
	}{
		{"wrong shape", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			ts[0] = safetensors.F32("conv1.weight", []int{16, 3, 5, 5}, make([]float32, 16*3*25))
			return ts
		}), []string{`"conv1.weight"`, "shape [16 3 5 5], expected [16 3 3 3]"}},
		{"missing", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			return slices.DeleteFunc(ts, func(x safetensors.Tensor) bool { return x.Name == "layer2.1.bn1.running_var" })
		}), []string{`"layer2.1.bn1.running_var": missing`}},
		{"unexpected", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			return append(ts, safetensors.F32("layer4.0.conv1.weight", []int{1}, []float32{1}))
		}), []string{`"layer4.0.conv1.weight": unexpected`}},
		{"wrong dtype", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			ts[1] = safetensors.I32("bn1.weight", []int{16}, make([]int32, 16))
			return ts
		}), []string{`"bn1.weight"`, "dtype I32"}},
		{"duplicate via alias", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			return append(ts, safetensors.F32("fc.bias", []int{5}, make([]float32, 5)))
		}), []string{`"fc.bias"`, "twice"}},
		{"tracked not integer", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == "bn1.num_batches_tracked" {
					ts[i] = safetensors.F32("bn1.num_batches_tracked", []int{}, []float32{3})
				}
			}
			return ts
		}), []string{`"bn1.num_batches_tracked"`, "integer"}},
		{"NaN weight", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			w := make([]float32, 16*3*9)
			w[7] = float32(math.NaN())
			ts[0] = safetensors.F32("conv1.weight", []int{16, 3, 3, 3}, w)
			return ts
		}), []string{`tensor "conv1.weight": value 7 is NaN, expected a finite number`}},
		{"infinite running variance", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == "layer2.1.bn1.running_var" {
					v := make([]float32, 32)
					v[31] = float32(math.Inf(1))
					ts[i] = safetensors.F32(ts[i].Name, []int{32}, v)
				}
			}
			return ts
		}), []string{`tensor "layer2.1.bn1.running_var": value 31 is +Inf, expected a finite number`}},
	}
	for _, tc := range cases {
		m2, _ := NewModel(m.g, 9)
		before, _ := m2.Flat()
		before = slices.Clone(before)
		err := m2.LoadStateDict(tc.ts)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
		if after, _ := m2.Flat(); !slices.Equal(before, after) {
			t.Errorf("%s: a failed load changed the model", tc.name)
		}
	}
	// num_batches_tracked may be absent (older PyTorch files).
	m3, _ := NewModel(m.g, 9)
	if err := m3.LoadStateDict(slices.DeleteFunc(slices.Clone(good), func(x safetensors.Tensor) bool {
		return strings.HasSuffix(x.Name, "num_batches_tracked")
	})); err != nil {
		t.Errorf("without num_batches_tracked: %v", err)
	}
}

func TestLoadBadFiles(t *testing.T) {
	m := trainedLike(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := m.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	trunc := filepath.Join(dir, "trunc.safetensors")
	os.WriteFile(trunc, b[:20], 0o644)
	if _, _, err := Load(trunc); err == nil || !strings.Contains(err.Error(), "trunc.safetensors") {
		t.Errorf("truncated header: %v", err)
	}
	short := filepath.Join(dir, "short.safetensors")
	os.WriteFile(short, b[:len(b)-100], 0o644)
	if _, _, err := Load(short); err == nil {
		t.Error("truncated data: no error")
	}
	// A PyTorch-style file without metadata needs Import.
	plain := filepath.Join(dir, "plain.safetensors")
	if err := safetensors.Write(plain, &safetensors.File{Tensors: m.StateDict()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(plain); err == nil || !strings.Contains(err.Error(), "ccq.arch") {
		t.Errorf("no metadata: %v", err)
	}
	m2, _, err := Import(plain, "resnet20", Shape{3, 8, 8})
	if err != nil {
		t.Fatal(err)
	}
	if m2.g.Classes != 5 {
		t.Errorf("imported %d classes, want 5", m2.g.Classes)
	}
	if _, _, err := Import(plain, "lenet5", Shape{3, 8, 8}); err == nil {
		t.Error("importing a resnet20 file as lenet5 succeeded")
	}
	if _, _, err := Import(path, "mlp", Shape{3, 8, 8}); err == nil || !strings.Contains(err.Error(), "resnet20") {
		t.Errorf("metadata/arch conflict: %v", err)
	}
}

func TestParseShapeFloats(t *testing.T) {
	if s, err := ParseShape("3,32,32"); err != nil || s != (Shape{3, 32, 32}) {
		t.Errorf("ParseShape: %v %v", s, err)
	}
	if s, err := ParseShape("1x28x28"); err != nil || s != (Shape{1, 28, 28}) {
		t.Errorf("ParseShape x: %v %v", s, err)
	}
	for _, bad := range []string{"", "1,2", "1,2,0", "a,b,c", "1,2,3,4"} {
		if _, err := ParseShape(bad); err == nil {
			t.Errorf("ParseShape(%q) accepted", bad)
		}
	}
	if _, err := ParseFloats("1,x"); err == nil {
		t.Error("ParseFloats accepted a non-number")
	}
}

// FuzzLoadModel feeds mutated model files to the loader: it must return a
// model or an error, never panic or allocate without bound. The seeds are
// small (a few tensors of a LeNet-5 state dict with ccq metadata) so the
// fuzzer stays fast; complete files are covered by the tests above.
func FuzzLoadModel(f *testing.F) {
	g, _ := BuildGraph("lenet5", Shape{1, 12, 12}, 3)
	m, _ := NewModel(g, 1)
	sd := m.StateDict()
	md := GraphMetadata(g)
	for _, ts := range [][]safetensors.Tensor{sd[:2], sd[len(sd)-2:]} {
		b, err := safetensors.Encode(&safetensors.File{Metadata: md, Tensors: ts})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	md[MetaInput] = "1,4096,4096"
	md[MetaArch] = "resnet20"
	b, _ := safetensors.Encode(&safetensors.File{Metadata: md, Tensors: []safetensors.Tensor{
		safetensors.F32("layers.8.bn2.running_var", []int{64}, make([]float32, 64)),
		safetensors.I64("bn1.num_batches_tracked", []int{}, []int64{3}),
	}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := safetensors.Decode(data)
		if err != nil {
			return
		}
		g, err := GraphFromMetadata(file.Metadata)
		if err != nil {
			return
		}
		m, err := FromFile(file, g)
		if err != nil {
			return
		}
		if m.NumParams() == 0 {
			t.Error("loaded a model without parameters")
		}
	})
}
