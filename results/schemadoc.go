package results

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// TableSchema documents one result table.
type TableSchema struct {
	Name        string         `json:"name"`
	File        string         `json:"file"`
	Description string         `json:"description"`
	Columns     []ColumnSchema `json:"columns"`
}

// ColumnSchema documents one column: its name, its Parquet type in words,
// whether it may be null, and what it means.
type ColumnSchema struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Nullable    bool   `json:"nullable"`
	Description string `json:"description"`
}

var generationDocs = map[string]string{
	"run_id":              "identifier of the evolve run (unique within the experiment)",
	"experiment":          "experiment name",
	"variant":             "optimizer plugin name (ccea, ccea-random, ccea-layer, eda, mutation-ea, ...)",
	"dataset":             "dataset name (mnist, fashion, cifar10)",
	"model":               "model name (an architecture of nn.Archs: mlp, lenet5, resnet20, ...)",
	"bits":                "weight bit width",
	"act_bits":            "activation bit width (32 = float activations)",
	"seed":                "seed of the run",
	"generation":          "generation number, from 0",
	"evaluations":         "fitness evaluations so far, this generation included",
	"wall_time_s":         "wall time since the run started, seconds (resumed runs include earlier sessions)",
	"best_fitness":        "best candidate fitness of the generation (mini-batch cross-entropy, nats; lower is better)",
	"mean_fitness":        "mean candidate fitness of the generation (nats)",
	"base_fitness":        "fitness of the base (context) solution on the same mini-batch (nats)",
	"base_batch_accuracy": "accuracy of the base solution on the fitness mini-batch, fraction in [0,1]",
	"validation_accuracy": "validation accuracy of the base solution, fraction in [0,1]; measured every N generations, null otherwise",
	"plugin_stats":        "the plugin's own per-generation statistics (group size, mean confidence, frozen fraction, ...)",
	"timestamp":           "time the row was written (UTC, milliseconds)",
}

var runDocs = map[string]string{
	"run_id":              "identifier of the evaluated model (the evaluate stage's key)",
	"experiment":          "experiment name",
	"method":              "method name: float, a baseline quantizer (rtn, mse, ...) or an optimizer plugin (ccea, ...)",
	"kind":                "float | baseline | optimizer",
	"parameters":          "the method's parameters as a JSON object (\"{}\" if none)",
	"dataset":             "dataset name",
	"model":               "model name",
	"bits":                "weight bit width (32 for the float model)",
	"act_bits":            "activation bit width (32 = float activations)",
	"granularity":         "scale granularity (per-tensor, per-channel, ...; empty for the float model)",
	"seed":                "seed of the run (optimizer), of the quantizer, or of pretraining (float)",
	"test_accuracy":       "test-set accuracy, fraction in [0,1]",
	"test_loss":           "test-set mean cross-entropy, nats",
	"validation_accuracy": "validation accuracy, fraction in [0,1]; null when not measured",
	"evaluations":         "fitness evaluations spent (0 for float and baselines)",
	"wall_time_s":         "wall time of the method (training, quantizing or evolving), seconds",
	"used_fp_gradients":   "true if the method used full-precision gradients (float training, QAT-style baselines, AdaRound's per-layer loss)",
	"status":              "ok | failed",
	"start_method":        "for optimizers, the method whose output was the start model; null otherwise",

	// Integer-only inference (the evaluate stage, for act_bits < 32).
	"integer_test_accuracy": "test accuracy of integer-only inference (int8 GEMMs, int32 accumulators, fixed-point requantization; quant/README.md), fraction in [0,1]; null for float activations or when not run",
	"integer_test_loss":     "test-set mean cross-entropy of integer-only inference (logits dequantized at the end), nats; null when not run",
	"integer_agree":         "test images on which integer-only inference predicts the class the fake-quantized model predicts; null when not run",
	"integer_note":          "why integer-only inference did not run on a model with quantized activations (\"not representable: ...\", \"off\", \"skipped: no AVX-512 VNNI ...\"); null otherwise",
}

