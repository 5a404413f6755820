package experiment

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
)

var updateParams = flag.Bool("update", false, "rewrite testdata/params.golden (only when a change of the canonical parameters is intended)")

func TestExampleExpands(t *testing.T) {
	x, err := Load("testdata/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatal(err)
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, s := range g.Stages {
		count[s.Kind]++
	}
	// quantize: rtn 2 bits x 1 gran + mse 2 bits x 2 grans = 6
	// evolve: ccea 2 (group_size) x 2 bits x 3 seeds = 12, random 1
	want := map[string]int{"dataset": 1, "pretrain": 1, "quantize": 6, "evolve": 13, "evaluate": 1 + 6 + 13, "report": 1}
	if !reflect.DeepEqual(count, want) {
		t.Fatalf("kinds %v, want %v", count, want)
	}
	if !reflect.DeepEqual(x.Count(), want) {
		t.Fatalf("Count() %v, want %v", x.Count(), want)
	}
	s := g.Stage("evolve/ccea-group_size=1000-w2-s3")
	if s == nil {
		var names []string
		for _, s := range g.Stages {
			names = append(names, s.Name)
		}
		t.Fatalf("missing evolve stage; have %v", names)
	}
	if got := s.Params.String(); got != `{"act_bits":32,"bits":2,"budget":{"evaluations":5000,"wall_time":"30m0s"},"plugin":"ccea","plugin_params":{"group_size":1000,"lambda":32},"seed":3}` {
		t.Errorf("evolve params %s", got)
	}
	if s.Inputs["start"] != "quantize/mse-w2-tensor-a32" || s.Inputs["dataset"] != "dataset/mnist" {
		t.Errorf("evolve inputs %v", s.Inputs)
	}
	if w := s.Where("plugin_params.group_size"); w != "testdata/example.toml:43" {
		t.Errorf("origin of group_size: %q", w)
	}
	q := g.Stage("quantize/mse-w4-channel-a32")
	if q == nil || q.Params.String() != `{"act_bits":32,"bits":4,"granularity":"channel","method":"mse","method_params":{"calib_size":512}}` {
		t.Fatalf("quantize stage %+v", q)
	}
	if g.Stage("evolve/random-w4-s1").Inputs["start"] != "quantize/rtn-w4-tensor-a32" {
		t.Error("random's start")
	}
	r := g.Stage("report")
	if len(r.Inputs) != 20+13 || r.Inputs["evaluate/float"] != "evaluate/float" {
		t.Errorf("report inputs: %d", len(r.Inputs))
	}
	if got := r.Params.String(); got != `{"experiment":"example","reference":"rtn"}` {
		t.Errorf("report params %s", got)
	}
	if x.Executor.Kind != "local" || x.Executor.Jobs != 2 || x.Executor.Slurm.CPUsPerStage != 2 {
		t.Errorf("executor %+v", x.Executor)
	}
	pt := g.Stage("pretrain/lenet5")
	if pt.Params.String() != `{"batch_size":64,"epochs":2,"lr":0.01,"model":"lenet5","schedule":"cosine","seed":1}` {
		t.Errorf("pretrain params %s", pt.Params)
	}
}

// errorsOf parses src and returns its errors as "line key: msg" strings.
func errorsOf(t *testing.T, src string) []string {
	t.Helper()
	_, err := Parse("x.toml", []byte(src))
	if err == nil {
		return nil
	}
	es, ok := err.(Errors)
	if !ok {
		t.Fatalf("error of type %T: %v", err, err)
	}
	var out []string
	for _, e := range es {
		if e.File != "x.toml" {
			t.Errorf("error without the file: %v", e)
		}
		out = append(out, e.Error())
	}
	return out
}

const base = `
[dataset]
name = "mnist"

[pretrain]
model = "lenet5"
epochs = 1

[[quantize]]
method = "rtn"
bits = [2, 4]
`

func TestErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unknown top key", "colour = 1\n" + base, "x.toml:1: colour: unknown key"},
		{"unknown key in array table", base + "granularty = [\"tensor\"]\n", "x.toml:12: quantize.granularty: unknown key (expected one of: label, method, bits, granularity, act_bits, params)"},
		{"unknown dataset key", strings.Replace(base, `name = "mnist"`, "name = \"mnist\"\nsplit = 3", 1), "x.toml:4: dataset.split: unknown key"},
		{"bits out of range", strings.Replace(base, "bits = [2, 4]", "bits = [2, 9]", 1), "x.toml:11: quantize[0].bits: 9 is outside 1..8"},
		{"bits zero", strings.Replace(base, "bits = [2, 4]", "bits = [0]", 1), "x.toml:11: quantize[0].bits: 0 is outside 1..8"},
		{"no bits", strings.Replace(base, "bits = [2, 4]", "bits = []", 1), "x.toml:11: quantize[0].bits: needs at least one value"},
		{"wrong type", strings.Replace(base, "bits = [2, 4]", `bits = "four"`, 1), "x.toml:11: quantize.bits: incompatible types"},
		{"bad granularity", base + "granularity = [\"row\"]\n", `x.toml:12: quantize[0].granularity: granularity "row": expected "tensor" or "channel"`},
		{"syntax", base + "bits = [2,\n", "x.toml:"},
		{"start unknown", base + "[[optimizers]]\nplugin = \"ccea\"\nstart = \"mse\"\nseeds = [1]\nbudget = { evaluations = 10 }\n",
			`x.toml:14: optimizers[0].start: "mse" is not a listed quantizer (listed: rtn)`},
		{"empty seeds", base + "[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nseeds = []\nbudget = { evaluations = 10 }\n",
			"x.toml:15: optimizers[0].seeds: needs at least one seed"},
		{"bits not quantized", base + "[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nbits = [3]\nseeds = [1]\nbudget = { evaluations = 10 }\n",
			`x.toml:15: optimizers[0].bits: 3-bit start models do not exist: quantizer "rtn" lists bits [2 4]`},
		{"no budget", base + "[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nseeds = [1]\n", "x.toml:12: optimizers[0]: needs a budget"},
		{"bad wall time", base + "[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nseeds = [1]\nbudget = { wall_time = \"soon\" }\n",
			`x.toml:16: optimizers[0].budget.wall_time: "soon": expected a positive duration`},
		{"matrix scalar", base + "[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nseeds = [1]\nbudget = { evaluations = 1 }\n[optimizers.matrix]\nlambda = 3\n",
			"x.toml:18: optimizers[0].matrix.lambda: expected a non-empty list of values"},
		{"pin on builtin", base + "[[optimizers]]\nplugin = \"ccea\"\nsha256 = \"00\"\nstart = \"rtn\"\nseeds = [1]\nbudget = { evaluations = 1 }\n",
			"x.toml:14: optimizers[0].sha256: only a plugin given by path can be pinned"},
		{"duplicate quantizer", base + "[[quantize]]\nmethod = \"rtn\"\nbits = [3]\n", `x.toml:12: quantize[1]: quantizer "rtn" is listed twice`},
		{"ambiguous start", base + "granularity = [\"tensor\", \"channel\"]\n[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nseeds = [1]\nbudget = { evaluations = 1 }\n",
			`x.toml:15: optimizers[0].start: quantizer "rtn" has several granularities`},
		{"from with training", strings.Replace(base, "epochs = 1", "epochs = 1\nfrom = \"m.safetensors\"", 1), "x.toml:7: pretrain.epochs: from = ... imports a trained model"},
		{"bad epochs", strings.Replace(base, "epochs = 1", "epochs = 0", 1), "x.toml:7: pretrain.epochs: expected an integer >= 1"},
		{"no model", strings.Replace(base, `model = "lenet5"`, "", 1), "x.toml:5: pretrain: needs model"},
		{"no dataset", strings.Replace(base, "[dataset]\nname = \"mnist\"", "", 1), "x.toml: dataset: [dataset] needs name"},
		{"bad reference", base + "[report]\nreference = \"mse\"\n", `x.toml:13: report.reference: "mse" is not a variant`},
		{"bad pair", base + "[report]\npairs = [[\"rtn\", \"nope\"]]\n", `x.toml:13: report.pairs[0]: "nope" is not a row of this experiment`},
		{"pair with itself", base + "[report]\npairs = [[\"rtn\", \"rtn\"]]\n", `x.toml:13: report.pairs[0]: "rtn" is paired with itself`},
		{"pairs not a list of pairs", base + "[report]\npairs = [\"rtn\"]\n", `x.toml:13: report.pairs[0]: expected a list of pairs`},
		{"bad executor", base + "[executor]\nkind = \"cloud\"\n", `x.toml:13: executor.kind: executor kind "cloud": expected "local" or "slurm"`},
		{"act bits", base + "act_bits = [16]\n", "x.toml:12: quantize[0].act_bits: 16 is outside 1..8 (32 means float activations)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := errorsOf(t, c.src)
			for _, e := range errs {
				if strings.HasPrefix(e, c.want) {
					return
				}
			}
			t.Fatalf("want an error starting %q, got %q", c.want, errs)
		})
	}
}

