package builtin

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/ccq-project/ccq/plugins/internal/snapcodec"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

// probeKind says why a candidate at the head of an Ask's list is there.
type probeKind uint8

const (
	// probeRecheck re-scores the challenger: a candidate that beat the
	// context on the previous batch (accept = "recheck").
	probeRecheck probeKind = 1
	// probeFreeze scores the context with newly frozen variables moved to
	// their most probable levels (freeze_check = "eval").
	probeFreeze probeKind = 2
)

// maxProbes is the most probes one Ask carries (one of each kind).
const maxProbes = 2

// core is the state every built-in variant shares: the domain, the context
// vector (the base), the frozen set, the random generator, and the guarded
// acceptance of better solutions (challenger re-check, freeze check).
type core struct {
	variant string
	prob    *optimizer.Problem
	sp      *space
	pcg     *rand.PCG
	rng     *rand.Rand

	base     []int8 // the context vector
	reported []int8 // the base as last sent to the host
	dirty    bool   // base != reported somewhere
	frozen   []bool
	nFrozen  int

	accept   Accept
	margin   float64
	rechecks int // consecutive re-checks a challenger must pass

	// chal is the challenger (a delta against base) awaiting its re-check;
	// chalWins counts the re-checks it has passed so far.
	chal     *optimizer.Delta
	chalWins int
	// freezeIdx/freezeVal are frozen variables whose most probable level
	// differs from the base, awaiting the freeze check.
	freezeIdx []int32
	freezeVal []int8

	gen    int64
	inGen  bool
	probes []probeKind
	pdelta []optimizer.Delta

	accepted, recheckPassed, recheckFailed, freezeAccepted, freezeRejected int64

	stamp []uint32
	cur   uint32

	// onMove, if set, is told of every change of a base variable (the
	// ccea family re-centres that variable's distribution on it).
	onMove func(i int32, from, to int8)
}

func (c *core) init(variant string, p *optimizer.Problem, radius int, accept Accept, margin float64, rechecks int) {
	c.variant = variant
	c.prob = p
	c.sp = newSpace(p, radius)
	c.pcg = rand.NewPCG(p.Seed, 0x63637120706c7567) // "ccq plug"
	c.rng = rand.New(c.pcg)
	c.base = slices.Clone(p.Start)
	c.reported = slices.Clone(p.Start)
	c.frozen = make([]bool, p.N())
	for i := range c.frozen {
		if c.sp.size(i) <= 1 {
			c.frozen[i] = true
			c.nFrozen++
		}
	}
	c.accept = accept
	c.margin = margin
	c.rechecks = max(1, rechecks)
	c.stamp = make([]uint32, p.N())
}

func (c *core) nextStamp() uint32 {
	c.cur++
	if c.cur == 0 {
		clear(c.stamp)
		c.cur = 1
	}
	return c.cur
}

// setBase changes one variable of the base.
func (c *core) setBase(i int32, v int8) {
	if old := c.base[i]; old != v {
		if c.onMove != nil {
			c.onMove(i, old, v)
		}
		c.base[i] = v
		c.dirty = true
	}
}

// takeBaseDelta returns the change of the base since the last report, or nil.
func (c *core) takeBaseDelta() *optimizer.Delta {
	if !c.dirty {
		return nil
	}
	d := &optimizer.Delta{}
	for i, v := range c.base {
		if v != c.reported[i] {
			d.Indices = append(d.Indices, int32(i))
			d.Levels = append(d.Levels, v)
			c.reported[i] = v
		}
	}
	c.dirty = false
	if len(d.Indices) == 0 {
		return nil
	}
	return d
}

