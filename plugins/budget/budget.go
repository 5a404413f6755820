// Package budget is the bound of an optimizer run, one type from the
// experiment file's budget table (TOML) through the evolve stage's
// parameters (JSON, stages/stageparams.Evolve) to the host loop (plugins/host).
package budget

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Budget bounds a run. A generation starts only while every set bound is
// unmet, so the last generation may pass the evaluation budget by at most
// one generation's evaluations. Zero fields are unbounded; at least one
// must be set.
type Budget struct {
	// Evaluations is the number of scorings (candidates plus one base per
	// generation).
	Evaluations int64 `toml:"evaluations" json:"evaluations,omitempty"`
	// WallTime is the wall time, summed over resumed sessions. A run
	// stopped by it is not reproducible.
	WallTime Duration `toml:"wall_time" json:"wall_time,omitempty"`
	// Generations caps the number of generations.
	Generations int64 `toml:"generations" json:"generations,omitempty"`
}

// Keys are the budget table's keys.
var Keys = []string{"evaluations", "wall_time", "generations"}

// Validate checks that no bound is negative and that one is set; errors
// name the key.
func (b Budget) Validate() error {
	switch {
	case b.Evaluations < 0:
		return &FieldError{Key: "evaluations", Msg: "must be 1 or more"}
	case b.WallTime < 0:
		return &FieldError{Key: "wall_time", Msg: "must be positive"}
	case b.Generations < 0:
		return &FieldError{Key: "generations", Msg: "must be 1 or more"}
	case b.Evaluations == 0 && b.WallTime == 0 && b.Generations == 0:
		return &FieldError{Msg: "needs evaluations, wall_time or generations > 0"}
	}
	return nil
}

// FieldError is a bad budget; Key is empty when no single key is at fault.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string {
	if e.Key == "" {
		return "budget: " + e.Msg
	}
	return "budget " + e.Key + ": " + e.Msg
}

// Duration is a wall time written as text such as "90m" or "1h30m" (in
// JSON also a number of seconds).
type Duration time.Duration

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a positive duration such as "90m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v <= 0 {
		return fmt.Errorf("%q: expected a positive duration such as \"90m\" or \"2h\"", b)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON reads text such as "90m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return d.UnmarshalText([]byte(s))
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("bad duration " + string(b) + " (expected text such as \"90m\" or seconds)")
	}
	*d = Duration(time.Duration(f * float64(time.Second)))
	return nil
}
