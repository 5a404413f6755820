package experiment

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	cases := []struct {
		key  string
		want []PathElem
	}{
		{"pretrain.epochs", []PathElem{{Key: "pretrain"}, {Key: "epochs"}}},
		{"optimizers[*].budget.evaluations", []PathElem{{Key: "optimizers"}, {IsIndex: true, All: true}, {Key: "budget"}, {Key: "evaluations"}}},
		{"quantize[1].bits[0]", []PathElem{{Key: "quantize"}, {IsIndex: true, Index: 1}, {Key: "bits"}, {IsIndex: true, Index: 0}}},
		{`optimizers[0].matrix."host.batch_size"`, []PathElem{{Key: "optimizers"}, {IsIndex: true}, {Key: "matrix"}, {Key: "host.batch_size"}}},
		{`a.'b c'.d-e_f`, []PathElem{{Key: "a"}, {Key: "b c"}, {Key: "d-e_f"}}},
		{`"q\"x"`, []PathElem{{Key: `q"x`}}},
	}
	for _, c := range cases {
		got, err := ParseKey(c.key)
		if err != nil {
			t.Errorf("%s: %v", c.key, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.key, got, c.want)
		}
		back, err := ParseKey(FormatKey(got))
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("%s: FormatKey %q does not parse back: %v", c.key, FormatKey(got), err)
		}
	}
	bad := map[string]string{
		"":               "empty KEY",
		"a.":             "ends with '.'",
		".a":             "expected a key",
		"a..b":           "expected a key",
		"a[":             "no closing ']'",
		"a[x]":           "expected [*] or a number",
		"a[-1]":          "expected [*] or a number",
		"a[+1]":          "expected [*] or a number",
		"a b":            "unexpected ' '",
		`a."b`:           "unterminated",
		"a]":             "unexpected ']'",
		"a[1]b":          "unexpected 'b'",
		"[0]":            "expected a key",
		"a[99999999999]": "expected [*] or a number",
	}
	for key, want := range bad {
		_, err := ParseKey(key)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKey(%q) = %v, want an error containing %q", key, err, want)
		}
	}
}

func TestParseValue(t *testing.T) {
	cases := map[string]any{
		"1":                    int64(1),
		"0.5":                  0.5,
		`"text"`:               "text",
		"true":                 true,
		"[1, 2]":               []any{int64(1), int64(2)},
		"{ evaluations = 3 }":  map[string]any{"evaluations": int64(3)},
		"cosine":               "cosine", // a bare word is a string
		"fashion-mnist":        "fashion-mnist",
		"models/a.safetensors": "models/a.safetensors",
	}
	for in, want := range cases {
		got, err := ParseValue(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", in, got, want)
		}
	}
	for _, in := range []string{"", "[1, 2", "1 2", "\"open", "1\nother = 2", "1\n[table]\nx = 1", "{a = 1"} {
		if v, err := ParseValue(in); err == nil {
			t.Errorf("ParseValue(%q) = %#v, want an error", in, v)
		}
	}
}

func TestParseOverrideErrorsNameTheKey(t *testing.T) {
	for in, want := range map[string]string{
		"pretrain.epochs":        "expected KEY=VALUE",
		"pretrain..epochs=1":     "--set pretrain..epochs=1",
		"pretrain.epochs=[1":     "--set pretrain.epochs: value:",
		"optimizers[x].seeds=[]": "index [x]",
	} {
		_, err := ParseOverride(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseOverride(%q) = %v, want an error containing %q", in, err, want)
		}
	}
	// A quoted key may contain '=' and the value may too.
	o, err := ParseOverride(`report."a=b"="x=y"`)
	if err != nil || o.Key != `report."a=b"` || o.Value != "x=y" || o.Path[1].Key != "a=b" {
		t.Fatalf("%+v %v", o, err)
	}
}