// makeProbes builds this generation's probes: the challenger's re-check and
// the freeze check (unless the challenger touches a variable it would move;
// it then waits until the challenger is resolved).
func (c *core) makeProbes() {
	c.probes = c.probes[:0]
	c.pdelta = c.pdelta[:0]
	if c.chal != nil {
		c.probes = append(c.probes, probeRecheck)
		c.pdelta = append(c.pdelta, *c.chal)
	}
	// Drop pending freezes that already agree with the base.
	k := 0
	for j, i := range c.freezeIdx {
		if c.base[i] != c.freezeVal[j] {
			c.freezeIdx[k], c.freezeVal[k] = i, c.freezeVal[j]
			k++
		}
	}
	c.freezeIdx, c.freezeVal = c.freezeIdx[:k], c.freezeVal[:k]
	if k == 0 {
		return
	}
	if c.chal != nil {
		s := c.nextStamp()
		for _, i := range c.chal.Indices {
			c.stamp[i] = s
		}
		for _, i := range c.freezeIdx {
			if c.stamp[i] == s {
				return // overlaps the challenger: wait
			}
		}
	}
	d := sortedDelta(slices.Clone(c.freezeIdx), slices.Clone(c.freezeVal))
	c.probes = append(c.probes, probeFreeze)
	c.pdelta = append(c.pdelta, d)
}

// sortedDelta sorts a delta's entries by index.
func sortedDelta(idx []int32, lv []int8) optimizer.Delta {
	sort.Sort(byIndex{idx, lv})
	return optimizer.Delta{Indices: idx, Levels: lv}
}

type byIndex struct {
	idx []int32
	lv  []int8
}

func (b byIndex) Len() int           { return len(b.idx) }
func (b byIndex) Less(i, j int) bool { return b.idx[i] < b.idx[j] }
func (b byIndex) Swap(i, j int) {
	b.idx[i], b.idx[j] = b.idx[j], b.idx[i]
	b.lv[i], b.lv[j] = b.lv[j], b.lv[i]
}

// sanitize turns NaN fitnesses into +Inf so that they never win a comparison.
func sanitize(f []float64) []float64 {
	out := slices.Clone(f)
	for k, v := range out {
		if math.IsNaN(v) {
			out[k] = math.Inf(1)
		}
	}
	return out
}

// checkTell checks the Tell against the last Ask.
func (c *core) checkTell(t *optimizer.Tell, nCands int) error {
	if !c.inGen {
		return errors.New("tell without a pending ask")
	}
	if t == nil || len(t.Fitness) != nCands {
		n := 0
		if t != nil {
			n = len(t.Fitness)
		}
		return fmt.Errorf("tell has %d fitnesses, the last ask had %d candidates", n, nCands)
	}
	return nil
}

// resolve decides what becomes the context after a generation: the best
// passing probe (if any) is taken, a challenger only once it has passed
// its last required re-check; then the best sampled candidate either
// becomes the challenger (accept = recheck) or the context (greedy) if it
// beats the (new) context on this batch by more than the margin. A
// challenger that has passed some but not all of its re-checks is not
// replaced by a new one.
// pfit are the probes' fitnesses, sampled/sfit the other candidates'.
func (c *core) resolve(pfit []float64, fb float64, sampled []optimizer.Delta, sfit []float64) {
	win := -1
	var pass [maxProbes]bool
	for k, kind := range c.probes {
		f := pfit[k]
		eligible := false
		switch kind {
		case probeRecheck:
			pass[k] = f < fb-c.margin
			eligible = pass[k] && c.chalWins+1 >= c.rechecks
		case probeFreeze:
			pass[k] = f <= fb
			eligible = pass[k]
		}
		if eligible && (win < 0 || f < pfit[win]) {
			win = k
		}
	}
	fbNew := fb
	var wd *optimizer.Delta
	var oldVals []int8
	if win >= 0 {
		wd = &c.pdelta[win]
		oldVals = make([]int8, len(wd.Indices))
		for e, i := range wd.Indices {
			oldVals[e] = c.base[i]
			c.setBase(i, wd.Levels[e])
		}
		fbNew = pfit[win]
		c.accepted++
	}
	chalFit := math.Inf(1)
	for k, kind := range c.probes {
		switch kind {
		case probeRecheck:
			switch {
			case k == win:
				c.recheckPassed++
				c.chal, c.chalWins = nil, 0
			case pass[k]:
				c.recheckPassed++
				c.chalWins++
				d := c.rebase(c.chal, wd, oldVals)
				c.chal, chalFit = &d, pfit[k]
				if len(d.Indices) == 0 {
					c.chal, c.chalWins = nil, 0
				}
			default:
				c.recheckFailed++
				c.chal, c.chalWins = nil, 0
			}
		case probeFreeze:
			switch {
			case k == win:
				c.freezeAccepted++
				c.freezeIdx, c.freezeVal = c.freezeIdx[:0], c.freezeVal[:0]
			case pass[k]:
				// Keep it pending: it is rebuilt against the new base.
			default:
				c.freezeRejected++
				c.freezeIdx, c.freezeVal = c.freezeIdx[:0], c.freezeVal[:0]
			}
		}
	}
	best := -1
	for k, f := range sfit {
		if best < 0 || f < sfit[best] {
			best = k
		}
	}
	if best < 0 || !(sfit[best] < fbNew-c.margin) {
		return
	}
	d := c.rebase(&sampled[best], wd, oldVals)
	if len(d.Indices) == 0 {
		return
	}
	if c.accept == AcceptGreedy {
		for e, i := range d.Indices {
			c.setBase(i, d.Levels[e])
		}
		c.accepted++
		return
	}
	midway := c.chalWins > 0 && c.chalWins < c.rechecks
	if c.chal == nil || (sfit[best] < chalFit && !midway) {
		c.chal, c.chalWins = &d, 0
	}
}

