package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ccq-project/ccq/plugins/internal/snapcodec"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

// mutationEA is a (1+lambda) evolutionary algorithm: each candidate shifts a
// small random fraction of the variables of the parent (the base) by one
// level up or down, and the best candidate replaces the parent when it is
// better (re-checked on the next batch by default). It is the neuroevolution
// fine-tuning baseline of docs/paper-method.md.
type mutationEA struct {
	par    mutationParams
	digest string
	c      core
	inited bool

	movable []int32 // variables whose domain has more than one level
	m       int     // variables shifted per candidate

	sampled []optimizer.Delta
	nCands  int
}

const mutationName = "mutation-ea"

func (o *mutationEA) paramList() []optimizer.Param {
	return withDefaults(defaultMutationParams(), pLambda, pRate, pMinCh, pRadius, pAccept, pMargin, pRechk)
}

// Info implements optimizer.Optimizer.
func (o *mutationEA) Info(context.Context) (optimizer.Info, error) {
	return optimizer.Info{
		Name:        mutationName,
		Version:     "1.0.0",
		Description: "(1+lambda) EA that shifts a small random fraction of the weights by one level",
		Params:      o.paramList(),
	}, nil
}

// decodeParams reads and checks the parameters; lambda (if > 0) is the
// problem's suggested population, used when the parameters set none.
// checkParams checks parameters without a problem (CheckParams).
func (o *mutationEA) checkParams(raw []byte) error {
	_, err := o.decodeParams(raw, 0)
	return err
}

func (o *mutationEA) decodeParams(raw json.RawMessage, lambda int) (mutationParams, error) {
	par := defaultMutationParams()
	if err := optimizer.DecodeParams(raw, o.paramList(), &par); err != nil {
		return par, err
	}
	if lambda > 0 && !hasParam(raw, "lambda") {
		par.Lambda = lambda
	}
	return par, par.check()
}

// Init implements optimizer.Optimizer.
func (o *mutationEA) Init(_ context.Context, p *optimizer.Problem) (optimizer.InitResult, error) {
	if o.inited {
		return optimizer.InitResult{}, errors.New("init called twice")
	}
	if err := optimizer.ValidateProblem(p); err != nil {
		return optimizer.InitResult{}, err
	}
	par, err := o.decodeParams(p.Params, p.Lambda)
	if err != nil {
		return optimizer.InitResult{}, err
	}
	o.par = par
	o.digest = paramsDigest(par)
	o.c.init(mutationName, p, par.Radius, par.Accept, par.Margin, par.Rechecks)
	for i := 0; i < p.N(); i++ {
		if o.c.sp.size(i) > 1 {
			o.movable = append(o.movable, int32(i))
		}
	}
	o.m = max(par.MinChanges, int(math.Round(par.Rate*float64(len(o.movable)))))
	o.m = min(o.m, len(o.movable))
	o.inited = true
	return optimizer.InitResult{MaxCandidates: par.Lambda + 1}, nil
}

// Ask implements optimizer.Optimizer.
func (o *mutationEA) Ask(context.Context) (*optimizer.Ask, error) {
	if !o.inited {
		return nil, errors.New("ask before init")
	}
	if o.c.inGen {
		return nil, errors.New("ask twice without a tell")
	}
	o.c.makeProbes()
	st := make(map[string]float64, 12)
	o.c.commonStats(st)
	st["shifted_per_candidate"] = float64(o.m)
	base := o.c.takeBaseDelta()
	if o.m == 0 && len(o.c.probes) == 0 {
		return &optimizer.Ask{Base: base, Stats: st, Done: true}, nil
	}
	cands := o.c.probeCandidates()
	o.sampled = o.sampled[:0]
	if o.m > 0 {
		for k := 0; k < o.par.Lambda; k++ {
			o.sampled = append(o.sampled, o.mutate())
		}
	}
	for k := range o.sampled {
		cands = append(cands, o.sampled[k].Clone())
	}
	o.nCands = len(cands)
	o.c.inGen = true
	return &optimizer.Ask{Base: base, Candidates: cands, Stats: st}, nil
}

// mutate draws m distinct movable variables and shifts each by one level.
func (o *mutationEA) mutate() optimizer.Delta {
	sp := o.c.sp
	rng := o.c.rng
	s := o.c.nextStamp()
	idx := make([]int32, 0, o.m)
	lv := make([]int8, 0, o.m)
	for len(idx) < o.m {
		i := o.movable[rng.IntN(len(o.movable))]
		if o.c.stamp[i] == s {
			continue
		}
		o.c.stamp[i] = s
		a, b := int(sp.off[i]), int(sp.off[i+1])
		cur := sp.slot(int(i), o.c.base[i])
		dir := 1
		if rng.IntN(2) == 0 {
			dir = -1
		}
		if cur+dir < a || cur+dir >= b {
			dir = -dir
		}
		idx = append(idx, i)
		lv = append(lv, sp.vals[cur+dir])
	}
	return sortedDelta(idx, lv)
}

// Tell implements optimizer.Optimizer.
func (o *mutationEA) Tell(_ context.Context, t *optimizer.Tell) error {
	if err := o.c.checkTell(t, o.nCands); err != nil {
		return err
	}
	fit := sanitize(t.Fitness)
	fb := sanitize([]float64{t.BaseFitness})[0]
	np := len(o.c.probes)
	o.c.resolve(fit[:np], fb, o.sampled, fit[np:])
	o.c.gen++
	o.c.inGen = false
	return nil
}

// Snapshot implements optimizer.Optimizer.
func (o *mutationEA) Snapshot(context.Context) ([]byte, error) {
	if !o.inited {
		return nil, errors.New("snapshot before init")
	}
	e := snapcodec.NewEncoder(snapMagic)
	if err := o.c.encode(e, o.digest); err != nil {
		return nil, err
	}
	return e.Bytes(), nil
}

// Restore implements optimizer.Optimizer.
func (o *mutationEA) Restore(_ context.Context, state []byte) error {
	if !o.inited {
		return errors.New("restore before init")
	}
	d := snapcodec.NewDecoder(state, snapMagic)
	nc := o.c
	nc.decode(d, o.digest)
	if err := d.Done(); err != nil {
		return fmt.Errorf("restore %s: %w", mutationName, err)
	}
	o.c = nc
	o.sampled = o.sampled[:0]
	return nil
}

// Best implements optimizer.Optimizer.
func (o *mutationEA) Best(context.Context) (*optimizer.Solution, error) {
	if !o.inited {
		return nil, errors.New("best before init")
	}
	return &optimizer.Solution{Levels: slices.Clone(o.c.base)}, nil
}