var stageDocs = map[string]string{
	"name":              "stage instance name (kind plus its distinguishing parameters)",
	"kind":              "stage kind: dataset, pretrain, quantize, evolve, evaluate, report",
	"key":               "content-addressed key of the stage (hash of kind, parameters, inputs, ccq version)",
	"status":            "done | cached | failed | skipped | blocked | cancelled | running | pending | unselected (left out by ccq run --only and not in the store)",
	"cached":            "true if the result came from the store without running",
	"wall_time_s":       "wall time of the stage, seconds (0 when cached)",
	"started":           "start time (UTC, milliseconds)",
	"ended":             "end time (UTC, milliseconds); null while running",
	"threads":           "CPU threads the stage was given",
	"build_wall_time_s": "wall time it took to build the stage's result, seconds, as its store entry records it (the last session's if it resumed from a checkpoint); done and cached stages only, null otherwise",
	"error":             "error message when the stage failed; null otherwise",
}

// Schemas returns the documented schemas of the result tables, derived from
// the row types so that they cannot drift from what the writers write.
func Schemas() []TableSchema {
	return []TableSchema{
		describe("generations", "generations/part-NNNNN.parquet",
			"One row per generation per evolve run. A folder of part files read as one table; "+
				"hidden .part-NNNNN.parquet.tmp files are parts being written and are not part of the table.",
			GenerationRow{}, generationDocs),
		describe("runs", "runs.parquet",
			"One row per evaluated model: the float model, each baseline quantizer's output, each evolved model.",
			RunRow{}, runDocs),
		describe("stages", "stages.parquet",
			"One row per pipeline stage instance of the last `ccq run` of the experiment.",
			StageRow{}, stageDocs),
	}
}

func describe(name, file, desc string, model any, docs map[string]string) TableSchema {
	t := TableSchema{Name: name, File: file, Description: desc}
	for _, f := range parquet.SchemaOf(model).Fields() {
		t.Columns = append(t.Columns, ColumnSchema{
			Name:        f.Name(),
			Type:        typeName(f),
			Nullable:    f.Optional(),
			Description: docs[f.Name()],
		})
	}
	return t
}

// typeName names a Parquet field's type the way users meet it in DuckDB,
// pandas or Arrow.
func typeName(f parquet.Field) string {
	t := f.Type().String()
	switch {
	case !f.Leaf() && t == "MAP":
		if fs := f.Fields(); len(fs) == 1 && len(fs[0].Fields()) == 2 {
			kv := fs[0].Fields()
			return fmt.Sprintf("map<%s, %s>", typeName(kv[0]), typeName(kv[1]))
		}
		return "map"
	case !f.Leaf():
		return "group"
	case t == "STRING":
		return "string"
	case strings.HasPrefix(t, "INT(") && strings.HasSuffix(t, ",true)"):
		return "int" + strings.TrimSuffix(strings.TrimPrefix(t, "INT("), ",true)")
	case strings.HasPrefix(t, "TIMESTAMP("):
		unit := "?"
		switch {
		case strings.Contains(t, "MILLIS"):
			unit = "ms"
		case strings.Contains(t, "MICROS"):
			unit = "us"
		case strings.Contains(t, "NANOS"):
			unit = "ns"
		}
		return "timestamp[" + unit + ", UTC]"
	}
	return strings.ToLower(t)
}

// SchemaMarkdown renders the schemas as Markdown (the body of results/README.md
// and of `ccq schema`).
func SchemaMarkdown() string {
	var b strings.Builder
	for i, t := range Schemas() {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "### %s (`%s`)\n\n%s\n\n", t.Name, t.File, t.Description)
		b.WriteString("| column | type | nullable | meaning |\n| --- | --- | --- | --- |\n")
		for _, c := range t.Columns {
			null := "no"
			if c.Nullable {
				null = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.Name, c.Type, null, strings.ReplaceAll(c.Description, "|", "\\|"))
		}
	}
	return b.String()
}
