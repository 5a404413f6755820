package stageparams

import (
	"errors"
	"fmt"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/plugins/budget"
)

// Evolve are the evolve stage's parameters: one run of an experiment's
// [[optimizers]] entry (one matrix combination, bit width and seed), with
// the entry's [optimizers.host] options at the top level.
type Evolve struct {
	// Plugin is the optimizer: a built-in name or an external plugin's
	// name (a path plugin arrives as the stage's "plugin" file).
	Plugin string `json:"plugin"`
	// Label names the method in tables (default: Plugin).
	Label   string        `json:"label,omitempty"`
	Bits    int           `json:"bits"`
	ActBits int           `json:"act_bits"`
	Seed    int64         `json:"seed"`
	Budget  budget.Budget `json:"budget"`
	// PluginParams are passed to the optimizer as its parameters (the
	// optimizer declares and checks them).
	PluginParams map[string]any `json:"plugin_params,omitempty"`
	Host
}

// Host are the options of the evolve stage's host loop (the experiment's
// [optimizers.host]); zero means the default.
type Host struct {
	// BatchSize is the fitness mini-batch (default DefaultBatchSize
	// training images).
	BatchSize int `json:"batch_size,omitempty"`
	// ValidateEvery is how many generations pass between validation
	// measurements of the base (default DefaultValidateEvery; -1: never).
	ValidateEvery int64 `json:"validate_every,omitempty"`
	// ValidationSize limits the validation images used (default: all).
	ValidationSize int `json:"validation_size,omitempty"`
	// CheckpointEvery is how many generations pass between checkpoints
	// (default DefaultCheckpointEvery).
	CheckpointEvery int64 `json:"checkpoint_every,omitempty"`
	// Select chooses the output: SelectFinal (default: the optimizer's
	// final solution, as in the paper) or SelectBestValidation (the base
	// with the highest validation accuracy among those measured every
	// validate_every generations and the final solution: model selection
	// on the validation split).
	Select string `json:"select,omitempty"`
	// Race skips evaluation work (plugins/host.Race): RaceOff (the
	// default: every candidate is scored on the whole batch) or RaceZ
	// (every candidate is scored on the first race_fraction of the batch;
	// one that a paired z-test at race_z finds behind the base and behind
	// race_keep others is not scored on the rest and reaches the optimizer
	// with fitness +Inf). Not a default until it shows equal final
	// accuracy at equal wall time over 5 seeds
	// (experiments/ablation-race.toml).
	Race string `json:"race,omitempty"`
	// RaceFraction is the first part of the batch (default
	// DefaultRaceFraction).
	RaceFraction float64 `json:"race_fraction,omitempty"`
	// RaceZ is the z-test's one-sided threshold (default DefaultRaceZ).
	RaceZ float64 `json:"race_z,omitempty"`
	// RaceKeep is the number of best candidates always finished (default,
	// for a built-in: what its parameters make it read; required for
	// another plugin, which the stage checks).
	RaceKeep int `json:"race_keep,omitempty"`
}

// The host loop's defaults (Host's fields when zero).
const (
	DefaultBatchSize       = 1024
	DefaultValidateEvery   = 10
	DefaultCheckpointEvery = 10
	DefaultRaceFraction    = 0.25
	DefaultRaceZ           = 3
)

// The values of Host.Race.
const (
	RaceOff = "off"
	RaceZ   = "z"
)

// The values of Host.Select.
const (
	SelectFinal          = "final"
	SelectBestValidation = "best-validation"
)

// WithDefaults returns the parameters with zero batch size, validation
// and checkpoint intervals given their defaults (the racing defaults apply
// only when racing is on: see RaceDefaults).
func (p Evolve) WithDefaults() Evolve {
	if p.BatchSize == 0 {
		p.BatchSize = DefaultBatchSize
	}
	if p.ValidateEvery == 0 {
		p.ValidateEvery = DefaultValidateEvery
	}
	if p.CheckpointEvery == 0 {
		p.CheckpointEvery = DefaultCheckpointEvery
	}
	return p
}

// RaceDefaults returns the racing fraction and threshold with their
// defaults.
func (h Host) RaceDefaults() (fraction, z float64) {
	fraction, z = h.RaceFraction, h.RaceZ
	if fraction == 0 {
		fraction = DefaultRaceFraction
	}
	if z == 0 {
		z = DefaultRaceZ
	}
	return fraction, z
}

// Method is the name of the run's method in tables: Label, else Plugin.
func (p Evolve) Method() string {
	if p.Label != "" {
		return p.Label
	}
	return p.Plugin
}

// Validate checks that a plugin is named, the budget and the host
// options' ranges.
func (p *Evolve) Validate() error {
	if p.Plugin == "" {
		return errEmpty("plugin")
	}
	if err := p.Budget.Validate(); err != nil {
		return budgetError(err)
	}
	switch {
	case p.BatchSize < 0:
		return &pipeline.ParamError{Key: "batch_size", Msg: "must be >= 0"}
	case p.ValidationSize < 0:
		return &pipeline.ParamError{Key: "validation_size", Msg: "must be >= 0"}
	case p.CheckpointEvery < 0:
		return &pipeline.ParamError{Key: "checkpoint_every", Msg: "must be >= 0"}
	case p.Select != "" && p.Select != SelectFinal && p.Select != SelectBestValidation:
		return &pipeline.ParamError{Key: "select", Msg: fmt.Sprintf("%q: expected %q or %q", p.Select, SelectFinal, SelectBestValidation)}
	case p.Select == SelectBestValidation && p.ValidateEvery < 0:
		return &pipeline.ParamError{Key: "select", Msg: fmt.Sprintf("%q needs validation (validate_every is %d)", p.Select, p.ValidateEvery)}
	}
	return p.validateRace()
}

// validateRace checks the racing parameters.
func (p *Evolve) validateRace() error {
	on := p.Race == RaceZ
	switch {
	case p.Race != "" && p.Race != RaceOff && p.Race != RaceZ:
		return &pipeline.ParamError{Key: "race", Msg: fmt.Sprintf("%q: expected %q or %q", p.Race, RaceOff, RaceZ)}
	case p.RaceFraction != 0 && !(p.RaceFraction > 0 && p.RaceFraction < 1):
		return &pipeline.ParamError{Key: "race_fraction", Msg: fmt.Sprintf("%v: expected 0 < race_fraction < 1", p.RaceFraction)}
	case p.RaceZ != 0 && !(p.RaceZ > 0 && p.RaceZ < 100):
		return &pipeline.ParamError{Key: "race_z", Msg: fmt.Sprintf("%v: expected 0 < race_z < 100", p.RaceZ)}
	case p.RaceKeep < 0:
		return &pipeline.ParamError{Key: "race_keep", Msg: fmt.Sprintf("%d: expected >= 1 (or 0: the built-in's own)", p.RaceKeep)}
	case !on && (p.RaceFraction != 0 || p.RaceZ != 0 || p.RaceKeep != 0):
		return &pipeline.ParamError{Key: "race", Msg: fmt.Sprintf("race_fraction, race_z and race_keep need race = %q", RaceZ)}
	}
	return nil
}

// budgetError names the budget key at fault as a parameter key.
func budgetError(err error) error {
	var fe *budget.FieldError
	if errors.As(err, &fe) {
		key := "budget"
		if fe.Key != "" {
			key += "." + fe.Key
		}
		return &pipeline.ParamError{Key: key, Msg: fe.Msg}
	}
	return &pipeline.ParamError{Key: "budget", Msg: err.Error()}
}
