package builtin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/ccq-project/ccq/plugins/internal/snapcodec"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

// grouping is how the ccea family picks the group it optimises.
type grouping int

const (
	groupConfidence grouping = iota // ccea: least confident first, ties at random
	groupRandom                     // ccea-random: a random permutation
	groupLayer                      // ccea-layer: layers in turn, confidence order inside
	groupAll                        // eda: every unfrozen variable at once
)

// ccea is the cooperative-coevolution EDA of the paper (docs/paper-method.md) and its grouping
// variants. Every variable i has a categorical distribution p_i over its
// domain; each generation samples lambda candidates that draw the current
// group's variables from their p_i and take every other variable from the
// context vector, learns from the mu best, and keeps a better candidate as
// the context (with a re-check on the next batch by default). After a group's
// T generations, its variables whose confidence max_v p_i(v) reaches tau
// freeze.
type ccea struct {
	name    string
	version string
	mode    grouping
	par     cceaParams
	digest  string
	c       core
	inited  bool

	p    []float64 // probability of each slot
	conf []float64 // confidence of each variable
	cnt  []float64 // scratch: counts per slot

	g      int     // group size
	order  []int32 // this cycle's ordering of the unfrozen variables
	pos    int     // next group starts at order[pos]
	left   int     // groups left in this cycle
	group  []int32 // the current group, ascending
	genIn  int     // generations spent on the current group
	cycle  int64   // cycles started
	layer  int     // ccea-layer: next layer to visit
	curLay int     // ccea-layer: layer of the current cycle

	restarts int64   // restarts so far after everything froze
	scale    float64 // this generation's change-probability scale (changes > 0)

	sampled []optimizer.Delta // the last Ask's sampled candidates
	nCands  int
	keys    []rankKey // scratch for newCycle
}

// rankKey orders variables by confidence, ties at random (tie), then by
// index so that the order is total.
type rankKey struct {
	conf float64
	tie  uint64
	idx  int32
}