func TestDefaultsAndFrom(t *testing.T) {
	dir := t.TempDir()
	src := `
[dataset]
name = "fashion-mnist"
source = "data"
[pretrain]
model = "mlp"
from = "m/my model.safetensors"
[[quantize]]
method = "rtn"
bits = [2]
[[optimizers]]
plugin = "plugins/my-opt"
sha256 = "` + strings.Repeat("AB", 32) + `"
start = "rtn"
seeds = [1]
budget = { evaluations = 10 }
`
	path := filepath.Join(dir, "exp.toml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	x, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if x.Name != "exp" {
		t.Errorf("name %q", x.Name)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	by := map[string]pipeline.Spec{}
	for _, s := range specs {
		names = append(names, s.Name)
		by[s.Name] = s
	}
	sort.Strings(names)
	want := []string{"dataset/fashion-mnist", "evaluate/float", "evaluate/my-opt-w2-s1", "evaluate/rtn-w2-tensor-a32",
		"evolve/my-opt-w2-s1", "pretrain/from-my_model", "quantize/rtn-w2-tensor-a32", "report"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("stages %v", names)
	}
	if f := by["pretrain/from-my_model"].Files["from"]; f.Path != filepath.Join(dir, "m/my model.safetensors") {
		t.Errorf("from file %+v", f)
	}
	if by["pretrain/from-my_model"].Params.String() != `{"model":"mlp"}` {
		t.Errorf("pretrain params %s", by["pretrain/from-my_model"].Params)
	}
	if h := by["dataset/fashion-mnist"].Hints["source"]; h != filepath.Join(dir, "data") {
		t.Errorf("source hint %q", h)
	}
	ev := by["evolve/my-opt-w2-s1"]
	if ev.Files["plugin"].SHA256 != strings.Repeat("ab", 32) || ev.Files["plugin"].Path != filepath.Join(dir, "plugins/my-opt") {
		t.Errorf("plugin file %+v", ev.Files)
	}
}

func TestActBitsInNames(t *testing.T) {
	src := base + "act_bits = [32, 8]\n[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nbits = [4]\nseeds = [1]\nbudget = { evaluations = 1 }\n"
	x, err := Parse("x.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatal(err)
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		t.Fatal(err)
	}
	if s := g.Stage("evolve/ccea-w4-a8-s1"); s == nil || s.Inputs["start"] != "quantize/rtn-w4-tensor-a8" {
		t.Fatalf("act 8 evolve: %+v", s)
	}
	if s := g.Stage("evolve/ccea-w4-s1"); s == nil || s.Inputs["start"] != "quantize/rtn-w4-tensor-a32" {
		t.Fatalf("act 32 evolve: %+v", s)
	}
}

func TestLocator(t *testing.T) {
	src := `# comment = 1
name = "x" # trailing
[a]
b = 1
list = [
  1,
  2, # ] not closing
]
after = 2
text = """
fake = 3
"""
[[arr]]
k = 1
[arr.sub]
z = { p = 1, q = [1, 2] }
[[arr]]
k = 2
"quoted.key" = 3
`
	l := newLocator([]byte(src))
	for path, want := range map[string]int{"name": 2, "a": 3, "a.b": 4, "a.list": 5, "a.after": 9, "a.text": 10, "a.fake": 3,
		"arr[0]": 13, "arr[0].k": 14, "arr[0].sub": 15, "arr[0].sub.z": 16, "arr[0].sub.z.q": 16, "arr[1].k": 18,
		"arr.k": 14, "arr[1].quoted.key": 19, "nothing": 0, "arr[1].missing": 17} {
		if got := l.line(path); got != want {
			t.Errorf("line(%s) = %d, want %d", path, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("testdata/example.toml")
	f.Add(b)
	b, _ = os.ReadFile("testdata/params.toml")
	f.Add(b)
	f.Add([]byte(base))
	f.Add([]byte("[[optimizers]]\nplugin=\"x\"\n[optimizers.matrix]\na=[1,2]\nb=[\"x\",\"y\"]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		x, err := Parse("f.toml", src)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		specs, err := x.Expand()
		if err != nil {
			return
		}
		if _, err := pipeline.NewGraph(specs); err != nil {
			t.Fatalf("a valid experiment gave an invalid graph: %v", err)
		}
	})
}

func TestHostOptionsAndLabels(t *testing.T) {
	dir := t.TempDir()
	src := `
[dataset]
name = "mnist"
[pretrain]
model = "lenet5"
[[quantize]]
method = "rtn"
bits = [2]
[[optimizers]]
name = "cc"
plugin = "ccea"
start = "rtn"
seeds = [1]
budget = { evaluations = 10 }
[optimizers.host]
validate_every = 5
[optimizers.matrix]
"host.batch_size" = [256, 512]
lambda = [8]
`
	path := filepath.Join(dir, "exp.toml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	x, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		if s.Kind == KindEvolve {
			got = append(got, s.Name+" "+s.Params.String())
		}
	}
	want := []string{
		`evolve/cc-host.batch_size=256-lambda=8-w2-s1 {"act_bits":32,"batch_size":256,"bits":2,"budget":{"evaluations":10},"label":"cc","plugin":"ccea","plugin_params":{"lambda":8},"seed":1,"validate_every":5}`,
		`evolve/cc-host.batch_size=512-lambda=8-w2-s1 {"act_bits":32,"batch_size":512,"bits":2,"budget":{"evaluations":10},"label":"cc","plugin":"ccea","plugin_params":{"lambda":8},"seed":1,"validate_every":5}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("evolve stages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A host option may not override what the experiment sets itself.
	bad := strings.Replace(src, "validate_every = 5", "bits = 3", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if x, err = Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Expand(); err == nil || !strings.Contains(err.Error(), "optimizers[0].host.bits") {
		t.Fatalf("want an error naming optimizers[0].host.bits, got %v", err)
	}
}

// TestRepeatedOptimizerName: one optimizer name may cover selected
// (bits, act_bits) pairs over several entries, one row per method in the
// report; any other repetition is refused with the entry and what differs.
func TestRepeatedOptimizerName(t *testing.T) {
	wa := base + "act_bits = [4, 8]\n" +
		"[[quantize]]\nlabel = \"rtn3\"\nmethod = \"rtn\"\nbits = [3]\nact_bits = [3]\n" +
		"[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nbits = [4]\nseeds = [1, 2]\nbudget = { evaluations = 10 }\nparams = { alpha = 0.3 }\n" +
		"[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn3\"\nseeds = [1, 2]\nbudget = { evaluations = 10 }\nparams = { alpha = 0.3 }\n"
	x, err := Parse("x.toml", []byte(wa))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatal(err)
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		t.Fatal(err)
	}
	for name, start := range map[string]string{
		"evolve/ccea-w4-a4-s1": "quantize/rtn-w4-tensor-a4",
		"evolve/ccea-w4-a8-s2": "quantize/rtn-w4-tensor-a8",
		"evolve/ccea-w3-a3-s1": "quantize/rtn3-w3-tensor-a3",
	} {
		if s := g.Stage(name); s == nil || s.Inputs["start"] != start {
			t.Errorf("%s: %+v, want start %s", name, s, start)
		}
	}
	if g.Stage("evolve/ccea-w3-a4-s1") != nil || g.Stage("evolve/ccea-w2-a4-s1") != nil {
		t.Error("stages outside the listed pairs")
	}
	cases := []struct{ name, from, to, want string }{
		{"other params", "params = { alpha = 0.3 }\n\n", "params = { alpha = 0.4 }\n\n", `optimizers[1]: optimizer name "ccea" used twice, but optimizers[0] has another params`},
		{"other plugin", "plugin = \"ccea\"\nstart = \"rtn3\"", "plugin = \"eda\"\nname = \"ccea\"\nstart = \"rtn3\"", "optimizers[0] has another plugin"},
		{"other seeds", "start = \"rtn3\"\nseeds = [1, 2]", "start = \"rtn3\"\nseeds = [1]", "optimizers[0] has another seeds"},
		{"same pair twice", "start = \"rtn\"\nbits = [4]", "start = \"rtn3\"\nbits = [3]", `optimizers[1]: optimizer name "ccea": bits 3 with act_bits 3 are already run by optimizers[0]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(wa+"\n", c.from, c.to, 1)
			if src == wa+"\n" {
				t.Fatalf("replacement %q not found", c.from)
			}
			errs := errorsOf(t, src)
			for _, e := range errs {
				if strings.Contains(e, c.want) {
					return
				}
			}
			t.Fatalf("want an error containing %q, got %q", c.want, errs)
		})
	}
}

// TestBudgetGenerations checks that a generations bound reaches the evolve
// stage's parameters, alone or with the others.
func TestBudgetGenerations(t *testing.T) {
	src := base + "[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nseeds = [1]\nbits = [2]\nbudget = { generations = 40, wall_time = \"2h\" }\n"
	x, err := Parse("x.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Name == "evolve/ccea-w2-s1" {
			want := `{"act_bits":32,"bits":2,"budget":{"generations":40,"wall_time":"2h0m0s"},"plugin":"ccea","seed":1}`
			if got := s.Params.String(); got != want {
				t.Errorf("evolve params %s, want %s", got, want)
			}
			return
		}
	}
	t.Fatal("no evolve stage")
}

