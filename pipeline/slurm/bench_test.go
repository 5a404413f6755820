//go:build unix

package slurm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/pipeline/store"
)

// BenchmarkOverhead measures the scheduling overhead per stage of the
// Slurm executor against the local one (needs CCQ_SLURM_TEST=1 and a
// cluster, see realCluster). Each iteration runs, in a fresh store, a chain
// of 6 trivial stages and then 4 independent ones (one job array), and
// reports from the stages' manifests:
//
//	submit-start-ms  submission (Slurm: sbatch; local: before planning) to the first stage's start
//	end-start-ms     a stage's end to its dependent's start, mean over the chain
//	array-start-ms   submission to start of the 4 independent stages, mean
//
// Run: CCQ_SLURM_TEST=1 SLURM_CONF=... go test -run '^$' -bench Overhead -benchtime 3x ./pipeline/slurm
func BenchmarkOverhead(b *testing.B) {
	for _, name := range []string{"local", "slurm"} {
		b.Run(name, func(b *testing.B) {
			h := realCluster(b)
			var sumSubmit, sumEnd, sumArray float64
			for i := 0; i < b.N; i++ {
				dir := filepath.Join(h.dir, fmt.Sprint(name, i))
				st, err := store.Open(filepath.Join(dir, "store"))
				if err != nil {
					b.Fatal(err)
				}
				res, err := pipeline.OpenResults(filepath.Join(dir, "results", "exp"))
				if err != nil {
					b.Fatal(err)
				}
				var chain, fan []pipeline.Spec
				for k := 0; k < 6; k++ {
					var in map[string]string
					if k > 0 {
						in = map[string]string{"in": fmt.Sprint("chain/", k-1)}
					}
					chain = append(chain, spec(fmt.Sprint("chain/", k), "touch", map[string]any{"k": k}, in))
				}
				for k := 0; k < 4; k++ {
					fan = append(fan, spec(fmt.Sprint("fan/", k), "touch", map[string]any{"f": k}, nil))
				}
				begin := time.Now()
				run := func(specs []pipeline.Spec) *pipeline.Summary {
					g, err := pipeline.NewGraph(specs)
					if err != nil {
						b.Fatal(err)
					}
					p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: h.reg, Store: st})
					if err != nil {
						b.Fatal(err)
					}
					var ex pipeline.Executor = pipeline.NewLocal(2)
					if name == "slurm" {
						opt := realOptions(h)
						opt.PollMin, opt.PollMax = 50*time.Millisecond, 200*time.Millisecond
						if ex, err = slurm.New(opt); err != nil {
							b.Fatal(err)
						}
					}
					sum, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Registry: h.reg, Store: st, Results: res,
						Executor: ex, Settings: pipeline.Settings{Experiment: "exp"}})
					if err != nil {
						b.Fatal(err)
					}
					if sum.Outcome != "ok" {
						b.Fatal(sum.Err())
					}
					return sum
				}
				run(chain)
				chainSubmitted := begin
				if name == "slurm" {
					jf, err := slurm.ReadJobs(res.Dir)
					if err != nil {
						b.Fatal(err)
					}
					chainSubmitted = record(jf, "chain/0").Submitted
				}
				fanBegin := time.Now()
				run(fan)
				manifest := func(s pipeline.Spec) *store.Manifest {
					e, err := st.Lookup(s.Kind, keyOf(b, h, st, chain, fan, s.Name))
					if err != nil {
						b.Fatal(err)
					}
					return e.Manifest
				}
				submitted := func(stage string, fallback time.Time) time.Time {
					if name != "slurm" {
						return fallback
					}
					jf, err := slurm.ReadJobs(res.Dir)
					if err != nil {
						b.Fatal(err)
					}
					return record(jf, stage).Submitted
				}
				sumSubmit += manifest(chain[0]).Started.Sub(chainSubmitted).Seconds() * 1000
				for k := 1; k < len(chain); k++ {
					sumEnd += manifest(chain[k]).Started.Sub(manifest(chain[k-1]).Finished).Seconds() * 1000 / float64(len(chain)-1)
				}
				for _, s := range fan {
					sumArray += manifest(s).Started.Sub(submitted(s.Name, fanBegin)).Seconds() * 1000 / float64(len(fan))
				}
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(sumSubmit/float64(b.N), "submit-start-ms")
			b.ReportMetric(sumEnd/float64(b.N), "end-start-ms")
			b.ReportMetric(sumArray/float64(b.N), "array-start-ms")
		})
	}
}

// keyOf returns the key of a stage of chain or fan.
func keyOf(b *testing.B, h *harness, st *store.Store, chain, fan []pipeline.Spec, name string) string {
	for _, specs := range [][]pipeline.Spec{chain, fan} {
		g, err := pipeline.NewGraph(specs)
		if err != nil {
			b.Fatal(err)
		}
		p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: h.reg, Store: st})
		if err != nil {
			b.Fatal(err)
		}
		if sp := p.Stage(name); sp != nil {
			return sp.Key
		}
	}
	b.Fatalf("no stage %s", name)
	return ""
}
