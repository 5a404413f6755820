// Package experiments_test checks every experiment file in this folder the
// way `ccq validate` and `ccq plan` do, through the packages (no binary, no
// training): each file loads, expands, passes every built-in stage kind's
// parameter checks, names only parameters the built-in optimizers know, and
// plans with no stage blocked. A broken experiment file fails `go test ./...`.
package experiments_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/experiment"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/ccq-project/ccq/plugins/builtin"
	_ "github.com/ccq-project/ccq/stages/all" // the built-in stage kinds
)

// expected lists the files issues 8 and 14 ask for; more may exist.
var expected = []string{
	"quickstart.toml", "mnist.toml", "mnist-mlp.toml", "fashion.toml", "fashion-mlp.toml",
	"paper-resnet20-cifar10.toml", "ablation-grouping.toml", "ablation-population.toml",
	"ablation-budget.toml", "ablation-batch.toml",
	"paper-grouping.toml", "mnist-wa.toml", "fashion-wa.toml",
}

func files(t *testing.T) []string {
	t.Helper()
	fs, err := filepath.Glob("*.toml")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fs {
		have[f] = true
	}
	for _, f := range expected {
		if !have[f] {
			t.Errorf("experiments/%s is missing", f)
		}
	}
	return fs
}

// session loads a file with overrides the way ccq run/plan/validate do.
func session(t *testing.T, file string, sets []string) *workspace.Session {
	t.Helper()
	x, err := experiment.LoadWithOverrides(file, sets)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	specs, err := x.Expand()
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	dir := t.TempDir()
	return &workspace.Session{Exp: x, Graph: g, Registry: pipeline.DefaultRegistry,
		Loc: workspace.Locations{ResultsRoot: dir, Store: filepath.Join(dir, ".store"), DataDir: filepath.Join(dir, "data")}}
}

// plan checks a session like ccq validate and plans it like ccq plan.
func plan(t *testing.T, file string, s *workspace.Session) *pipeline.Plan {
	t.Helper()
	for _, e := range s.Check(context.Background(), nil).Errors {
		t.Errorf("%s: %s", file, e)
	}
	st, err := s.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Plan(st, workspace.PlanFlags{})
	if err != nil {
		t.Fatalf("%s: plan: %v", file, err)
	}
	var notRun []string
	for _, sp := range p.Stages {
		if sp.Status != pipeline.StatusToRun {
			notRun = append(notRun, sp.Name+" is "+string(sp.Status)+": "+sp.Reason)
		}
	}
	if n := len(notRun); n > 0 {
		if n > 3 {
			notRun = append(notRun[:3], "...")
		}
		t.Errorf("%s: %d stages would not run in an empty store:\n%s", file, n, strings.Join(notRun, "\n"))
	}
	return p
}

var runLine = regexp.MustCompile(`ccq run (\S+/)?experiments/([A-Za-z0-9._-]+\.toml)`)

func TestEveryExperimentValidatesAndPlans(t *testing.T) {
	for _, f := range files(t) {
		t.Run(f, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// The leading comment says what the file measures, its cost and
			// the command that runs it.
			var head []string
			for _, l := range strings.Split(string(src), "\n") {
				if !strings.HasPrefix(l, "#") {
					break
				}
				head = append(head, l)
			}
			comment := strings.Join(head, "\n")
			if len(head) < 3 {
				t.Errorf("%s does not start with a comment saying what it measures, what it costs and how to run it", f)
			}
			if !strings.Contains(strings.ToLower(comment), "cost") {
				t.Errorf("%s: the leading comment gives no cost", f)
			}
			if m := runLine.FindStringSubmatch(comment); m == nil || m[2] != f {
				t.Errorf("%s: the leading comment has no `ccq run experiments/%s` line (found %q)", f, f, m)
			}
			s := session(t, f, nil)
			if s.Exp.Name != strings.TrimSuffix(f, ".toml") {
				t.Errorf("%s: name %q differs from the file name, so its results folder is hard to find", f, s.Exp.Name)
			}
			p := plan(t, f, s)
			checkPluginParams(t, f, p)
			checkEstimates(t, f, p)
		})
	}
}

// checkEstimates: every stage of the file gets an estimate from the cost
// model (the reference table: nothing is probed), and each evolve stage's
// estimate grows with its budget.
func checkEstimates(t *testing.T, file string, p *pipeline.Plan) {
	t.Helper()
	for _, sp := range p.Stages {
		if sp.Estimate <= 0 {
			t.Errorf("%s: %s has no estimate", file, sp.Name)
		}
	}
}

