package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/progress"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

// locFlags are the folder flags shared by the pipeline commands.
type locFlags struct {
	results string
	store   string
}

func (l *locFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.results, "results", "", "results root folder (default $CCQ_RESULTS, else ./runs)")
	cmd.Flags().StringVar(&l.store, "store", "", "content-addressed store folder (default $CCQ_STORE, else <results>/.store)")
}

func (l *locFlags) resolve() workspace.Locations {
	return workspace.Resolve(l.results, l.store, globals.dataDir)
}

// setFlagUsage is the help of --set, shared by run, plan and validate.
const setFlagUsage = "override a value of the experiment: KEY=VALUE, KEY a TOML path with [N] or [*] for array entries " +
	"(optimizers[*].budget.evaluations=300, pretrain.epochs=1, 'optimizers[*].seeds=[1]'), VALUE a TOML value; repeatable"

// executorFactory builds the executor named by --executor or [executor]
// kind for a run of s with jobs slots. cmd is the run command, so a
// factory can read flags it added to runCmd.
type executorFactory func(cmd *cobra.Command, s *workspace.Session, jobs int) (pipeline.Executor, error)

// executorFactories maps executor names to their factories. Files that add
// an executor (for example the Slurm executor) register it here from their
// init function and may add their own flags to runCmd there.
var executorFactories = map[string]executorFactory{
	"local": func(_ *cobra.Command, _ *workspace.Session, jobs int) (pipeline.Executor, error) {
		return pipeline.NewLocal(jobs), nil
	},
}

// runCmd is `ccq run`.
var runCmd = newRunCmd()

func init() { rootCmd.AddCommand(runCmd) }

