// Package stageparams holds the typed parameters of every built-in stage
// kind: one struct per kind (Dataset, Pretrain, Quantize, Evolve, Evaluate,
// Report) with its defaults and the checks the values alone allow. The
// experiment expansion (pipeline/experiment) builds these structs from an
// experiment file, the commands of cmd/ccq build them from flags, and the
// stage kinds (stages/<kind>, whose Params are these types) decode them and
// call the same operation with them.
//
// The package is a leaf: it imports only pipeline and plugins/budget, so
// the expansion can use it without linking the stages' heavy packages.
// Checks that need those packages (a dataset, architecture, quantizer or
// optimizer name; the range of bit widths package quant accepts) are the
// stage kinds' (their Validate functions and CheckParams).
//
// Encode turns a struct into the canonical pipeline.Params that cross the
// stage protocol and enter the store key. Optional fields are omitted when
// zero (or nil, for pointers whose zero value means something), so a
// struct encodes to the same canonical bytes as the parameter map an
// experiment file wrote before these types existed: the store keys of
// committed experiments are pinned by experiments/testdata/keys.golden.
// A new field must be optional (omitempty or omitzero) so that old keys
// stay valid, or the kind's Version must change. One difference from the
// maps: an optional key written with its zero value (momentum = 0,
// skip_validation = false) now encodes like a key left out, which it
// always meant; before, it entered the key, so such a stage runs once more.
//
// Adding a stage kind: give it a struct here (json tags with the
// experiment's key names, Validate for its ranges), build it in
// pipeline/experiment's Expand, and alias it as the kind's Params.
package stageparams

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/ccq-project/ccq/pipeline"
)

// Validator is a parameter struct: it checks its own values, returning
// *pipeline.ParamError values that name the parameter at fault.
type Validator interface {
	Validate() error
}

// Encode validates v and returns its canonical parameters.
func Encode(v Validator) (pipeline.Params, error) {
	if err := v.Validate(); err != nil {
		return pipeline.Params{}, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return pipeline.Params{}, fmt.Errorf("encoding %T: %w", v, err)
	}
	return pipeline.ParseParams(b)
}

// Decode fills v (a parameter struct or a part of one) from the values of
// an open table of an experiment file, or any parameter map, by the
// stages' rules: unknown keys and values of the wrong type are
// *pipeline.ParamError values naming the key, and v is validated when it
// is a Validator.
func Decode(m map[string]any, v any) error {
	p, err := pipeline.NewParams(m)
	if err != nil {
		return err
	}
	return p.Decode(v)
}

// nonNegative returns a *pipeline.ParamError for key when v < 0.
func nonNegative[T int | int64 | float64](key string, v T) error {
	if v < 0 {
		return &pipeline.ParamError{Key: key, Msg: "must be >= 0"}
	}
	return nil
}

// errEmpty is the error of a required parameter left empty.
func errEmpty(key string) error {
	return &pipeline.ParamError{Key: key, Msg: "empty (required)"}
}

// Keys returns the parameter names of struct v (or a pointer to one): the
// JSON names of its fields, those of embedded structs included.
func Keys(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for _, f := range reflect.VisibleFields(t) {
		if f.Anonymous || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}