// checkPluginParams checks every evolve stage's plugin parameters against
// the parameters the built-in optimizer declares (names and types, as in
// optimizer.Param), which
// the evolve stage itself only sees when the run starts.
func checkPluginParams(t *testing.T, file string, p *pipeline.Plan) {
	t.Helper()
	infos := map[string]map[string]string{}
	reported := map[string]bool{}
	for _, sp := range p.Stages {
		if sp.Kind != experiment.KindEvolve {
			continue
		}
		var ep struct {
			Plugin       string         `json:"plugin"`
			PluginParams map[string]any `json:"plugin_params"`
		}
		decodePart(t, sp.Params, &ep)
		if !builtin.IsBuiltin(ep.Plugin) {
			continue
		}
		decl, ok := infos[ep.Plugin]
		if !ok {
			o, err := builtin.New(ep.Plugin)
			if err != nil {
				t.Fatal(err)
			}
			info, err := o.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			decl = map[string]string{}
			for _, pr := range info.Params {
				decl[pr.Name] = pr.Type
			}
			infos[ep.Plugin] = decl
		}
		for k, v := range ep.PluginParams {
			if reported[ep.Plugin+"."+k] {
				continue
			}
			typ, ok := decl[k]
			if !ok {
				reported[ep.Plugin+"."+k] = true
				t.Errorf("%s: %s: %s has no parameter %q", file, sp.Name, ep.Plugin, k)
				continue
			}
			if !fits(typ, v) {
				t.Errorf("%s: %s: %s.%s = %v, expected %s", file, sp.Name, ep.Plugin, k, v, typ)
			}
		}
	}
}