// rebase re-expresses a solution given as delta ds against the old base as
// a delta against the current base, where the current base is the old base
// changed by wd (whose old levels are oldVals). wd may be nil.
func (c *core) rebase(ds *optimizer.Delta, wd *optimizer.Delta, oldVals []int8) optimizer.Delta {
	var idx []int32
	var lv []int8
	s := c.nextStamp()
	for e, i := range ds.Indices {
		c.stamp[i] = s
		if ds.Levels[e] != c.base[i] {
			idx = append(idx, i)
			lv = append(lv, ds.Levels[e])
		}
	}
	if wd != nil {
		for e, i := range wd.Indices {
			if c.stamp[i] != s && oldVals[e] != c.base[i] {
				idx = append(idx, i)
				lv = append(lv, oldVals[e])
			}
		}
	}
	return sortedDelta(idx, lv)
}

// probeCandidates returns the probes as the head of a candidate list.
func (c *core) probeCandidates() []optimizer.Delta {
	out := make([]optimizer.Delta, len(c.pdelta))
	for k := range c.pdelta {
		out[k] = c.pdelta[k].Clone()
	}
	return out
}

// commonStats adds the figures every variant reports.
func (c *core) commonStats(st map[string]float64) {
	n := float64(len(c.base))
	changed := 0
	for i, v := range c.base {
		if v != c.prob.Start[i] {
			changed++
		}
	}
	st["frozen_fraction"] = float64(c.nFrozen) / n
	st["changed_fraction"] = float64(changed) / n
	st["accepted"] = float64(c.accepted)
	st["recheck_passed"] = float64(c.recheckPassed)
	st["recheck_failed"] = float64(c.recheckFailed)
	st["freeze_accepted"] = float64(c.freezeAccepted)
	st["freeze_rejected"] = float64(c.freezeRejected)
	st["probes"] = float64(len(c.probes))
	if c.chal != nil {
		st["challenger_size"] = float64(len(c.chal.Indices))
	} else {
		st["challenger_size"] = 0
	}
	st["challenger_wins"] = float64(c.chalWins)
}

// best returns the context vector.
func (c *core) best() *optimizer.Solution {
	return &optimizer.Solution{Levels: slices.Clone(c.base)}
}

const snapMagic = "CCQBUILTIN3\n"

// encode writes the shared state.
func (c *core) encode(e *snapcodec.Encoder, digest string) error {
	if c.inGen {
		return errors.New("snapshot between ask and tell: snapshots are taken at generation boundaries")
	}
	e.String(c.variant)
	e.String(digest)
	e.Int(len(c.base))
	e.Int(len(c.sp.vals))
	rs, err := c.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("snapshot: random generator: %w", err)
	}
	e.Raw(rs)
	e.I64(c.gen)
	e.I8s(c.base)
	e.I8s(c.reported)
	e.Bool(c.dirty)
	e.Bools(c.frozen)
	e.Bool(c.chal != nil)
	if c.chal != nil {
		e.I32s(c.chal.Indices)
		e.I8s(c.chal.Levels)
		e.Int(c.chalWins)
	}
	e.I32s(c.freezeIdx)
	e.I8s(c.freezeVal)
	for _, v := range []int64{c.accepted, c.recheckPassed, c.recheckFailed, c.freezeAccepted, c.freezeRejected} {
		e.I64(v)
	}
	return nil
}

