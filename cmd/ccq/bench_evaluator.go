package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant/evalbench"
	"github.com/spf13/cobra"
)

func init() { benchCmd.AddCommand(benchEvaluatorCmd()) }

func benchEvaluatorCmd() *cobra.Command {
	var (
		cfg    evalbench.BenchConfig
		secs   float64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "evaluator",
		Short: "Measure the quantized evaluator: candidate evaluations per second",
		Long: `Score batches of candidates (sparse deltas of --delta weights in --layer, or
spread over all layers) on a random --model with random data, first with the
incremental evaluator, then with a full forward pass per candidate, back to
back, and report candidates per second and their ratio.`,
		Example: `  ccq bench evaluator --model lenet5 --batch 1024 --delta 2000 --layer fc1
  ccq bench evaluator --model resnet20 --layer all --candidates 8 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.MinTime = time.Duration(secs * float64(time.Second))
			if spec, _ := nn.LookupArch(cfg.Arch); spec.ResNetBlocks > 0 && !cmd.Flags().Changed("candidates") {
				cfg.Candidates = 4 // a ResNet-20 full forward pass of 1,024 images takes about half a second
			}
			res, err := evalbench.Bench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			return printBenchEvaluator(cmd.OutOrStdout(), res)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Arch, "model", "lenet5", "architecture: "+strings.Join(nn.Archs, ", "))
	fl.IntVar(&cfg.Batch, "batch", 1024, "mini-batch size")
	fl.IntVar(&cfg.Delta, "delta", 2000, "changed weights per candidate")
	fl.StringVar(&cfg.Layer, "layer", "all", "layer the changes fall in (fc1, conv2, ...) or all")
	fl.IntVar(&cfg.Candidates, "candidates", 32, "candidates per scoring call (lambda; default 4 for the ResNets)")
	fl.IntVar(&cfg.Bits, "bits", 4, "weight bits")
	fl.IntVar(&cfg.ActBits, "act-bits", 32, "activation bits (32: float activations)")
	fl.IntVar(&cfg.Workers, "threads", 0, "worker goroutines (default GOMAXPROCS)")
	fl.Float64Var(&secs, "seconds", 3, "minimum measuring time of each of the two modes")
	fl.BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func printBenchEvaluator(w io.Writer, r *evalbench.BenchResult) error {
	c := r.Config
	fmt.Fprintf(w, "%s, batch %d, %d candidates of %d changed weights in %s, %d-bit weights, activations %s, chunk %d\n",
		c.Arch, c.Batch, c.Candidates, c.Delta, c.Layer, c.Bits, actLabel(c.ActBits), r.Chunk)
	fmt.Fprintf(w, "incremental   %10.1f candidates/s (%d rounds, %.1f CPU-ms per candidate)\n", r.IncrementalPerSec, r.IncrementalRounds, r.IncrementalCPUms)
	fmt.Fprintf(w, "full forward  %10.1f candidates/s (%d rounds, %.1f CPU-ms per candidate)\n", r.FullForwardPerSec, r.FullForwardRounds, r.FullForwardCPUms)
	fmt.Fprintf(w, "speedup       %10.2fx\n", r.Speedup)
	return nil
}
