package stageparams

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/plugins/budget"
)

// TestEncodeOmitsUnsetKeys checks that each struct encodes to the canonical
// parameters of the map holding only the keys that were set, as an
// experiment file's tables gave them before these types: the property the
// store keys rest on.
func TestEncodeOmitsUnsetKeys(t *testing.T) {
	zero, three := 0, uint64(3)
	tr := true
	cases := []struct {
		v    Validator
		want map[string]any
	}{
		{&Dataset{Name: "mnist"}, map[string]any{"name": "mnist"}},
		{&Dataset{Name: "mnist", ValSize: &zero, SplitSeed: &three}, map[string]any{"name": "mnist", "val_size": 0, "split_seed": 3}},
		{&Pretrain{Model: "lenet5"}, map[string]any{"model": "lenet5"}},
		{&Pretrain{Model: "mlp", TrainLimit: 20000, Recipe: Recipe{Epochs: 2, LR: 0.05, WeightDecay: 5e-4, Milestones: []float64{90, 135}, Schedule: "step"}},
			map[string]any{"model": "mlp", "train_limit": 20000, "epochs": 2, "lr": 0.05, "weight_decay": 5e-4, "milestones": []any{90, 135}, "schedule": "step"}},
		{&Quantize{Method: "rtn", Bits: 2, Granularity: "tensor", ActBits: 32},
			map[string]any{"method": "rtn", "bits": 2, "granularity": "tensor", "act_bits": 32}},
		{&Quantize{Method: "ste-qat", Bits: 4, Granularity: "channel", ActBits: 4, MethodParams: MethodParams{Epochs: 3, LR: 0.001}},
			map[string]any{"method": "ste-qat", "bits": 4, "granularity": "channel", "act_bits": 4, "method_params": map[string]any{"epochs": 3, "lr": 0.001}}},
		{&Evolve{Plugin: "ccea", Bits: 2, ActBits: 32, Seed: 0, Budget: budget.Budget{Evaluations: 5000, WallTime: budget.Duration(30 * time.Minute)}},
			map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 0, "budget": map[string]any{"evaluations": 5000, "wall_time": "30m0s"}}},
		{&Evolve{Plugin: "ccea", Label: "tuned", Bits: 3, ActBits: 8, Seed: 2, Budget: budget.Budget{Generations: 7},
			PluginParams: map[string]any{"lambda": 32}, Host: Host{BatchSize: 256, Race: RaceZ}},
			map[string]any{"plugin": "ccea", "label": "tuned", "bits": 3, "act_bits": 8, "seed": 2, "budget": map[string]any{"generations": 7},
				"plugin_params": map[string]any{"lambda": 32}, "batch_size": 256, "race": "z"}},
		{&Evaluate{}, map[string]any{}},
		{&Evaluate{Batch: 100, Integer: new(bool)}, map[string]any{"batch": 100, "integer": false}},
		{&Evaluate{SkipValidation: true, Integer: &tr}, map[string]any{"skip_validation": true, "integer": true}},
		{&Report{Experiment: "x", Pairs: [][]string{{"a", "b"}}}, map[string]any{"experiment": "x", "pairs": []any{[]any{"a", "b"}}}},
	}
	for _, c := range cases {
		got, err := Encode(c.v)
		if err != nil {
			t.Errorf("%+v: %v", c.v, err)
			continue
		}
		want := pipeline.MustParams(c.want)
		if !got.Equal(want) {
			t.Errorf("%T encodes to %s, want %s", c.v, got, want)
		}
	}
}

// TestDecodeNamesTheKey checks that unknown keys, wrong types and values
// out of range come back as *pipeline.ParamError naming the key.
func TestDecodeNamesTheKey(t *testing.T) {
	cases := []struct {
		m   map[string]any
		v   Validator
		key string
	}{
		{map[string]any{"model": "lenet5", "momentun": 0.9}, &Pretrain{}, "momentun"},
		{map[string]any{"model": "lenet5", "epochs": "ten"}, &Pretrain{}, "epochs"},
		{map[string]any{"model": "lenet5", "lr": -1}, &Pretrain{}, "lr"},
		{map[string]any{"epochs": 1}, &Pretrain{}, "model"},
		{map[string]any{"method": "mse", "bits": 2, "granularity": "tensor", "act_bits": 32, "method_params": map[string]any{"grid": 100}}, &Quantize{}, "grid"},
		{map[string]any{"method": "ste-qat", "bits": 2, "granularity": "tensor", "act_bits": 32, "method_params": map[string]any{"ste_weights": "sign"}}, &Quantize{}, "method_params.ste_weights"},
		{map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{}}, &Evolve{}, "budget"},
		{map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 1}, "select": "best"}, &Evolve{}, "select"},
		{map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 1}, "race_z": 2}, &Evolve{}, "race"},
		{map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 1}, "batch_size": "all"}, &Evolve{}, "batch_size"},
		{map[string]any{"method": "rtn", "bits": 2, "granularity": "tensor", "act_bits": 32, "method_params": map[string]any{"calib_size": 1.5}}, &Quantize{}, "method_params.calib_size"},
		{map[string]any{"batch": -1}, &Evaluate{}, "batch"},
		{map[string]any{"batch": 1, "colour": "red"}, &Evaluate{}, "colour"},
		{map[string]any{"experiment": "x", "alpha": 1.5}, &Report{}, "alpha"},
		{map[string]any{"experiment": "x", "pairs": []any{[]any{"a", "a"}}}, &Report{}, "pairs"},
	}
	for _, c := range cases {
		err := Decode(c.m, c.v)
		var pe *pipeline.ParamError
		if !errors.As(err, &pe) || pe.Key != c.key {
			t.Errorf("%v into %T: %v, want an error on %q", c.m, c.v, err, c.key)
		}
	}
}

func TestDefaults(t *testing.T) {
	q := Quantize{Method: "rtn"}.WithDefaults()
	if q.MethodParams.CalibSize != DefaultCalibSize || q.MethodParams.CalibSeed != DefaultCalibSeed {
		t.Errorf("quantize defaults %+v", q.MethodParams)
	}
	e := Evolve{Plugin: "ccea", Host: Host{ValidateEvery: -1}}.WithDefaults()
	if e.BatchSize != DefaultBatchSize || e.ValidateEvery != -1 || e.CheckpointEvery != DefaultCheckpointEvery || e.Method() != "ccea" {
		t.Errorf("evolve defaults %+v", e)
	}
	if f, z := (Host{RaceZ: 2}).RaceDefaults(); f != DefaultRaceFraction || z != 2 {
		t.Errorf("race defaults %v %v", f, z)
	}
	if (Evaluate{}).WithDefaults().Batch != DefaultEvalBatch {
		t.Error("evaluate batch default")
	}
	zero := 0
	if v, s := (Dataset{Name: "mnist", ValSize: &zero}).Split(); v != -1 || s != DefaultSplitSeed {
		t.Errorf("split %d %d", v, s)
	}
	if v, _ := (Dataset{Name: "mnist"}).Split(); v != 0 {
		t.Errorf("default val size %d", v)
	}
}

func TestKeys(t *testing.T) {
	got := strings.Join(Keys(&Pretrain{}), " ")
	if got != "model train_limit epochs batch_size lr momentum nesterov weight_decay schedule milestones gamma warmup_epochs augment seed eval_batch" {
		t.Errorf("pretrain keys %s", got)
	}
	if got := strings.Join(Keys(Host{}), " "); !strings.HasPrefix(got, "batch_size validate_every") || strings.Contains(got, "plugin") {
		t.Errorf("host keys %s", got)
	}
}
