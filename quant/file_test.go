package quant

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/safetensors"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, act := range []int{32, 4} {
		m, _ := testModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 3, act, PerChannel, 5)
		m.SourceDigest = "abc"
		m.Extra = map[string]string{"ccq.dataset": "fashion"}
		path := filepath.Join(t.TempDir(), "q.safetensors")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("act %d: loaded model differs from the saved one", act)
		}
	}
}

// mutate encodes a model, applies f to the file and decodes it again.
func mutate(t *testing.T, m *Model, f func(*safetensors.File)) error {
	t.Helper()
	file, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f(file)
	b, err := safetensors.Encode(file)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := safetensors.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(dec)
	return err
}

func TestDecodeRejects(t *testing.T) {
	m, _ := testModel(t, "mlp", nn.Shape{C: 1, H: 6, W: 6}, 2, 8, PerTensor, 5)
	cases := map[string]func(*safetensors.File){
		`tensor "fc2.weight_levels": level 3 at index 4 is outside the 2-bit range`: func(f *safetensors.File) {
			t, _ := f.Get("fc2.weight_levels")
			t.Data[4] = 3
		},
		`tensor "fc1.bias" is missing`: func(f *safetensors.File) {
			for i := range f.Tensors {
				if f.Tensors[i].Name == "fc1.bias" {
					f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
					break
				}
			}
		},
		`tensor "fc1.weight_levels" has shape [256 35]`: func(f *safetensors.File) {
			t, _ := f.Get("fc1.weight_levels")
			t.Shape = []int{256, 35}
			t.Data = t.Data[:256*35]
		},
		`tensor "fc3.weight_scale" has dtype F64`: func(f *safetensors.File) {
			t, _ := f.Get("fc3.weight_scale")
			*t = safetensors.F64(t.Name, []int{1}, []float64{1})
		},
		`metadata ccq.bits: bits 9`:        func(f *safetensors.File) { f.Metadata[MetaBits] = "9" },
		`metadata ccq.format is "float32"`: func(f *safetensors.File) { f.Metadata[MetaFormat] = "float32" },
		`metadata ccq.arch`:                func(f *safetensors.File) { f.Metadata[MetaArch] = "vgg" },
		`tensor "extra" is not part`: func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.U8("extra", []int{1}, []uint8{1}))
		},
		`tensor "fc1.act_scale" is missing`: func(f *safetensors.File) {
			f.Tensors = slices.DeleteFunc(f.Tensors, func(t safetensors.Tensor) bool { return t.Name == "fc1.act_scale" })
		},
		`layer "fc2": activation scale -1`: func(f *safetensors.File) {
			t, _ := f.Get("fc2.act_scale")
			*t = safetensors.F32(t.Name, []int{1}, []float32{-1})
		},
		`layer "fc1": scale 0 is 0, expected a positive`: func(f *safetensors.File) {
			t, _ := f.Get("fc1.weight_scale")
			*t = safetensors.F32(t.Name, []int{1}, []float32{0})
		},
	}
	for want, f := range cases {
		err := mutate(t, m, f)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error containing %q, got %v", want, err)
		}
	}
	if err := mutate(t, m, func(*safetensors.File) {}); err != nil {
		t.Errorf("unchanged file rejected: %v", err)
	}
}

func TestSaveInvalidWritesNothing(t *testing.T) {
	m, _ := testModel(t, "mlp", nn.Shape{C: 1, H: 6, W: 6}, 2, 32, PerTensor, 5)
	m.Layers[0].Levels[0] = 5
	dir := t.TempDir()
	if err := m.Save(filepath.Join(dir, "q.safetensors")); err == nil {
		t.Fatal("saved a model with a level outside its range")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files left behind: %v", ents)
	}
}

func FuzzDecode(f *testing.F) {
	m, _ := testModel(f, "mlp", nn.Shape{C: 1, H: 4, W: 4}, 3, 32, PerChannel, 5)
	m.ActBits = 8
	for i := range m.Layers {
		m.Layers[i].Act = ActQuant{Bits: 8, Signed: i == 0, Scale: 0.5}
	}
	file, err := m.Encode()
	if err != nil {
		f.Fatal(err)
	}
	b, err := safetensors.Encode(file)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := safetensors.Decode(data)
		if err != nil {
			return
		}
		m, err := Decode(file)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Decode returned an invalid model: %v", err)
		}
	})
}
