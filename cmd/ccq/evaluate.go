package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/safetensors"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/stages/evaluate"
	"github.com/spf13/cobra"
)

// evalRequest is what a model evaluator gets: the model file (already
// decoded), the dataset and the split to score.
type evalRequest struct {
	path    string
	file    *safetensors.File
	arch    string // --model, for files without ccq metadata
	data    *datasets.Dataset
	split   *datasets.Split
	params  evaluate.Params
	threads int
}

// modelEvaluators maps a model file's ccq.format metadata to the function
// that scores it. Float32 models are handled here; other formats (k-bit
// models) register themselves from their own file's init.
var modelEvaluators = map[string]func(ctx context.Context, r evalRequest) (nn.EvalResult, error){
	nn.FormatFloat32: evaluateFloat,
}

// evalReport is what `ccq evaluate` prints.
type evalReport struct {
	Model     string        `json:"model"`
	Format    string        `json:"format"`
	Arch      string        `json:"arch"`
	Dataset   string        `json:"dataset"`
	Split     string        `json:"split"`
	Accuracy  float64       `json:"accuracy"`
	Loss      float64       `json:"loss"`
	N         int           `json:"n"`
	PerClass  []classReport `json:"per_class"`
	Confusion [][]int       `json:"confusion"`
}

type classReport struct {
	Class    int     `json:"class"`
	Name     string  `json:"name"`
	N        int     `json:"n"`
	Accuracy float64 `json:"accuracy"`
}

func init() { rootCmd.AddCommand(evaluateCmd()) }

func evaluateCmd() *cobra.Command {
	var (
		dataset, split, arch string
		params               evaluate.Params
		data                 splitFlags
		threads              int
		asJSON               bool
	)
	cmd := &cobra.Command{
		Use:   "evaluate MODEL",
		Short: "Report a model's accuracy, loss and per-class accuracy on a dataset split",
		Long: `Evaluate a model file on the test split (or --split val/train) of a dataset.
The dataset defaults to the one recorded in the model's metadata. Inputs are
normalised with the mean and standard deviation recorded in the model when
present, else with the dataset's. A PyTorch state_dict saved as safetensors
(no ccq metadata) is accepted with --model ARCH.

This is the evaluate stage's measurement: with the same dataset split
(--val-size, --split-seed), --batch and --threads, the accuracy, loss and
confusion matrix are those of the stage's eval.json.`,
		Example: `  ccq evaluate lenet5.safetensors --dataset mnist
  ccq evaluate resnet20_pytorch.safetensors --model resnet20 --dataset fashion-mnist --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			path := args[0]
			f, err := safetensors.Read(path)
			if err != nil {
				return err
			}
			md := f.Metadata
			format := md[nn.MetaFormat]
			if format == "" {
				format = nn.FormatFloat32
			}
			ev, ok := modelEvaluators[format]
			if !ok {
				var known []string
				for k := range modelEvaluators {
					known = append(known, k)
				}
				sort.Strings(known)
				return fmt.Errorf("%s: model format %q is not supported by evaluate (known: %s)", path, format, strings.Join(known, ", "))
			}
			if dataset == "" {
				dataset = md[nn.MetaDataset]
			}
			if dataset == "" {
				return fmt.Errorf("%s records no dataset: give --dataset (%s)", path, strings.Join(datasets.Names(), ", "))
			}
			if err := params.Validate(); err != nil {
				return fmt.Errorf("--batch: %w", err)
			}
			d, err := data.load(ctx, dataset)
			if err != nil {
				return err
			}
			if err := withdata.UseRecordedNormalisation(d, md, path); err != nil {
				return err
			}
			var sp *datasets.Split
			switch split {
			case "test":
				sp = &d.Test
			case "val":
				sp = &d.Val
			case "train":
				sp = &d.Train
			default:
				return fmt.Errorf("--split %q: expected test, val or train", split)
			}
			if sp.N == 0 {
				return fmt.Errorf("%s has no %s split", d.Name, split)
			}
			res, err := ev(ctx, evalRequest{path: path, file: f, arch: arch, data: d, split: sp, params: params, threads: threads})
			if err != nil {
				return err
			}
			rep := evalReport{Model: path, Format: format, Arch: md[nn.MetaArch], Dataset: d.Name, Split: split,
				Accuracy: res.Accuracy, Loss: res.Loss, N: res.N, Confusion: res.Confusion}
			if rep.Arch == "" {
				rep.Arch = arch
			}
			for c := range res.PerClass {
				name := ""
				if c < len(d.Classes) {
					name = d.Classes[c]
				}
				rep.PerClass = append(rep.PerClass, classReport{Class: c, Name: name, N: res.Count[c], Accuracy: res.PerClass[c]})
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			return printEval(cmd.OutOrStdout(), rep)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataset, "dataset", "", "dataset (default: the one recorded in the model)")
	fl.StringVar(&split, "split", "test", "split: test, val or train")
	fl.StringVar(&arch, "model", "", "architecture of a file without ccq metadata (a PyTorch state_dict): "+strings.Join(nn.Archs, ", "))
	fl.IntVar(&threads, "threads", 0, "threads (default GOMAXPROCS)")
	fl.IntVar(&params.Batch, "batch", evaluate.DefaultBatch, "images per forward pass of a float model")
	data.register(fl)
	fl.BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// evaluateFloat scores a float32 model (ccq file or PyTorch state dict).
func evaluateFloat(ctx context.Context, r evalRequest) (nn.EvalResult, error) {
	shape := withdata.Shape(r.data)
	var g nn.Graph
	var err error
	if _, ok := r.file.Metadata[nn.MetaArch]; ok {
		g, err = nn.GraphFromMetadata(r.file.Metadata)
	} else {
		if r.arch == "" {
			return nn.EvalResult{}, fmt.Errorf("%s has no ccq metadata: give its architecture with --model (%s)", r.path, strings.Join(nn.Archs, ", "))
		}
		g, err = nn.BuildGraph(r.arch, shape, len(r.data.Classes))
	}
	if err != nil {
		return nn.EvalResult{}, fmt.Errorf("%s: %w", r.path, err)
	}
	if g.Input != shape || g.Classes != len(r.data.Classes) {
		return nn.EvalResult{}, fmt.Errorf("%s takes %dx%dx%d inputs and %d classes, but %s has %dx%dx%d and %d",
			r.path, g.Input.C, g.Input.H, g.Input.W, g.Classes, r.data.Name, shape.C, shape.H, shape.W, len(r.data.Classes))
	}
	m, err := nn.FromFile(r.file, g)
	if err != nil {
		return nn.EvalResult{}, fmt.Errorf("%s: %w", r.path, err)
	}
	defer m.Close()
	return evaluate.Float(ctx, m, r.data, r.split, r.params, r.threads)
}

func printEval(w io.Writer, r evalReport) error {
	fmt.Fprintf(w, "%s (%s, %s) on %s %s: %d images\n", r.Model, r.Arch, r.Format, r.Dataset, r.Split, r.N)
	fmt.Fprintf(w, "accuracy %.2f%%  loss %.4f\n\n", 100*r.Accuracy, r.Loss)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "class\tname\timages\taccuracy")
	for _, c := range r.PerClass {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.2f%%\n", c.Class, c.Name, c.N, 100*c.Accuracy)
	}
	return tw.Flush()
}