// TestExpandErrorsNameFileLineAndKey: a bad key or value of an open table
// is found when the stage parameters are built, at its line and TOML path.
func TestExpandErrorsNameFileLineAndKey(t *testing.T) {
	opt := base + "[[optimizers]]\nplugin = \"ccea\"\nstart = \"rtn\"\nseeds = [1, 2]\nbudget = { evaluations = 10 }\n"
	cases := []struct {
		name, src, want string
	}{
		{"unknown pretrain key", strings.Replace(base, "epochs = 1", "epochs = 1\nmomentun = 0.9", 1), "x.toml:8: pretrain.momentun: unknown parameter"},
		{"pretrain type", strings.Replace(base, "epochs = 1", "epochs = 1\nnesterov = 1", 1), "x.toml:8: pretrain.nesterov: expected bool, got a JSON number"},
		{"unknown method param", base + "[quantize.params]\ngrid = 3\n", "x.toml:13: quantize[0].params.grid: unknown parameter"},
		{"method param range", base + "[quantize.params]\npercentile = 101.5\n", "x.toml:13: quantize[0].params.percentile: expected a percentile in (0, 100]"},
		{"host option", opt + "[optimizers.host]\nbatch_size = \"all\"\n", "x.toml:18: optimizers[0].host.batch_size: expected int, got a JSON string"},
		{"unknown host option", opt + "[optimizers.host]\nbatchsize = 5\n", "x.toml:18: optimizers[0].host.batchsize: unknown parameter"},
		{"host option range", opt + "[optimizers.host]\nselect = \"best\"\n", `x.toml:18: optimizers[0].host.select: "best": expected "final" or "best-validation"`},
		{"host option in matrix", opt + "[optimizers.matrix]\n\"host.race_z\" = [2, 3]\n", `x.toml:12: optimizers[0].host.race: race_fraction, race_z and race_keep need race = "z"`},
		{"host option type in matrix", opt + "[optimizers.matrix]\n\"host.batch_size\" = [\"a\"]\n", "x.toml:18: optimizers[0].matrix.host.batch_size: expected int, got a JSON string"},
		{"reserved host option", opt + "[optimizers.host]\nseed = 5\n", "x.toml:17: optimizers[0].host.seed: is set by the experiment itself"},
		{"evaluate", base + "[evaluate]\nbatch = -2\n", "x.toml:13: evaluate.batch: must be >= 0"},
		{"report", base + "[report]\nalpha = 2.0\n", "x.toml:13: report.alpha: expected a significance level in (0, 1)"},
		{"report experiment", base + "[report]\nexperiment = \"other\"\n", "x.toml:13: report.experiment: is set by the experiment itself"},
	}
	for _, c := range cases {
		x, err := Parse("x.toml", []byte(c.src))
		if err != nil {
			t.Errorf("%s: parse: %v", c.name, err)
			continue
		}
		_, err = x.Expand()
		es, ok := err.(Errors)
		if !ok || len(es) != 1 || !strings.HasPrefix(es[0].Error(), c.want) {
			t.Errorf("%s: got %v\nwant one error starting %q", c.name, err, c.want)
		}
	}
}

// TestParamsGolden: testdata/params.toml sets every optional stage
// parameter; each stage's canonical parameters (which enter its store
// key) must stay those of testdata/params.golden, generated by the
// expansion before it built typed parameter structs.
func TestParamsGolden(t *testing.T) {
	x, err := Load("testdata/params.toml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range specs {
		b.WriteString(s.Name + " " + s.Params.String() + "\n")
	}
	if *updateParams {
		if err := os.WriteFile("testdata/params.golden", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/params.golden")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(b.String(), "\n")
	for i, w := range strings.Split(string(want), "\n") {
		if i >= len(got) || got[i] != w {
			g := ""
			if i < len(got) {
				g = got[i]
			}
			t.Errorf("line %d:\n got  %s\n want %s", i+1, g, w)
		}
	}
	if len(got) != len(strings.Split(string(want), "\n")) {
		t.Errorf("%d lines, want %d", len(got), len(strings.Split(string(want), "\n")))
	}
}