func overrideExample(t *testing.T, sets ...string) (*Experiment, error) {
	t.Helper()
	src, err := os.ReadFile("testdata/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	ovs, err := ParseOverrides(sets)
	if err != nil {
		t.Fatal(err)
	}
	return ParseWithOverrides("testdata/example.toml", src, ovs)
}

func TestOverridesChangeParams(t *testing.T) {
	x, err := overrideExample(t,
		"optimizers[*].budget.evaluations=300",
		"pretrain.epochs=1",
		"pretrain.train_limit=20000",
		"optimizers[*].seeds=[1]",
		"optimizers[0].params.lambda=16",
		`optimizers[0].matrix."host.batch_size"=[256, 512]`,
		"quantize[1].granularity=[\"channel\"]",
		"optimizers[0].start=mse",
		"report.reference=float",
	)
	if err != nil {
		t.Fatal(err)
	}
	if x.Pretrain["epochs"] != int64(1) || x.Pretrain["train_limit"] != int64(20000) || x.Pretrain["lr"] != 0.01 {
		t.Errorf("pretrain %v", x.Pretrain)
	}
	for i, o := range x.Optimizers {
		if o.Budget.Evaluations != 300 || !reflect.DeepEqual(o.Seeds, []int64{1}) {
			t.Errorf("optimizer %d: budget %+v seeds %v", i, o.Budget, o.Seeds)
		}
	}
	// The wall-time bound of optimizers[0] is untouched.
	if x.Optimizers[0].Budget.WallTime.String() != "30m0s" {
		t.Errorf("wall time %v", x.Optimizers[0].Budget.WallTime)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, s := range specs {
		names[s.Name] = s.Params.String()
	}
	// group_size x host.batch_size x 2 bits x 1 seed for ccea.
	want := `{"act_bits":32,"batch_size":512,"bits":2,"budget":{"evaluations":300,"wall_time":"30m0s"},"plugin":"ccea","plugin_params":{"group_size":100,"lambda":16},"seed":1}`
	if got := names["evolve/ccea-group_size=100-host.batch_size=512-w2-s1"]; got != want {
		t.Errorf("evolve params %s\nwant %s", got, want)
	}
	if _, ok := names["evolve/ccea-group_size=100-w2-s3"]; ok {
		t.Error("seed 3 still expanded")
	}
	if got := names["quantize/mse-w2-channel-a32"]; got == "" {
		t.Error("mse channel quantizer missing")
	}
	if _, ok := names["quantize/mse-w2-tensor-a32"]; ok {
		t.Error("mse tensor quantizer still expanded")
	}
	if !strings.Contains(string(x.Source), "#   --set optimizers[*].budget.evaluations=300\n") ||
		!strings.HasPrefix(string(x.Source), "# A complete ccq experiment") {
		t.Errorf("source does not record the overrides:\n%s", x.Source)
	}
	// Lines of untouched keys still point into the file.
	if w := x.Where("optimizers[1].plugin"); w != "testdata/example.toml:47" {
		t.Errorf("Where = %s", w)
	}
}

func TestOverrideToSameValueKeepsParams(t *testing.T) {
	plain, err := Load("testdata/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	over, err := overrideExample(t, "pretrain.epochs=2", `quantize[1].params.calib_size=512`, "optimizers[1].seeds=[1]")
	if err != nil {
		t.Fatal(err)
	}
	a, err := plain.Expand()
	if err != nil {
		t.Fatal(err)
	}
	b, err := over.Expand()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d stages vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Params.String() != b[i].Params.String() || !reflect.DeepEqual(a[i].Inputs, b[i].Inputs) {
			t.Errorf("stage %d: %s %s vs %s %s", i, a[i].Name, a[i].Params, b[i].Name, b[i].Params)
		}
		if !reflect.DeepEqual(a[i].Origin, b[i].Origin) {
			t.Errorf("stage %s: origins differ: %v vs %v", a[i].Name, a[i].Origin, b[i].Origin)
		}
	}
}

func TestOverrideErrors(t *testing.T) {
	cases := []struct {
		sets []string
		want []string // each must appear in the error text
	}{
		{[]string{"optimizers[5].seeds=[1]"}, []string{"--set optimizers[5].seeds", "index out of range", "optimizers has 2 element(s)"}},
		{[]string{"optimizer[*].seeds=[1]"}, []string{"--set optimizer[*].seeds", "optimizer does not exist"}},
		{[]string{"pretrain.model.x=1"}, []string{"pretrain.model is a string, not a table"}},
		{[]string{"pretrain[0]=1"}, []string{"pretrain is a table, not an array"}},
		{[]string{"evaluate.batch[*]=1"}, []string{"evaluate.batch is an integer, not an array"}},
		{[]string{"optimizers[0]=1"}, []string{"expected an inline table", "got an integer"}},
		{[]string{"optimizers[*].budget.evaluations=-1"}, []string{
			"testdata/example.toml: optimizers[0].budget.evaluations (--set optimizers[*].budget.evaluations): must be 1 or more",
			"testdata/example.toml: optimizers[1].budget.evaluations (--set optimizers[*].budget.evaluations): must be 1 or more"}},
		{[]string{`optimizers[*].budget.evaluations="x"`}, []string{"(--set optimizers[*].budget.evaluations): incompatible types"}},
		{[]string{"quantize[0].colour=1"}, []string{"(--set quantize[0].colour): unknown key"}},
		// Each error names the --set of its own index, not the first one.
		{[]string{"optimizers[0].seeds=[]", "optimizers[1].seeds=[]"}, []string{
			"optimizers[0].seeds (--set optimizers[0].seeds)", "optimizers[1].seeds (--set optimizers[1].seeds)"}},
		// An error elsewhere keeps its line in the file.
		{[]string{"quantize[0].bits=[2]"}, []string{"testdata/example.toml:49: optimizers[1].bits: 4-bit start models do not exist"}},
	}
	for _, c := range cases {
		_, err := overrideExample(t, c.sets...)
		if err == nil {
			t.Errorf("%v: no error", c.sets)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error\n%v\nwant it to contain %q", c.sets, err, w)
			}
		}
	}
	// Every bad --set is reported, not just the first.
	_, err := ParseOverrides([]string{"a", "b=", "c=1"})
	if err == nil || !strings.Contains(err.Error(), `--set "a"`) || !strings.Contains(err.Error(), "--set b: value: empty") {
		t.Errorf("ParseOverrides: %v", err)
	}
}

func TestOverridesDoNotShareValues(t *testing.T) {
	x, err := overrideExample(t, "optimizers[*].params={ lambda = 8 }")
	if err != nil {
		t.Fatal(err)
	}
	x.Optimizers[0].Params["lambda"] = int64(99)
	if x.Optimizers[1].Params["lambda"] != int64(8) {
		t.Errorf("[*] targets share one table: %v", x.Optimizers[1].Params)
	}
}

func TestLoadWithOverrides(t *testing.T) {
	x, err := LoadWithOverrides("testdata/example.toml", nil)
	if err != nil || x.Pretrain["epochs"] != int64(2) {
		t.Fatalf("no overrides: %v %v", x, err)
	}
	x, err = LoadWithOverrides("testdata/example.toml", []string{"pretrain.epochs=3"})
	if err != nil || x.Pretrain["epochs"] != int64(3) {
		t.Fatalf("%v %v", x, err)
	}
	if _, err := LoadWithOverrides("testdata/example.toml", []string{"nonsense"}); err == nil || !strings.Contains(err.Error(), "KEY=VALUE") {
		t.Errorf("bad override: %v", err)
	}
	if _, err := LoadWithOverrides("testdata/missing.toml", []string{"a=1"}); err == nil {
		t.Error("missing file: no error")
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"pretrain.epochs", "optimizers[*].budget.evaluations", `a."b.c"[0]`, `'x'.y[ 3 ]`, "a[", `"\u0041"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		path, err := ParseKey(key)
		if err != nil {
			return
		}
		if len(path) == 0 || path[0].IsIndex {
			t.Fatalf("%q: parsed to %+v", key, path)
		}
		text := FormatKey(path)
		back, err := ParseKey(text)
		if err != nil {
			t.Fatalf("%q: FormatKey gives %q, which does not parse: %v", key, text, err)
		}
		if !reflect.DeepEqual(back, path) {
			t.Fatalf("%q: %+v, after FormatKey %q: %+v", key, path, text, back)
		}
	})
}

func FuzzOverride(f *testing.F) {
	src, err := os.ReadFile("testdata/example.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("optimizers[*].budget.evaluations", "300")
	f.Add("quantize[1].params", "{ calib_size = 3 }")
	f.Add("optimizers[0].matrix.\"host.batch_size\"", "[1, 2]")
	f.Add("optimizers", "[]")
	f.Add("pretrain.model", "resnet20")
	f.Fuzz(func(t *testing.T, key, value string) {
		o, err := ParseOverride(key + "=" + value)
		if err != nil {
			return
		}
		x, err := ParseWithOverrides("example.toml", src, []Override{o})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		_, _ = x.Expand()
	})
}
