// Package pipeline is ccq's DAG runner: stage kinds, stage keys, plans,
// executors and runs. An experiment (package pipeline/experiment) expands
// into stage Specs; NewGraph orders them; MakePlan resolves every stage to a
// key and finds it in the store (package pipeline/store) or marks it to run
// or blocked; Run executes what is to run through an Executor and records
// the run in the experiment's results folder.
//
// # Writing a stage kind
//
// A stage kind lives in stages/<kind>, implements Kind and registers itself:
//
//	package quantize
//
//	// The parameter struct lives in the leaf package stages/stageparams,
//	// which the experiment expansion imports without linking the stage.
//	type Params = stageparams.Quantize
//
//	type Kind struct{}
//
//	func init() { pipeline.Register(Kind{}) }
//
//	func (Kind) Name() string                             { return "quantize" }
//	func (Kind) Version() string                          { return "1" }
//	func (Kind) Threads(p pipeline.Params) int            { return 1 }
//	func (Kind) Estimate(p pipeline.Params) time.Duration { return 2 * time.Second }
//	func (Kind) CheckParams(p pipeline.Params) error      { var q Params; return p.Decode(&q) }
//
//	func (Kind) Run(ctx context.Context, sc *pipeline.StageContext) error {
//		var p Params
//		if err := sc.Decode(&p); err != nil { // unknown keys and wrong types are errors
//			return err
//		}
//		model, err := sc.Input("model") // the finished input entry
//		if err != nil {
//			return err
//		}
//		f := model.Path("model.safetensors")
//		...
//		sc.Progress(0.5, "calibrating")
//		sc.Log.Info("scales chosen", "mse", mse)
//		sc.SetMeta("used_fp_gradients", false)
//		return os.WriteFile(filepath.Join(sc.OutDir, "model.safetensors"), b, 0o644)
//	}
//
// Rules for Run: write outputs only into sc.OutDir (they become the store
// entry when Run returns nil; they are deleted otherwise); return promptly
// after ctx is done, with an error wrapping ctx.Err(); keep checkpoints in
// sc.CheckpointDir (create it; write atomically) and resume from it when it
// holds one; use at most sc.Threads threads; start child processes with
// Command so that none outlives ccq. Bump Version whenever the kind
// computes something different for the same parameters and inputs.
//
// The checklist for a new kind: its parameter struct in stages/stageparams
// (json tags with the experiment's key names, optional fields omitempty so
// that unset keys stay out of the key; Validate for what the values alone
// tell, and WithDefaults when zero values mean defaults); its package
// under stages/ with Params as an alias of that struct, a Validate
// function adding the checks that need heavier packages (names against
// registries), and the operation as an exported function that Run calls,
// so that a command (cmd/ccq) can build the same Params and call the same
// function (see stages/quantize.Quantize, stages/pretrain.Train); a blank
// import in stages/all; and, if experiment files create it, its stages in
// pipeline/experiment's Expand (expand.go), built as the struct, with the
// keys' TOML paths.
//
// # Keys
//
// A stage's key is a hash of its kind, the kind's version, its canonical
// parameters, its inputs' keys, its external files' digests, the ccq
// version and, for kinds that implement Fingerprinter, what their
// parameters only name (the evolve stage: the optimizer plugin's version,
// defaults or executable digest); see KeyRecipeVersion for the exact recipe. Names, paths, hosts
// and times never enter it, so the same stage has the same key in every
// experiment and on every machine, and two experiments share entries.
//
// # Running part of a graph
//
// PlanOptions.Only restricts a plan to a selection (`ccq run --only`,
// Graph.Select): the stages matching a pattern, everything they read from,
// and the stages of a scorer kind (evaluate) that score a matched stage.
// Outside it, a stage the store holds stays StatusCached and counts as a
// result; any other becomes StatusUnselected ("not selected by --only",
// then what it would be otherwise), is not run, and does not fail the run.
// Keys never depend on the selection, so a later run reuses every entry.
//
// # Results folder
//
// See Results for the layout of runs/<experiment>/. The store defaults
// to runs/.store (see package pipeline/workspace for how locations are
// chosen).
//
// # Executors
//
// An Executor decides where tasks run. Local runs them in this process
// within CPU slots. Executors that run stages elsewhere write each Task with
// WriteTaskFile and run `ccq stage exec <file>`, which calls Exec.
package pipeline