// decodePart decodes the parameters v names, ignoring the others (the
// stage kinds' own Decode rejects unknown keys).
func decodePart(t *testing.T, p pipeline.Params, v any) {
	t.Helper()
	if err := json.Unmarshal(p.JSON(), v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

func fits(typ string, v any) bool {
	switch typ {
	case "int":
		f, ok := v.(float64)
		if n, isNum := v.(json.Number); isNum {
			g, err := n.Float64()
			f, ok = g, err == nil
		}
		if i, isInt := v.(int64); isInt {
			f, ok = float64(i), true
		}
		return ok && f == math.Trunc(f)
	case "float":
		switch v.(type) {
		case float64, int64, json.Number:
			return true
		}
		return false
	case "string":
		_, ok := v.(string)
		return ok
	case "bool":
		_, ok := v.(bool)
		return ok
	}
	return true
}

// ciOverrides are the --set flags of .ci/quickstart (keep them in sync).
var ciOverrides = []string{
	"optimizers[*].budget.evaluations=400",
	"pretrain.epochs=1",
	"pretrain.train_limit=20000",
}

func TestQuickstartCIOverridesPlan(t *testing.T) {
	s := session(t, "quickstart.toml", ciOverrides)
	p := plan(t, "quickstart.toml", s)
	var budgets, pretrains int
	for _, sp := range p.Stages {
		switch sp.Kind {
		case experiment.KindEvolve:
			var ep struct {
				Budget struct {
					Evaluations int64 `json:"evaluations"`
				} `json:"budget"`
			}
			decodePart(t, sp.Params, &ep)
			if ep.Budget.Evaluations != 400 {
				t.Errorf("%s: budget %d, want 400", sp.Name, ep.Budget.Evaluations)
			}
			budgets++
		case experiment.KindPretrain:
			var pp struct {
				Epochs     int `json:"epochs"`
				TrainLimit int `json:"train_limit"`
			}
			decodePart(t, sp.Params, &pp)
			if pp.Epochs != 1 || pp.TrainLimit != 20000 {
				t.Errorf("pretrain %+v", pp)
			}
			pretrains++
		}
	}
	if budgets == 0 || pretrains != 1 {
		t.Errorf("%d evolve stages, %d pretrain stages", budgets, pretrains)
	}
	if !strings.Contains(string(s.Exp.Source), "--set pretrain.epochs=1") {
		t.Error("the overrides are not recorded in the experiment source")
	}
}

// checkShared plans base and each other file and checks that the listed
// stages have the same keys in both (one store entry).
func checkShared(t *testing.T, base string, shared map[string][]string) {
	t.Helper()
	keys := func(f string) map[string]string {
		p := plan(t, f, session(t, f, nil))
		m := map[string]string{}
		for _, sp := range p.Stages {
			m[sp.Name] = sp.Key
		}
		return m
	}
	want := keys(base)
	for f, stages := range shared {
		got := keys(f)
		for _, name := range stages {
			if want[name] == "" || got[name] != want[name] {
				t.Errorf("%s: %s has key %q, %s %q: not shared", f, name, got[name], base, want[name])
			}
		}
	}
}

// The MNIST LeNet-5 experiments share one pretrained model and, where their
// parameters agree, quantize and evolve stages: same keys, one store entry.
func TestMNISTLeNet5Shared(t *testing.T) {
	checkShared(t, "mnist.toml", map[string][]string{
		"ablation-grouping.toml":   {"pretrain/lenet5", "quantize/rtn-w3-tensor-a32", "quantize/mse-w3-tensor-a32", "evolve/ccea-w3-s1", "evolve/eda-w2-s5", "evolve/ccea-rtn-w2-s1"},
		"ablation-population.toml": {"pretrain/lenet5", "quantize/mse-w3-tensor-a32", "evolve/ccea-w3-s1", "evolve/ccea-w3-s5"},
		"ablation-budget.toml":     {"pretrain/lenet5", "quantize/rtn-w3-tensor-a32"},
		"ablation-batch.toml":      {"pretrain/lenet5", "quantize/mse-w3-tensor-a32", "evolve/ccea-w3-s2", "evolve/mutation-ea-w3-s3"},
		"mnist-wa.toml":            {"pretrain/lenet5"},
	})
}

// The Fashion-MNIST LeNet-5 files share fashion.toml's pretrained model,
// its mse start points and (batch, select, race) its default ccea runs;
// paper-grouping shares its rtn and mse starts and seeds 1-5 of its tuned
// ccea, ccea-random and ccea-rtn runs.
func TestFashionLeNet5Shared(t *testing.T) {
	checkShared(t, "fashion.toml", map[string][]string{
		"paper-grouping.toml": {"pretrain/lenet5", "quantize/rtn-w2-tensor-a32", "quantize/rtn-w3-tensor-a32",
			"quantize/mse-w2-tensor-a32", "quantize/mse-w3-tensor-a32", "evolve/ccea-w2-s1", "evolve/ccea-random-w3-s5",
			"evolve/ccea-rtn-w2-s4", "evolve/ccea-rtn-w3-s1"},
		"fashion-wa.toml":     {"pretrain/lenet5"},
		"fashion-long.toml":   {"pretrain/lenet5", "quantize/mse-w2-tensor-a32", "quantize/mse-w4-tensor-a32"},
		"fashion-batch.toml":  {"pretrain/lenet5", "quantize/mse-w3-tensor-a32", "evolve/ccea-w2-s1", "evolve/ccea-w4-s5"},
		"fashion-select.toml": {"pretrain/lenet5", "quantize/mse-w3-tensor-a32", "evolve/ccea-w3-s3"},
		"ablation-race.toml": {"pretrain/lenet5", "quantize/mse-w2-tensor-a32", "quantize/mse-w3-tensor-a32",
			"evolve/ccea-w2-s1", "evolve/ccea-w3-s5"},
	})
}

// TestRaceFilePlansOneThreadPerStage: ablation-race.toml sets [executor]
// jobs = 1, so the local executor runs every stage on one thread; planned
// with that executor's sizing (as ccq plan and ccq run do), every stage is
// estimated on one thread, a 30 s wall-time budget that caps its run is 30
// s of wall and of CPU time (not once per thread the evolve kind asks
// for), and the CPU time is the sum of the estimates.
func TestRaceFilePlansOneThreadPerStage(t *testing.T) {
	const f = "ablation-race.toml"
	s := session(t, f, nil)
	if s.Exp.Executor.Jobs != 1 {
		t.Fatalf("%s: [executor] jobs = %d, this test is about 1", f, s.Exp.Executor.Jobs)
	}
	st, err := s.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Plan(st, workspace.PlanFlags{Threads: pipeline.NewLocal(s.Exp.Executor.Jobs).StageThreads})
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	walls := 0
	for _, sp := range p.Stages {
		if sp.Status != pipeline.StatusToRun || sp.Threads != 1 || sp.Estimate <= 0 {
			t.Errorf("%s: %s on %d threads, estimate %v; want to run on 1 thread with an estimate", sp.Name, sp.Status, sp.Threads, sp.Estimate)
		}
		sum += sp.Estimate
		if sp.Kind != experiment.KindEvolve {
			continue
		}
		var ep struct {
			Budget struct {
				WallTime pipeline.Duration `json:"wall_time"`
			} `json:"budget"`
		}
		decodePart(t, sp.Params, &ep)
		if w := time.Duration(ep.Budget.WallTime); w > 0 {
			walls++
			if sp.Estimate != w {
				t.Errorf("%s: estimate %v, want its wall-time budget %v", sp.Name, sp.Estimate, w)
			}
		}
	}
	if walls == 0 {
		t.Errorf("%s: no evolve stage with a wall-time budget", f)
	}
	if cpu, _, unknown := p.Work(); cpu != sum || unknown != 0 {
		t.Errorf("CPU time %v (%d unknown), want the sum of the 1-thread estimates %v", cpu, unknown, sum)
	}
}
