// Command go-oneplusone is an example external optimizer plugin for ccq: a
// (1+1) evolutionary algorithm. Each generation proposes one candidate that
// moves every variable one level up or down with probability
// mutations/N; the candidate replaces the parent when it scores better on
// the generation's mini-batch.
//
// Build it and make it visible to ccq:
//
//	go build -o ~/ccq-plugins/ccq-optimizer-oneplusone ./plugins/examples/go-oneplusone
//	CCQ_PLUGIN_PATH=~/ccq-plugins ccq plugins
//
// then use plugin = "oneplusone" in an experiment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/ccq-project/ccq/plugins/sdk"
)

// params are the plugin's parameters with their defaults.
type params struct {
	Mutations float64 `json:"mutations"`
}

var paramList = []sdk.Param{
	{Name: "mutations", Type: "float", Default: "1", Meaning: "expected number of variables moved by one level per candidate"},
}

// onePlusOne is the optimizer's whole state.
type onePlusOne struct {
	prob   *sdk.Problem
	par    params
	pcg    *rand.PCG
	rng    *rand.Rand
	parent []int8
	cand   *sdk.Delta // the candidate of the pending generation
	moved  *sdk.Delta // change of the parent not yet reported to the host
	gens   int64
	wins   int64
}

func (o *onePlusOne) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "oneplusone", Version: "0.1.0", Description: "(1+1) EA moving about `mutations` weights by one level per generation", Params: paramList}, nil
}

func (o *onePlusOne) Init(_ context.Context, p *sdk.Problem) (sdk.InitResult, error) {
	o.par = params{Mutations: 1}
	if err := sdk.DecodeParams(p.Params, paramList, &o.par); err != nil {
		return sdk.InitResult{}, err
	}
	if !(o.par.Mutations > 0) {
		return sdk.InitResult{}, fmt.Errorf("params: mutations %v: expected > 0", o.par.Mutations)
	}
	o.prob = p
	o.pcg = rand.NewPCG(p.Seed, 11)
	o.rng = rand.New(o.pcg)
	o.parent = append([]int8(nil), p.Start...)
	sdk.Logger().Info("oneplusone ready", "variables", len(p.Start))
	return sdk.InitResult{MaxCandidates: 1}, nil
}

// neighbour returns v moved one allowed level up or down inside [lo, hi],
// or v itself if it cannot move.
func (o *onePlusOne) neighbour(i int, v int8) int8 {
	lo, hi := o.prob.Lo[i], o.prob.Hi[i]
	allowed := func(x int) bool {
		if x < int(lo) || x > int(hi) {
			return false
		}
		if len(o.prob.Alphabet) == 0 {
			return true
		}
		for _, a := range o.prob.Alphabet {
			if int(a) == x {
				return true
			}
		}
		return false
	}
	step := 1
	if o.rng.IntN(2) == 0 {
		step = -1
	}
	for _, s := range []int{step, -step} {
		for x := int(v) + s; x >= int(lo) && x <= int(hi); x += s {
			if allowed(x) {
				return int8(x)
			}
		}
	}
	return v
}

func (o *onePlusOne) Ask(context.Context) (*sdk.Ask, error) {
	if o.cand != nil {
		return nil, errors.New("ask twice without a tell")
	}
	n := len(o.parent)
	p := o.par.Mutations / float64(n)
	d := &sdk.Delta{}
	for i := 0; i < n; i++ {
		if o.rng.Float64() < p {
			if v := o.neighbour(i, o.parent[i]); v != o.parent[i] {
				d.Indices = append(d.Indices, int32(i))
				d.Levels = append(d.Levels, v)
			}
		}
	}
	o.cand = d
	a := &sdk.Ask{Base: o.moved, Candidates: []sdk.Delta{*d}, Stats: map[string]float64{"wins": float64(o.wins), "moved": float64(len(d.Indices))}}
	o.moved = nil
	return a, nil
}

func (o *onePlusOne) Tell(_ context.Context, t *sdk.Tell) error {
	if o.cand == nil || len(t.Fitness) != 1 {
		return errors.New("tell does not match the last ask")
	}
	if t.Fitness[0] < t.BaseFitness && len(o.cand.Indices) > 0 {
		o.cand.ApplyTo(o.parent)
		o.moved = o.cand
		o.wins++
	}
	o.cand = nil
	o.gens++
	return nil
}

// state is what Snapshot saves.
type state struct {
	RNG    []byte     `json:"rng"`
	Parent []int8     `json:"parent"`
	Moved  *sdk.Delta `json:"moved"`
	Gens   int64      `json:"gens"`
	Wins   int64      `json:"wins"`
}

func (o *onePlusOne) Snapshot(context.Context) ([]byte, error) {
	if o.cand != nil {
		return nil, errors.New("snapshot between ask and tell")
	}
	r, err := o.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(state{RNG: r, Parent: o.parent, Moved: o.moved, Gens: o.gens, Wins: o.wins})
}

func (o *onePlusOne) Restore(_ context.Context, b []byte) error {
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if len(s.Parent) != len(o.parent) {
		return fmt.Errorf("restore: %d levels, the problem has %d", len(s.Parent), len(o.parent))
	}
	pcg := &rand.PCG{}
	if err := pcg.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("restore: random generator: %w", err)
	}
	o.pcg, o.rng = pcg, rand.New(pcg)
	o.parent, o.moved, o.gens, o.wins, o.cand = s.Parent, s.Moved, s.Gens, s.Wins, nil
	return nil
}

func (o *onePlusOne) Best(context.Context) (*sdk.Solution, error) {
	return &sdk.Solution{Levels: append([]int8(nil), o.parent...)}, nil
}

func main() { sdk.Serve(&onePlusOne{}) }
