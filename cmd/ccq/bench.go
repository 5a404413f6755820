package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ccq-project/ccq/nn"
	"github.com/spf13/cobra"
)

// benchCmd is the parent of the benchmark commands; `ccq bench` alone
// measures model training and inference throughput, subcommands measure
// other parts (for example `ccq bench evaluator`).
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Measure training and inference throughput (subcommands measure other parts)",
	Long: `Measure the float32 engine's throughput per model on random data: training
(a full SGD step: forward, cross-entropy, backward, momentum update; batch 128)
and inference (eval-mode forward; batch 1024), in images per second, the
median of --reps timed repetitions of at least --min-time each. Inputs are
1x28x28 for mlp and lenet5 and 3x32x32 for resnet20, as in the PyTorch
comparison script scripts/pytorch/throughput.py (see scripts/pytorch/README.md).
The machine's other load affects the figures: compare only runs made back to
back.`,
	Args: cobra.NoArgs,
	RunE: runModelBench,
}

var benchFlags struct {
	models     string
	threads    int
	minTime    time.Duration
	reps       int
	trainBatch int
	inferBatch int
	asJSON     bool
}

func init() {
	rootCmd.AddCommand(benchCmd)
	f := benchCmd.Flags()
	f.StringVar(&benchFlags.models, "models", strings.Join(nn.Archs, ","), "comma-separated models to measure")
	f.IntVar(&benchFlags.threads, "threads", 0, "threads (default GOMAXPROCS)")
	f.DurationVar(&benchFlags.minTime, "min-time", time.Second, "minimum length of one timed repetition")
	f.IntVar(&benchFlags.reps, "reps", 3, "timed repetitions (the median is reported)")
	f.IntVar(&benchFlags.trainBatch, "train-batch", 128, "training batch size")
	f.IntVar(&benchFlags.inferBatch, "infer-batch", 1024, "inference batch size")
	f.BoolVar(&benchFlags.asJSON, "json", false, "print as JSON")
}

// benchReport is what `ccq bench` prints.
type benchReport struct {
	GOOS       string           `json:"goos"`
	GOARCH     string           `json:"goarch"`
	NumCPU     int              `json:"num_cpu"`
	GoMaxProcs int              `json:"gomaxprocs"`
	Results    []nn.BenchResult `json:"results"`
}

func runModelBench(cmd *cobra.Command, args []string) error {
	var models []string
	for _, m := range strings.Split(benchFlags.models, ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains(nn.Archs, m) {
			return fmt.Errorf("--models: unknown model %q (expected %s)", m, strings.Join(nn.Archs, ", "))
		}
		models = append(models, m)
	}
	rep := benchReport{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(), GoMaxProcs: runtime.GOMAXPROCS(0)}
	for _, m := range models {
		r, err := nn.Bench(cmd.Context(), m, nn.BenchOptions{Threads: benchFlags.threads, TrainBatch: benchFlags.trainBatch,
			InferBatch: benchFlags.inferBatch, MinTime: benchFlags.minTime, Reps: benchFlags.reps})
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, r)
		if !benchFlags.asJSON {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s done\n", m)
		}
	}
	if benchFlags.asJSON {
		return printJSON(cmd.OutOrStdout(), rep)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "model\tinput\tthreads\ttrain img/s (batch)\tinfer img/s (batch)\t")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%s\t%s\t%d\t%.0f (%d)\t%.0f (%d)\t\n", r.Model, r.Input, r.Threads, r.TrainImagesPerSec, r.TrainBatch, r.InferImagesPerSec, r.InferBatch)
	}
	return w.Flush()
}
