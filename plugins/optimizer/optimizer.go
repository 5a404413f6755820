// Package optimizer defines the ask/tell interface between ccq's generation
// loop (the host) and an optimizer plugin, with plain Go request and response
// types. It has no dependency on gRPC or protobuf: the adapter in
// plugins/rpc translates these types to and from the wire.
//
// The decision variables are one quantization level (an int8) per weight.
// The host owns the network, the data and the evaluator; the optimizer owns
// the search state. One generation is
//
//	Ask  -> optionally a new base (a sparse delta against the previous base)
//	        and up to MaxCandidates candidates (sparse deltas against the base)
//	host -> scores every candidate and the base on the same mini-batch
//	Tell -> the candidates' fitnesses and the base's fitness
//
// Fitness is minimised (mean cross-entropy on the generation's mini-batch).
package optimizer

import (
	"context"
	"encoding/json"
)

// Optimizer is what every optimizer plugin implements, built in or external.
//
// The host calls Info at any time; Init exactly once before anything else
// except Info; then alternates Ask and Tell. Snapshot is called only between
// a Tell and the next Ask (or right after Init); Restore only right after
// Init with the same Problem, and replaces the whole search state with the
// snapshot's, random generator included, so that the restored optimizer
// continues exactly as the snapshotted one would have. Best may be called
// whenever Init has succeeded.
//
// Every method receives a context with a deadline; implementations should
// return promptly when it is done. Methods are never called concurrently.
type Optimizer interface {
	// Info describes the optimizer and its parameters.
	Info(ctx context.Context) (Info, error)
	// Init sets up the search for a problem.
	Init(ctx context.Context, p *Problem) (InitResult, error)
	// Ask returns the next generation's candidates.
	Ask(ctx context.Context) (*Ask, error)
	// Tell reports the fitnesses of the last Ask's candidates.
	Tell(ctx context.Context, t *Tell) error
	// Snapshot returns the whole search state as opaque bytes.
	Snapshot(ctx context.Context) ([]byte, error)
	// Restore replaces the search state with a snapshot's.
	Restore(ctx context.Context, state []byte) error
	// Best returns the optimizer's current solution: the full level vector.
	Best(ctx context.Context) (*Solution, error)
}

// Layer describes one quantized layer's slice of the variable vector.
type Layer struct {
	// Name is the layer's name in the model (for example "conv1.weight").
	Name string `json:"name"`
	// Offset is the index of the layer's first variable.
	Offset int `json:"offset"`
	// Count is the number of variables (weights) in the layer.
	Count int `json:"count"`
	// Shape is the weight tensor's shape (product equals Count).
	Shape []int `json:"shape,omitempty"`
}

// Problem is everything an optimizer needs to start a search.
type Problem struct {
	// Layers partition [0, N) into consecutive slices, in order.
	Layers []Layer `json:"layers"`
	// Start holds the start levels x0 (length N), for example a baseline
	// quantizer's output. It is also the first base.
	Start []int8 `json:"start"`
	// Lo and Hi bound each variable's levels (inclusive, length N). The
	// host passes the bit width's full range or a narrower one; plugins may
	// restrict further (the ccea family's radius parameter).
	Lo []int8 `json:"lo"`
	Hi []int8 `json:"hi"`
	// Alphabet, when not empty, lists the allowed level values in
	// increasing order (for example {-1, 1} at 1 bit); a level must then be
	// both inside [Lo, Hi] and in the alphabet. Empty means every integer.
	Alphabet []int8 `json:"alphabet,omitempty"`
	// Seed seeds the optimizer's random generator.
	Seed uint64 `json:"seed"`
	// Params holds the optimizer's parameters as a JSON object (nil or
	// empty means all defaults). Unknown names must be rejected.
	Params json.RawMessage `json:"params,omitempty"`
	// BudgetEvaluations is the host's evaluation budget (0 if none); a
	// hint for optimizers that schedule themselves by budget.
	BudgetEvaluations int64 `json:"budget_evaluations"`
	// Lambda is the host's population-size hint (0 if none); an
	// optimizer's own lambda parameter takes precedence.
	Lambda int `json:"lambda"`
}

// N returns the number of decision variables.
func (p *Problem) N() int { return len(p.Start) }

// InitResult is the optimizer's answer to Init.
type InitResult struct {
	// MaxCandidates is the largest number of candidates any Ask will
	// return (at least 1). The host sizes its buffers by it and rejects an
	// Ask that returns more.
	MaxCandidates int `json:"max_candidates"`
}

// Delta is a sparse change to a level vector: variable Indices[k] takes
// level Levels[k]. Indices are unique within one delta; they need not be
// sorted, but the built-in optimizers sort them.
type Delta struct {
	Indices []int32 `json:"indices"`
	Levels  []int8  `json:"levels"`
}

// Len returns the number of changed variables.
func (d *Delta) Len() int { return len(d.Indices) }

// ApplyTo writes the delta's levels into x.
func (d *Delta) ApplyTo(x []int8) {
	for k, i := range d.Indices {
		x[i] = d.Levels[k]
	}
}

// Clone returns a deep copy of the delta.
func (d *Delta) Clone() Delta {
	return Delta{
		Indices: append([]int32(nil), d.Indices...),
		Levels:  append([]int8(nil), d.Levels...),
	}
}

// Ask is one generation's request from the optimizer.
type Ask struct {
	// Base, when not nil, changes the base: it is a sparse delta against
	// the previous base (the context vector of cooperative coevolution).
	// It is applied before the candidates are interpreted.
	Base *Delta `json:"base,omitempty"`
	// Candidates are sparse deltas against the (new) base.
	Candidates []Delta `json:"candidates"`
	// Stats are the optimizer's own per-generation figures (group size,
	// mean confidence, frozen fraction, ...), recorded by the host.
	Stats map[string]float64 `json:"stats,omitempty"`
	// Done tells the host the search has nothing left to do (for example
	// every variable is frozen). Candidates must then be empty; Base may
	// still carry a last change.
	Done bool `json:"done,omitempty"`
}

// Tell reports the scores of the last Ask's candidates, all measured on the
// same mini-batch.
type Tell struct {
	// Fitness[k] is candidate k's fitness (lower is better).
	Fitness []float64 `json:"fitness"`
	// BaseFitness is the base's fitness on the same mini-batch.
	BaseFitness float64 `json:"base_fitness"`
}

// Solution is a full level vector.
type Solution struct {
	// Levels has one level per variable (length N).
	Levels []int8 `json:"levels"`
}

// Param describes one optimizer parameter.
type Param struct {
	// Name is the key in the Params JSON object.
	Name string `json:"name"`
	// Type is one of "int", "float", "string", "bool".
	Type string `json:"type"`
	// Default is the default value in JSON notation (strings quoted).
	Default string `json:"default"`
	// Meaning says what the parameter does, in one sentence or two.
	Meaning string `json:"meaning"`
}

// Info describes an optimizer.
type Info struct {
	// Name is the optimizer's name, as used in experiments.
	Name string `json:"name"`
	// Version is the optimizer's own version.
	Version string `json:"version"`
	// Description says what the optimizer does, in a sentence.
	Description string `json:"description,omitempty"`
	// Params lists every parameter Problem.Params may set.
	Params []Param `json:"params"`
}
