package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ccq-project/ccq/internal/cpupeak"
	"github.com/spf13/cobra"
)

func init() { benchCmd.AddCommand(benchPeakCmd()) }

func benchPeakCmd() *cobra.Command {
	var (
		secs    float64
		threads int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "peak",
		Short: "Measure this machine's multiply-add limit: fp32 FMA and int8 VNNI loops",
		Long: `Run register-only loops of the vector multiply-add instructions the engine's
kernels use (fp32 FMA with AVX-512 and AVX2, int8 dot products with AVX-512
VNNI), on one thread and then on --threads at once, and report instructions
and multiply-adds (MAC) per second. A kernel's rate divided by these is the
share of the machine's limit it reaches; the ratio of the int8 and fp32 lines
bounds what the integer path can gain over float activations. Loops the CPU
lacks are not listed.`,
		Example: `  ccq bench peak
  ccq bench peak --seconds 2 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if threads < 1 {
				return fmt.Errorf("--threads %d: want at least 1", threads)
			}
			d := time.Duration(secs * float64(time.Second))
			if d <= 0 {
				return fmt.Errorf("--seconds %g: want a positive duration", secs)
			}
			loops := cpupeak.Available()
			if len(loops) == 0 {
				return fmt.Errorf("no peak loop for this CPU (%s): the loops need amd64 with AVX2+FMA or AVX-512", runtime.GOARCH)
			}
			var res []cpupeak.Result
			rounds := []int{1}
			if threads > 1 {
				rounds = append(rounds, threads)
			}
			for _, n := range rounds {
				for _, l := range loops {
					r, err := cpupeak.Measure(cmd.Context(), l, n, d)
					if err != nil {
						return fmt.Errorf("bench peak: %s: %w", l.Name, err)
					}
					res = append(res, r)
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			for _, r := range res {
				fmt.Fprintln(cmd.OutOrStdout(), r)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&secs, "seconds", 1, "measuring time of each loop")
	fl.IntVar(&threads, "threads", runtime.GOMAXPROCS(0), "threads of the second round (default GOMAXPROCS)")
	fl.BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
