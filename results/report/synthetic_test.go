package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ccq-project/ccq/results"
)

// synth describes a synthetic experiment.
type synth struct {
	datasets    []string
	models      []string
	bits        []int32
	variants    []string
	seeds       int
	generations int
	valEvery    int
	lambda      int64
	partial     bool // leave one evolve run without an evaluated model and stages running
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// writeSynthetic fills dir with a deterministic synthetic experiment: float,
// rtn and mse baselines and the given optimizer variants, with generation
// parts, runs.parquet, stages.parquet, provenance.json and experiment.toml.
func writeSynthetic(tb testing.TB, dir string, s synth) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	var runs []results.RunRow
	var stages []results.StageRow
	variantGain := map[string]float64{}
	for i, v := range s.variants {
		variantGain[v] = 0.9 - 0.1*float64(i)
	}
	for _, ds := range s.datasets {
		for _, m := range s.models {
			runs = append(runs, results.RunRow{RunID: fmt.Sprintf("float-%s-%s", ds, m), Experiment: "synthetic",
				Method: "float", Kind: results.KindFloat, Parameters: "{}", Dataset: ds, Model: m, Bits: 32, ActBits: 32,
				Seed: 1, TestAcc: 0.99, TestLoss: 0.03, UsedFPGradients: true, Status: results.StatusOK})
			for _, b := range s.bits {
				start := 0.99 - 0.4/float64(b*b)
				for _, base := range []string{"rtn", "mse"} {
					acc := start
					if base == "mse" {
						acc += 0.02
					}
					runs = append(runs, results.RunRow{RunID: fmt.Sprintf("%s-%s-%s-%d", base, ds, m, b), Experiment: "synthetic",
						Method: base, Kind: results.KindBaseline, Parameters: "{}", Dataset: ds, Model: m, Bits: b, ActBits: 32,
						Granularity: "per-tensor", Seed: 1, TestAcc: acc, TestLoss: 1, Status: results.StatusOK})
				}
				for vi, v := range s.variants {
					for seed := 1; seed <= s.seeds; seed++ {
						id := fmt.Sprintf("%s-%s-%s-w%d-s%d", v, ds, m, b, seed)
						gain := variantGain[v] * (0.99 - start)
						final := start + gain*(1-math.Exp(-3)) + 0.004*rng.NormFloat64()
						skip := s.partial && vi == len(s.variants)-1 && seed == s.seeds
						w, err := results.NewGenerationWriter(filepath.Join(dir, results.GenerationsDir, id),
							results.GenerationWriterOptions{PartInterval: -1})
						if err != nil {
							tb.Fatal(err)
						}
						row := results.GenerationRow{RunID: id, Experiment: "synthetic", Variant: v, Dataset: ds, Model: m,
							Bits: b, ActBits: 32, Seed: int64(seed), PluginStats: map[string]float64{"group_size": 64, "frozen": 0.1}}
						for g := 0; g < s.generations; g++ {
							frac := float64(g+1) / float64(s.generations)
							row.Generation = int64(g)
							row.Evaluations = s.lambda * int64(g+1)
							row.WallTime = 0.01 * float64(g)
							row.BaseFitness = 2.3*math.Exp(-3*frac*variantGain[v]) + 0.2 + 0.05*rng.NormFloat64()
							row.BestFitness = row.BaseFitness - 0.05
							row.MeanFitness = row.BaseFitness + 0.1
							row.BaseBatchAccuracy = start + gain*(1-math.Exp(-3*frac))
							row.ValidationAccuracy = nil
							if s.valEvery > 0 && (g+1)%s.valEvery == 0 {
								row.ValidationAccuracy = results.Float64(row.BaseBatchAccuracy + 0.003*rng.NormFloat64())
							}
							row.Timestamp = t0.Add(time.Duration(g) * time.Second)
							if err := w.Write(row); err != nil {
								tb.Fatal(err)
							}
						}
						if err := w.Close(); err != nil {
							tb.Fatal(err)
						}
						status := results.StatusOK
						if skip {
							status = results.StatusRunning
						} else {
							runs = append(runs, results.RunRow{RunID: id, Experiment: "synthetic", Method: v, Kind: results.KindOptimizer,
								Parameters: `{"lambda":32}`, Dataset: ds, Model: m, Bits: b, ActBits: 32, Granularity: "per-tensor",
								Seed: int64(seed), TestAcc: final, TestLoss: 0.5, Evaluations: s.lambda * int64(s.generations),
								WallTime: 100, Status: results.StatusOK, StartMethod: results.String("mse")})
						}
						end := t0.Add(100 * time.Second)
						st := results.StageRow{Name: "evolve/" + id, Kind: "evolve", Key: id, Status: status, WallTime: 100,
							Started: t0, Threads: 1}
						if !skip {
							st.Ended = &end
						}
						stages = append(stages, st)
					}
				}
			}
		}
	}
	stages = append(stages, results.StageRow{Name: "pretrain", Kind: "pretrain", Key: "p", Status: results.StatusOK,
		Cached: true, Started: t0, Threads: 2})
	if err := results.WriteRuns(filepath.Join(dir, results.RunsFile), runs); err != nil {
		tb.Fatal(err)
	}
	if err := results.WriteStages(filepath.Join(dir, results.StagesFile), stages); err != nil {
		tb.Fatal(err)
	}
	status := results.StatusOK
	if s.partial {
		status = results.StatusRunning
	}
	prov := results.Provenance{Experiment: "synthetic", ExperimentFile: "experiments/synthetic.toml", CCQVersion: "0.1.0-dev",
		CCQCommit: "abc123", CCQModified: true, CCQCommitFrom: "git", ExperimentCommit: "def456", ExperimentModified: true,
		Command: []string{"ccq", "run", "experiments/synthetic.toml", "--set", "optimizers[*].seeds=[1]"}, Machine: results.Machine{Hostname: "testhost", OS: "linux", Arch: "amd64", CPUs: 2},
		Started: t0, Ended: t0.Add(time.Hour), WallTime: 3600, Status: status, Stages: len(stages), CacheHits: 1,
		StagesRun: len(stages) - 1}
	if err := results.WriteProvenance(filepath.Join(dir, results.ProvenanceFile), prov); err != nil {
		tb.Fatal(err)
	}
	toml := "name = \"synthetic\"\n# a <comment> & more\n[[optimizers]]\nplugin = \"ccea\"\n"
	if err := os.WriteFile(filepath.Join(dir, results.ExperimentCopy), []byte(toml), 0o644); err != nil {
		tb.Fatal(err)
	}
}