// decode reads the shared state written by encode into c, checking it
// against the problem c was initialised with.
func (c *core) decode(d *snapcodec.Decoder, digest string) {
	n := len(c.base)
	if v := d.Field("variant").String(); d.Err() == nil && v != c.variant {
		d.Fail("snapshot of %q, this optimizer is %q", v, c.variant)
	}
	if v := d.Field("params").String(); d.Err() == nil && v != digest {
		d.Fail("snapshot taken with other parameters")
	}
	if v := d.Field("variables").Int(); d.Err() == nil && v != n {
		d.Fail("snapshot has %d variables, the problem %d", v, n)
	}
	if v := d.Field("slots").Int(); d.Err() == nil && v != len(c.sp.vals) {
		d.Fail("snapshot has %d domain slots, the problem %d (other domains or radius)", v, len(c.sp.vals))
	}
	rs := d.Field("rng").Raw()
	gen := d.Field("generation").I64()
	base := d.Field("base").I8s()
	reported := d.Field("reported").I8s()
	dirty := d.Field("dirty").Bool()
	frozen := d.Field("frozen").Bools()
	var chal *optimizer.Delta
	chalWins := 0
	if d.Field("challenger").Bool() {
		chal = &optimizer.Delta{Indices: d.I32s(), Levels: d.I8s()}
		chalWins = d.Int()
	}
	fi := d.Field("freeze_indices").I32s()
	fv := d.Field("freeze_levels").I8s()
	var counters [5]int64
	for k := range counters {
		counters[k] = d.Field("counters").I64()
	}
	if d.Err() != nil {
		return
	}
	d.Field("state")
	if len(base) != n || len(reported) != n || len(frozen) != n {
		d.Fail("vector lengths %d/%d/%d, expected %d", len(base), len(reported), len(frozen), n)
		return
	}
	for i := 0; i < n; i++ {
		if c.sp.slot(i, base[i]) < 0 {
			d.Fail("base level %d of variable %d outside the domain", base[i], i)
			return
		}
	}
	if chalWins < 0 || chalWins > c.rechecks {
		d.Fail("challenger has passed %d re-checks", chalWins)
		return
	}
	if err := c.checkDelta(chal); err != nil {
		d.Fail("challenger: %v", err)
		return
	}
	if len(fi) != len(fv) {
		d.Fail("%d freeze indices but %d levels", len(fi), len(fv))
		return
	}
	if err := c.checkDelta(&optimizer.Delta{Indices: fi, Levels: fv}); err != nil {
		d.Fail("pending freezes: %v", err)
		return
	}
	pcg := &rand.PCG{}
	if err := pcg.UnmarshalBinary(rs); err != nil {
		d.Fail("random generator: %v", err)
		return
	}
	c.pcg = pcg
	c.rng = rand.New(pcg)
	c.gen = gen
	c.base, c.reported, c.dirty, c.frozen = base, reported, dirty, frozen
	c.nFrozen = 0
	for _, f := range frozen {
		if f {
			c.nFrozen++
		}
	}
	c.chal, c.chalWins = chal, chalWins
	c.freezeIdx, c.freezeVal = fi, fv
	c.accepted, c.recheckPassed, c.recheckFailed, c.freezeAccepted, c.freezeRejected =
		counters[0], counters[1], counters[2], counters[3], counters[4]
	c.inGen = false
}

// checkDelta checks a restored delta: lengths, index range, uniqueness, domain.
func (c *core) checkDelta(dl *optimizer.Delta) error {
	if dl == nil {
		return nil
	}
	if len(dl.Indices) != len(dl.Levels) {
		return fmt.Errorf("%d indices but %d levels", len(dl.Indices), len(dl.Levels))
	}
	s := c.nextStamp()
	for e, i := range dl.Indices {
		if i < 0 || int(i) >= len(c.base) {
			return fmt.Errorf("index %d out of range", i)
		}
		if c.stamp[i] == s {
			return fmt.Errorf("index %d twice", i)
		}
		c.stamp[i] = s
		if c.sp.slot(int(i), dl.Levels[e]) < 0 {
			return fmt.Errorf("level %d of variable %d outside the domain", dl.Levels[e], i)
		}
	}
	return nil
}