func compareKeys(a, b rankKey) int {
	if c := cmp.Compare(a.conf, b.conf); c != 0 {
		return c
	}
	if c := cmp.Compare(a.tie, b.tie); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// selectSmallest reorders a so that its m smallest keys come first (in no
// particular order): quickselect with a median-of-three pivot.
func selectSmallest(a []rankKey, m int) {
	lo, hi := 0, len(a)-1
	for lo < hi && m > lo && m <= hi {
		mid := lo + (hi-lo)/2
		if compareKeys(a[mid], a[lo]) < 0 {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if compareKeys(a[hi], a[lo]) < 0 {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if compareKeys(a[hi], a[mid]) < 0 {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for compareKeys(a[i], pivot) < 0 {
				i++
			}
			for compareKeys(a[j], pivot) > 0 {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		// Now a[lo..j] <= pivot <= a[i..hi], and j < i.
		switch {
		case m <= j:
			hi = j
		case m >= i:
			lo = i
		default:
			return
		}
	}
}

func newCCEA(name string, mode grouping) *ccea {
	return &ccea{name: name, version: "1.1.0", mode: mode, par: defaultCCEAParams()}
}

func (o *ccea) paramList() []optimizer.Param {
	d := defaultCCEAParams()
	if o.mode == groupAll {
		return withPreset(withDefaults(d, pLambda, pMu, pAlpha, pEps, pFloor, pTEDA, pTau, pTauTol, pRadius, pFreeze, pAccept, pMargin, pRechk, pFollow, pLearn, pChange, pRestrt, pRBelow))
	}
	return withPreset(withDefaults(d, pLambda, pMu, pAlpha, pEps, pFloor, pGroup, pFrac, pT, pK, pTau, pTauTol, pRadius, pFreeze, pAccept, pMargin, pRechk, pFollow, pLearn, pChange, pRestrt, pRBelow))
}

func (o *ccea) description() string {
	switch o.mode {
	case groupRandom:
		return "cooperative-coevolution EDA with random grouping (classic random-grouping CC)"
	case groupLayer:
		return "cooperative-coevolution EDA whose groups never cross a layer: layers in turn, least confident first inside a layer"
	case groupAll:
		return "estimation-of-distribution algorithm over all variables at once (no decomposition)"
	}
	return "cooperative-coevolution EDA that optimises the least confident group of weights first (Peng et al. 2021)"
}

// Info implements optimizer.Optimizer.
func (o *ccea) Info(context.Context) (optimizer.Info, error) {
	return optimizer.Info{Name: o.name, Version: o.version, Description: o.description(), Params: o.paramList()}, nil
}

// decodeParams reads and checks the parameters: the defaults, or the
// preset the parameters name, overridden by every parameter set explicitly.
// lambda (if > 0) is the problem's suggested population, used when neither
// the parameters nor a preset set one.
// checkParams checks parameters without a problem (CheckParams).
func (o *ccea) checkParams(raw []byte) error {
	_, err := o.decodeParams(raw, 0)
	return err
}

func (o *ccea) decodeParams(raw json.RawMessage, lambda int) (cceaParams, error) {
	par, preset, err := cceaBase(raw)
	if err != nil {
		return defaultCCEAParams(), err
	}
	// The preset's name is a declared parameter that the struct has no
	// field for: DecodeParams accepts it and json leaves it out.
	if err := optimizer.DecodeParams(raw, o.paramList(), &par); err != nil {
		return par, err
	}
	if lambda > 0 && !hasParam(raw, "lambda") && !preset {
		par.Lambda = lambda
	}
	if !hasParam(raw, "mu") {
		par.Mu = min(par.Mu, par.Lambda) // the default 8 shrinks with a small lambda
	}
	return par, par.check()
}

// Init implements optimizer.Optimizer.
func (o *ccea) Init(_ context.Context, p *optimizer.Problem) (optimizer.InitResult, error) {
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
	o.c.init(o.name, p, par.Radius, par.Accept, par.Margin, par.Rechecks)
	if par.Follow == FollowSwap {
		o.c.onMove = o.swap
	}
	sp := o.c.sp
	n := p.N()
	maxSize := 0
	for i := 0; i < n; i++ {
		maxSize = max(maxSize, sp.size(i))
	}
	if par.Eps*float64(maxSize-1) >= 1 {
		return optimizer.InitResult{}, fmt.Errorf("params: eps %v too large for domains of %d levels: the start level would get no probability", par.Eps, maxSize)
	}
	if par.Floor*float64(maxSize) >= 1 {
		return optimizer.InitResult{}, fmt.Errorf("params: floor %v too large for domains of %d levels", par.Floor, maxSize)
	}
	o.p = make([]float64, len(sp.vals))
	o.cnt = make([]float64, len(sp.vals))
	o.conf = make([]float64, n)
	for i := 0; i < n; i++ {
		o.resetDist(i, p.Start[i])
	}
	o.g = par.GroupSize
	if par.GroupFraction > 0 {
		o.g = max(1, int(par.GroupFraction*float64(n)+0.5))
	}
	o.inited = true
	return optimizer.InitResult{MaxCandidates: par.Lambda + maxProbes}, nil
}

// newCycle orders the unfrozen variables for a new cycle; false if none.
func (o *ccea) newCycle() bool {
	// An empty order must leave a consistent position: a finished run's
	// snapshot is restored when a finished stage is resumed.
	o.order, o.pos, o.left = o.order[:0], 0, 0
	switch o.mode {
	case groupLayer:
		ls := o.c.prob.Layers
		found := false
		for t := 0; t < len(ls) && !found; t++ {
			l := (o.layer + t) % len(ls)
			for i := ls[l].Offset; i < ls[l].Offset+ls[l].Count; i++ {
				if !o.c.frozen[i] {
					o.order = append(o.order, int32(i))
				}
			}
			if len(o.order) > 0 {
				found = true
				o.curLay = l
				o.layer = (l + 1) % len(ls)
			}
		}
	default:
		for i, f := range o.c.frozen {
			if !f {
				o.order = append(o.order, int32(i))
			}
		}
	}
	if len(o.order) == 0 {
		return false
	}
	// Only the first K groups of a cycle are used: select the K*G least
	// confident variables (ties broken at random) instead of sorting all.
	rng := o.c.rng
	m := min(len(o.order), o.par.GroupsPerCycle*o.g)
	if o.mode == groupConfidence || o.mode == groupLayer {
		o.keys = o.keys[:0]
		for _, i := range o.order {
			o.keys = append(o.keys, rankKey{conf: o.conf[i], tie: rng.Uint64(), idx: i})
		}
		selectSmallest(o.keys, m)
		slices.SortFunc(o.keys[:m], compareKeys)
		for k := 0; k < m; k++ {
			o.order[k] = o.keys[k].idx
		}
	} else {
		for k := 0; k < m; k++ { // partial Fisher-Yates shuffle
			j := k + rng.IntN(len(o.order)-k)
			o.order[k], o.order[j] = o.order[j], o.order[k]
		}
	}
	o.order = o.order[:m]
	o.pos = 0
	o.left = o.par.GroupsPerCycle
	o.cycle++
	return true
}

// restart unfreezes every variable whose domain has more than one level and
// resets its distribution to the initial one, centred on the context
// instead of the start. It reports whether anything was unfrozen (never
// once the allowed number of restarts is used up).
func (o *ccea) restart() bool {
	if o.restarts >= int64(o.par.Restarts) {
		return false
	}
	sp := o.c.sp
	unfrozen := false
	for i := range o.c.frozen {
		if !o.c.frozen[i] || sp.size(i) <= 1 {
			continue
		}
		o.c.frozen[i] = false
		o.c.nFrozen--
		unfrozen = true
		o.resetDist(i, o.c.base[i])
	}
	if unfrozen {
		o.restarts++
		o.left = 0 // the next group starts a new cycle over every variable
	}
	return unfrozen
}

// fewUnfrozen reports whether some but fewer than restart_below of the
// variables are unfrozen.
func (o *ccea) fewUnfrozen() bool {
	n := len(o.c.base)
	un := n - o.c.nFrozen
	return o.par.RestartBelow > 0 && un > 0 && float64(un) < o.par.RestartBelow*float64(n)
}

// resetDist sets variable i's distribution to the initial one, biased to
// level at: p(at) = 1 - eps*(|D|-1), every other level eps.
func (o *ccea) resetDist(i int, at int8) {
	sp := o.c.sp
	a, b := int(sp.off[i]), int(sp.off[i+1])
	s0 := sp.slot(i, at)
	for s := a; s < b; s++ {
		if s == s0 {
			o.p[s] = 1 - o.par.Eps*float64(b-a-1)
		} else {
			o.p[s] = o.par.Eps
		}
	}
	o.conf[i] = o.p[s0]
}

// nextGroup picks the group to optimise; it leaves o.group empty when every
// variable is frozen.
func (o *ccea) nextGroup() {
	o.group = o.group[:0]
	o.genIn = 0
	if o.fewUnfrozen() {
		o.restart()
	}
	if o.mode == groupAll {
		for i, f := range o.c.frozen {
			if !f {
				o.group = append(o.group, int32(i))
			}
		}
		if len(o.group) == 0 && o.restart() {
			o.nextGroup()
			return
		}
		if len(o.group) > 0 {
			o.cycle++
		}
		return
	}
	for {
		if o.left <= 0 || o.pos >= len(o.order) {
			if !o.newCycle() && !(o.restart() && o.newCycle()) {
				return
			}
		}
		end := min(o.pos+o.g, len(o.order))
		for _, i := range o.order[o.pos:end] {
			if !o.c.frozen[i] {
				o.group = append(o.group, i)
			}
		}
		o.pos = end
		o.left--
		if len(o.group) > 0 {
			slices.Sort(o.group)
			return
		}
	}
}

// Ask implements optimizer.Optimizer.
func (o *ccea) Ask(context.Context) (*optimizer.Ask, error) {
	if !o.inited {
		return nil, errors.New("ask before init")
	}
	if o.c.inGen {
		return nil, errors.New("ask twice without a tell")
	}
	if len(o.group) == 0 {
		o.nextGroup()
	}
	o.c.makeProbes()
	st := o.stats()
	base := o.c.takeBaseDelta()
	if len(o.group) == 0 && len(o.c.probes) == 0 {
		return &optimizer.Ask{Base: base, Stats: st, Done: true}, nil
	}
	cands := o.c.probeCandidates()
	o.sampled = o.sampled[:0]
	if len(o.group) > 0 {
		o.setScale()
		for k := 0; k < o.par.Lambda; k++ {
			o.sampled = append(o.sampled, o.sample())
		}
		o.sampled = dedupe(o.sampled)
	}
	for k := range o.sampled {
		cands = append(cands, o.sampled[k].Clone())
	}
	o.nCands = len(cands)
	o.c.inGen = true
	return &optimizer.Ask{Base: base, Candidates: cands, Stats: st}, nil
}

// setScale computes this generation's change-probability scale: with
// changes = m > 0, s = m / sum over the group of (1 - p(context level)).
func (o *ccea) setScale() {
	o.scale = 0
	if o.par.Changes <= 0 {
		return
	}
	sp := o.c.sp
	w := 0.0
	for _, i := range o.group {
		w += 1 - o.p[sp.slot(int(i), o.c.base[i])]
	}
	if w > 0 {
		o.scale = o.par.Changes / w
	}
}

// sample draws one candidate: the group's variables from their
// distributions, the rest from the context. Only changes are listed.
// With changes > 0 a variable leaves its context level with probability
// min(1, scale*(1-p(context level))) and then takes one of its other
// levels in proportion to their probabilities.
func (o *ccea) sample() optimizer.Delta {
	sp := o.c.sp
	rng := o.c.rng
	var d optimizer.Delta
	for _, i := range o.group {
		a, b := int(sp.off[i]), int(sp.off[i+1])
		u := rng.Float64()
		s := a
		if o.par.Changes > 0 {
			sb := sp.slot(int(i), o.c.base[i])
			out := 1 - o.p[sb]
			pc := min(1, o.scale*out)
			if !(u < pc) || out <= 0 {
				continue
			}
			// u/pc is uniform on [0, 1): pick a non-context level in
			// proportion to its probability (out > 0: there is one).
			s = o.pickOther(a, b, sb, u/pc*out)
		} else {
			acc := o.p[a]
			for s < b-1 && u >= acc {
				s++
				acc += o.p[s]
			}
		}
		if v := sp.vals[s]; v != o.c.base[i] {
			d.Indices = append(d.Indices, i)
			d.Levels = append(d.Levels, v)
		}
	}
	if len(d.Indices) == 0 {
		o.forceChange(&d)
	}
	return d
}

// dedupe drops repeated candidates (same changes), keeping the first of
// each: scoring a repeat on the same batch would waste an evaluation. It
// happens only with tiny groups, e.g. one variable left unfrozen.
func dedupe(cs []optimizer.Delta) []optimizer.Delta {
	if len(cs) < 2 {
		return cs
	}
	seen := make(map[uint64][]int, len(cs))
	out := cs[:0]
	for _, c := range cs {
		h := deltaHash(c)
		dup := false
		for _, k := range seen[h] {
			if slices.Equal(out[k].Indices, c.Indices) && slices.Equal(out[k].Levels, c.Levels) {
				dup = true
				break
			}
		}
		if !dup {
			seen[h] = append(seen[h], len(out))
			out = append(out, c)
		}
	}
	return out
}

// deltaHash is an FNV-1a hash of a delta's indices and levels.
func deltaHash(d optimizer.Delta) uint64 {
	h := uint64(14695981039346656037)
	for e, i := range d.Indices {
		for _, b := range [5]byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24), byte(d.Levels[e])} {
			h ^= uint64(b)
			h *= 1099511628211
		}
	}
	return h
}

// forceChange moves one random group variable to one of its other levels
// (in proportion to their probabilities, uniformly if they are all zero):
// a candidate equal to the context would waste an evaluation.
func (o *ccea) forceChange(d *optimizer.Delta) {
	sp := o.c.sp
	rng := o.c.rng
	i := o.group[rng.IntN(len(o.group))]
	a, b := int(sp.off[i]), int(sp.off[i+1])
	sb := sp.slot(int(i), o.c.base[i])
	out := 0.0
	for s := a; s < b; s++ {
		if s != sb {
			out += o.p[s]
		}
	}
	u := rng.Float64()
	pick := -1
	if out > 0 {
		pick = o.pickOther(a, b, sb, u*out)
	} else if b-a > 1 {
		pick = a + int(u*float64(b-a-1))
		if pick >= sb {
			pick++
		}
	}
	if pick >= 0 {
		d.Indices = append(d.Indices, i)
		d.Levels = append(d.Levels, sp.vals[pick])
	}
}

// Tell implements optimizer.Optimizer.
func (o *ccea) Tell(_ context.Context, t *optimizer.Tell) error {
	if err := o.c.checkTell(t, o.nCands); err != nil {
		return err
	}
	fit := sanitize(t.Fitness)
	fb := sanitize([]float64{t.BaseFitness})[0]
	np := len(o.c.probes)
	sfit := fit[np:]
	if len(o.sampled) > 0 {
		o.learn(sfit, fb)
	}
	o.c.resolve(fit[:np], fb, o.sampled, sfit)
	if len(o.group) > 0 {
		o.genIn++
		if o.genIn >= o.par.GensPerGroup {
			o.freeze()
			o.group = o.group[:0]
		}
	}
	o.c.gen++
	o.c.inGen = false
	return nil
}

// learn updates the group's distributions from the mu best sampled
// candidates: p <- (1-alpha) p + alpha q, floored and renormalised. With
// learn = "better" only those of the mu best that beat the context's
// fitness fb count; the context's own levels fill the other places.
func (o *ccea) learn(sfit []float64, fb float64) {
	sp := o.c.sp
	rank := make([]int, len(sfit))
	for k := range rank {
		rank[k] = k
	}
	slices.SortStableFunc(rank, func(a, b int) int { return cmp.Compare(sfit[a], sfit[b]) })
	mu := min(o.par.Mu, len(rank))
	fmu := float64(mu)
	for _, i := range o.group {
		o.cnt[sp.slot(int(i), o.c.base[i])] += fmu
	}
	better := o.par.Learn == LearnBetter
	for _, k := range rank[:mu] {
		if better && !(sfit[k] < fb) {
			continue // counts as the context
		}
		d := &o.sampled[k]
		for e, i := range d.Indices {
			o.cnt[sp.slot(int(i), o.c.base[i])]--
			o.cnt[sp.slot(int(i), d.Levels[e])]++
		}
	}
	alpha, floor := o.par.Alpha, o.par.Floor
	for _, i := range o.group {
		a, b := int(sp.off[i]), int(sp.off[i+1])
		sum := 0.0
		for s := a; s < b; s++ {
			v := (1-alpha)*o.p[s] + alpha*o.cnt[s]/fmu
			if v < floor {
				v = floor
			}
			o.p[s] = v
			o.cnt[s] = 0
			sum += v
		}
		c := 0.0
		for s := a; s < b; s++ {
			o.p[s] /= sum
			c = max(c, o.p[s])
		}
		o.conf[i] = c
	}
}

// swap re-centres variable i's distribution when the context moves it from
// level from to level to: the two levels exchange their probabilities, so
// the level the distribution preferred for the old context value is now
// preferred for the new one (confidence unchanged).
func (o *ccea) swap(i int32, from, to int8) {
	a, b := o.c.sp.slot(int(i), from), o.c.sp.slot(int(i), to)
	if a >= 0 && b >= 0 {
		o.p[a], o.p[b] = o.p[b], o.p[a]
	}
}

// freeze freezes the group's variables whose confidence reached tau.
func (o *ccea) freeze() {
	sp := o.c.sp
	thr := o.par.Tau - o.par.TauTolerance
	for _, i := range o.group {
		if o.conf[i] < thr {
			continue
		}
		a, b := int(sp.off[i]), int(sp.off[i+1])
		top := a
		for s := a + 1; s < b; s++ {
			if o.p[s] > o.p[top] {
				top = s
			}
		}
		target := sp.vals[top]
		o.c.frozen[i] = true
		o.c.nFrozen++
		if target == o.c.base[i] {
			continue
		}
		switch o.par.FreezeCheck {
		case FreezeNone:
			o.c.setBase(i, target)
		case FreezeEval:
			o.c.freezeIdx = append(o.c.freezeIdx, i)
			o.c.freezeVal = append(o.c.freezeVal, target)
		}
	}
}

func (o *ccea) stats() map[string]float64 {
	st := make(map[string]float64, 20)
	o.c.commonStats(st)
	st["group_size"] = float64(len(o.group))
	gc := 0.0
	for _, i := range o.group {
		gc += o.conf[i]
	}
	if len(o.group) > 0 {
		gc /= float64(len(o.group))
	}
	st["group_mean_confidence"] = gc
	mc, nu := 0.0, 0
	for i, f := range o.c.frozen {
		if !f {
			mc += o.conf[i]
			nu++
		}
	}
	if nu > 0 {
		mc /= float64(nu)
	}
	st["mean_confidence"] = mc
	st["cycle"] = float64(o.cycle)
	st["restarts"] = float64(o.restarts)
	st["group_generation"] = float64(o.genIn)
	if o.mode == groupLayer {
		st["layer"] = float64(o.curLay)
	}
	return st
}

// Snapshot implements optimizer.Optimizer.
func (o *ccea) Snapshot(context.Context) ([]byte, error) {
	if !o.inited {
		return nil, errors.New("snapshot before init")
	}
	e := snapcodec.NewEncoder(snapMagic)
	if err := o.c.encode(e, o.digest); err != nil {
		return nil, err
	}
	e.F64s(o.p)
	e.I32s(o.order)
	e.Int(o.pos)
	e.Int(o.left)
	e.I32s(o.group)
	e.Int(o.genIn)
	e.I64(o.cycle)
	e.Int(o.layer)
	e.Int(o.curLay)
	e.I64(o.restarts)
	return e.Bytes(), nil
}

// Restore implements optimizer.Optimizer.
func (o *ccea) Restore(_ context.Context, state []byte) error {
	if !o.inited {
		return errors.New("restore before init")
	}
	d := snapcodec.NewDecoder(state, snapMagic)
	nc := o.c
	nc.decode(d, o.digest)
	p := d.Field("probabilities").F64s()
	order := d.Field("order").I32s()
	pos := d.Field("pos").Int()
	left := d.Field("left").Int()
	group := d.Field("group").I32s()
	genIn := d.Field("group_generation").Int()
	cycle := d.Field("cycle").I64()
	layer := d.Field("layer").Int()
	curLay := d.Field("current_layer").Int()
	restarts := d.Field("restarts").I64()
	if err := d.Done(); err != nil {
		return fmt.Errorf("restore %s: %w", o.name, err)
	}
	n := len(o.c.base)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("restore %s: inconsistent snapshot: %s", o.name, fmt.Sprintf(format, args...))
	}
	if len(p) != len(o.p) {
		return bad("%d probabilities, expected %d", len(p), len(o.p))
	}
	for _, v := range p {
		if !(v >= 0 && v <= 1) {
			return bad("probability %v outside [0, 1]", v)
		}
	}
	for _, lst := range [][]int32{order, group} {
		s := nc.nextStamp()
		for _, i := range lst {
			if i < 0 || int(i) >= n {
				return bad("variable index %d out of range", i)
			}
			if nc.stamp[i] == s {
				return bad("variable %d listed twice", i)
			}
			nc.stamp[i] = s
		}
	}
	for _, i := range group {
		if nc.frozen[i] {
			return bad("frozen variable %d in the current group", i)
		}
	}
	if pos < 0 || pos > len(order) || genIn < 0 || layer < 0 || layer >= len(o.c.prob.Layers) || curLay < 0 || curLay >= len(o.c.prob.Layers) {
		return bad("cycle position out of range")
	}
	o.c = nc
	o.p = p
	sp := o.c.sp
	for i := 0; i < n; i++ {
		c := 0.0
		for s := sp.off[i]; s < sp.off[i+1]; s++ {
			c = max(c, p[s])
		}
		o.conf[i] = c
	}
	o.order, o.pos, o.left, o.group, o.genIn, o.cycle, o.layer, o.curLay = order, pos, left, group, genIn, cycle, layer, curLay
	o.restarts = restarts
	o.sampled = o.sampled[:0]
	return nil
}

// Best implements optimizer.Optimizer.
func (o *ccea) Best(context.Context) (*optimizer.Solution, error) {
	if !o.inited {
		return nil, errors.New("best before init")
	}
	return o.c.best(), nil
}

// pickOther returns the slot in [a, b), other than skip, where the running
// sum of the slots' probabilities (skip left out) first exceeds u; the last
// such slot if rounding leaves u above the total; -1 if there is none.
func (o *ccea) pickOther(a, b, skip int, u float64) int {
	pick := -1
	acc := 0.0
	for t := a; t < b; t++ {
		if t == skip {
			continue
		}
		pick = t
		acc += o.p[t]
		if u < acc {
			break
		}
	}
	return pick
}
