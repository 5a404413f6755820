// Package examples_test builds and runs the example plugins through the
// host loop, as ccq would.
package examples_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/host"
	"github.com/ccq-project/ccq/plugins/internal/synth"
	"github.com/ccq-project/ccq/plugins/rpc"
)

var ctx = context.Background()

// synthEval scores on the synthetic problem.
type synthEval struct{ sp *synth.Problem }

func (e synthEval) Score(_ context.Context, req *host.ScoreRequest, res *host.ScoreResult) error {
	res.BaseFitness = e.sp.Score(req.Batch.Seed, req.Base, req.Candidates, res.Fitness)
	return nil
}

// exercise runs a plugin through the host: it must improve the synthetic
// loss, be deterministic, and resume exactly from a checkpoint.
func exercise(t *testing.T, spec rpc.Spec, params string) {
	t.Helper()
	sp := synth.New(300, 3, 0.3, 0.3, 5)
	open := func() *rpc.Plugin {
		p, err := rpc.Start(ctx, spec, rpc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	runOnce := func(cfg host.Config, c context.Context) ([]host.Row, *host.Result, error) {
		var rows []host.Row
		cfg.OnGeneration = func(_ context.Context, r *host.Row) error {
			x := *r
			x.Wall, x.GenTime, x.EvalTime = 0, 0, 0
			rows = append(rows, x)
			return nil
		}
		res, err := host.Run(c, open(), cfg)
		return rows, res, err
	}
	cfg := host.Config{Problem: sp.Optimizer(3, params), Evaluator: synthEval{sp}, Budget: host.Budget{Evaluations: 400}}
	a, ra, err := runOnce(cfg, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !(sp.TrueLoss(ra.Levels) < sp.TrueLoss(sp.Start)) {
		t.Errorf("no improvement: %v -> %v", sp.TrueLoss(sp.Start), sp.TrueLoss(ra.Levels))
	}
	b, rb, err := runOnce(cfg, ctx)
	if err != nil || !reflect.DeepEqual(a, b) || !slices.Equal(ra.Levels, rb.Levels) {
		t.Fatalf("two runs with one seed differ (%v)", err)
	}
	// Interrupt after generation 10, resume in a new process.
	cfg.CheckpointPath, cfg.Resume = filepath.Join(t.TempDir(), "ckpt"), true
	c, cancel := context.WithCancel(ctx)
	cfg.OnGeneration = nil
	cut := cfg
	cut.Evaluator = host.EvaluatorFunc(func(ectx context.Context, req *host.ScoreRequest, res *host.ScoreResult) error {
		if req.Generation == 10 {
			cancel()
		}
		return synthEval{sp}.Score(ectx, req, res)
	})
	if _, _, err := runOnce(cut, c); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	rest, rc, err := runOnce(cfg, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rc.ResumedFrom != 11 || !reflect.DeepEqual(rest, a[11:]) || !slices.Equal(rc.Levels, ra.Levels) {
		t.Fatalf("resumed run differs (resumed from %d)", rc.ResumedFrom)
	}
}

func TestGoExample(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH: cannot build the example")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, catalog.FilePrefix+"oneplusone")
	out, err := exec.Command(gobin, "build", "-o", exe, "./go-oneplusone").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	exercise(t, rpc.Spec{Name: "oneplusone", Path: exe}, `{"mutations": 3}`)
	// ccq finds it on the plugin path.
	r := &catalog.Resolver{Dirs: []string{dir}, Builtin: catalog.TestBinarySpec}
	var found bool
	for _, e := range r.List(ctx, rpc.Options{}) {
		if e.Name == "oneplusone" {
			found = e.Error == "" && e.Version == "0.1.0" && len(e.Params) == 1
		}
	}
	if !found {
		t.Fatal("the example is not listed from the plugin path")
	}
}

// pythonWithGRPC finds a Python 3 that can import grpc and protobuf.
func pythonWithGRPC() string {
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import grpc, google.protobuf").Run() == nil {
			return p
		}
	}
	return ""
}

func TestPythonExample(t *testing.T) {
	py := pythonWithGRPC()
	if py == "" {
		t.Skip("no python3 with grpcio and protobuf (Debian: apt-get install python3-grpcio python3-protobuf); the Python example is not exercised")
	}
	script, _ := filepath.Abs("python-mutation/plugin.py")
	spec := rpc.Spec{Name: "python-mutation", Path: py, Args: []string{script}}
	exercise(t, spec, `{"lambda": 6, "changes": 3}`)
	// Errors raised by the Python plugin come back as messages.
	p, err := rpc.Start(ctx, spec, rpc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sp := synth.New(50, 1, 0.3, 0.3, 5)
	if _, err := p.Init(ctx, sp.Optimizer(1, `{"lamda": 3}`)); err == nil || !strings.Contains(err.Error(), "unknown parameter 'lamda'") {
		t.Fatalf("bad params: %v", err)
	}
}