func newRunCmd() *cobra.Command {
	var (
		loc      locFlags
		jobs     int
		rerun    []string
		only     []string
		force    bool
		verify   bool
		prog     string
		executor string
		asJSON   bool
		sets     []string
		est      estimateFlags
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run an experiment: every stage that is not already in the store",
		Long: `Run expands the experiment into its stages, reuses every stage already in the
store (from any earlier run or experiment), and runs the rest, independent
stages in parallel within --jobs CPU slots. It first makes the checks of
ccq validate (parameters, plugins, pins) and refuses to start, with the same
messages, when one fails. Results go to
<results>/<experiment>/: a frozen copy of the experiment, stage logs, links to
the store entries and the run state (ccq status). A failing stage skips what
depends on it; the rest goes on. The first interrupt stops scheduling and lets
running stages checkpoint; a second one exits at once. Running again resumes.

--only PATTERN (repeatable; a stage name, a glob such as 'quantize/*', or a
kind, as --rerun) runs part of the file now and the rest later: the stages
matching a pattern, every stage they read from (transitively), and the
evaluate stage of each matched stage (so a matched model is also scored;
an evaluate stage of an input pulled in only as an input is not added: name
it with another --only). Every other stage does not run: one in the store
stays cached and counts as a result in runs.parquet and the report; one not
in the store is "unselected" ("not selected by --only"), which is not a
failure: the run ends ok and the report is marked partial ("--only: N of M
stages ..."). --rerun and --force rebuild only selected stages. The checks
before the run cover the selected stages only (as ccq validate --only does;
without --only it checks the whole file). Stage keys do not depend on the selection: a later run, with other
--only patterns or none, reuses everything this one stored. A pattern that
matches no stage is an error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := progress.ParseMode(prog)
			if err != nil {
				return err
			}
			if err := est.install(); err != nil {
				return err
			}
			s, err := workspace.Load(args[0], loc.resolve(), nil, sets...)
			if err != nil {
				return err
			}
			var factory executorFactory
			executor, factory, err = lookupExecutor(s, executor)
			if err != nil {
				return err
			}
			if jobs, err = resolveJobs(cmd, s, jobs); err != nil {
				return err
			}
			selected, err := s.Select(only)
			if err != nil {
				return err
			}
			if r := s.Check(cmd.Context(), selected); !r.OK() {
				for _, e := range r.Errors {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				return &exitCodeError{code: 1, err: fmt.Errorf("%s: refused, nothing was run: the faults listed above would stop stages (ccq validate checks a file)", s.Exp.File)}
			}
			exec, err := factory(cmd, s, jobs)
			if err != nil {
				return err
			}
			st, err := s.OpenStore()
			if err != nil {
				return err
			}
			plan, err := s.Plan(st, workspace.PlanFlags{Rerun: rerun, Force: force, Verify: verify, Only: only, Threads: stageThreads(exec)})
			if err != nil {
				return err
			}
			res, err := pipeline.OpenResults(s.ResultsDir())
			if err != nil {
				return err
			}
			errw := cmd.ErrOrStderr()
			fmt.Fprintln(errw, workspace.Headline(s.Exp.Name, plan))
			if l := workspace.WorkLine(plan, jobs); l != "" {
				fmt.Fprintln(errw, l)
			}
			src := describeSources(cmd.Context(), s.Exp.File)
			var rep progress.Reporter = progress.New(mode, os.Stderr)
			if asJSON && mode == progress.Auto {
				rep = progress.New(progress.Plain, os.Stderr)
			}
			sum, err := pipeline.Run(cmd.Context(), plan, pipeline.RunOptions{
				Store: st, Results: res, Jobs: jobs, Settings: s.Settings(), Executor: exec,
				Observers:      []pipeline.Observer{rep},
				ExperimentFile: s.Exp.File, ExperimentSource: s.Exp.Source,
				Command: strings.Join(typedCommand(os.Args), " "),
			})
			rep.Close()
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), sum); err != nil {
					return err
				}
			} else {
				workspace.WriteSummary(cmd.OutOrStdout(), sum)
			}
			if sum.Outcome == "detached" {
				fmt.Fprintf(cmd.OutOrStdout(), "jobs submitted; follow them with: ccq status --follow %s\ncancel them with: ccq cancel %s\n", res.Dir, res.Dir)
				if serr := sum.Err(); serr != nil {
					return &exitCodeError{code: 1, err: errors.New("some stages could not be submitted (see above)")}
				}
				return nil
			}
			pubw := cmd.OutOrStdout()
			if asJSON {
				pubw = cmd.ErrOrStderr()
			}
			if perr := publishRun(context.WithoutCancel(cmd.Context()), pubw, s, sum, executor, src); perr != nil {
				if sum.Err() == nil {
					return fmt.Errorf("publishing results: %w", perr)
				}
				slog.Error("publishing results", "err", perr)
			}
			if serr := sum.Err(); serr != nil {
				if sum.Outcome == "interrupted" {
					return &exitCodeError{code: 130, err: errors.New("interrupted; run again to resume")}
				}
				return &exitCodeError{code: 1, err: errors.New("some stages did not finish (see above)")}
			}
			return nil
		},
	}
	loc.add(cmd)
	est.add(cmd)
	cmd.Flags().IntVarP(&jobs, "jobs", "j", runtime.NumCPU(), "CPU slots for stages (default: the number of CPUs, or [executor] jobs)")
	cmd.Flags().StringArrayVar(&rerun, "rerun", nil, "rerun stages matching this pattern (a name, a glob such as 'quantize/*', or a kind) and what depends on them, from scratch (their checkpoints are discarded); repeatable")
	cmd.Flags().StringArrayVar(&only, "only", nil, "run only the stages matching this pattern (a name, a glob such as 'quantize/adaround*', or a kind), what they read from, and the evaluate stages of the matched ones; the rest is left for a later run (see above); repeatable")
	cmd.Flags().BoolVar(&force, "force", false, "rerun every stage from scratch (with --only: every selected stage)")
	cmd.Flags().BoolVar(&verify, "verify", false, "re-hash every file of the cached entries and rebuild those that changed (always checked: every file exists with its size; files under 1 MiB also by digest)")
	cmd.Flags().StringVar(&prog, "progress", "auto", "progress display: auto, bars, plain or none")
	cmd.Flags().StringVar(&executor, "executor", "", "where stages run: local (default, or [executor] kind)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run summary as JSON")
	cmd.Flags().StringArrayVar(&sets, "set", nil, setFlagUsage)
	return cmd
}

// lookupExecutor names the executor of a run of s, name (--executor), else
// [executor] kind, else local, and returns its factory.
func lookupExecutor(s *workspace.Session, name string) (string, executorFactory, error) {
	if name == "" {
		name = string(s.Exp.Executor.Kind)
	}
	if name == "" {
		name = "local"
	}
	factory, ok := executorFactories[name]
	if !ok {
		return name, nil, fmt.Errorf("executor %q is not built into this ccq (available: %s)", name, strings.Join(executorNames(), ", "))
	}
	return name, factory, nil
}

// resolveJobs is the CPU slots of a run or plan of s: --jobs when given,
// else [executor] jobs when set, else jobs (--jobs's default).
func resolveJobs(cmd *cobra.Command, s *workspace.Session, jobs int) (int, error) {
	if !cmd.Flags().Changed("jobs") && s.Exp.Executor.Jobs > 0 {
		jobs = s.Exp.Executor.Jobs
	}
	if jobs < 1 {
		return 0, fmt.Errorf("--jobs %d: expected 1 or more", jobs)
	}
	return jobs, nil
}

// stageThreads is how exec sizes the threads of a stage (for the plan's
// estimates), or nil when it does not say.
func stageThreads(exec pipeline.Executor) func(int) int {
	if ts, ok := exec.(pipeline.ThreadSizer); ok {
		return ts.StageThreads
	}
	return nil
}

func executorNames() []string {
	var names []string
	for n := range executorFactories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
