package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/plugins/internal/synth"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

var ctx = context.Background()

// driver runs an optimizer against a synthetic problem in process, checking
// every answer the way the host does.
type driver struct {
	t      testing.TB
	opt    optimizer.Optimizer
	sp     *synth.Problem
	prob   *optimizer.Problem
	chk    *optimizer.Checker
	maxC   int
	base   []int8
	evals  int64
	gen    uint64
	done   bool
	onGen  func(a *optimizer.Ask, base []int8, fit []float64, fb float64)
	record []string
}

func newDriver(t testing.TB, name string, sp *synth.Problem, seed uint64, params string) *driver {
	t.Helper()
	opt, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, opt: opt, sp: sp, prob: sp.Optimizer(seed, params)}
	if err := optimizer.ValidateProblem(d.prob); err != nil {
		t.Fatal(err)
	}
	res, err := opt.Init(ctx, d.prob)
	if err != nil {
		t.Fatalf("%s: init: %v", name, err)
	}
	d.maxC = res.MaxCandidates
	d.chk = optimizer.NewChecker(d.prob)
	d.base = slices.Clone(d.prob.Start)
	return d
}

// step runs one generation; false when the optimizer is done.
func (d *driver) step() bool {
	d.t.Helper()
	a, err := d.opt.Ask(ctx)
	if err != nil {
		d.t.Fatalf("ask: %v", err)
	}
	if err := d.chk.CheckAsk(a, d.maxC); err != nil {
		d.t.Fatalf("generation %d: invalid ask: %v", d.gen, err)
	}
	if a.Base != nil {
		a.Base.ApplyTo(d.base)
	}
	if a.Done {
		d.done = true
		return false
	}
	fit := make([]float64, len(a.Candidates))
	fb := d.sp.Score(d.gen, d.base, a.Candidates, fit)
	d.evals += int64(len(a.Candidates)) + 1
	if d.record != nil || d.onGen != nil {
		if d.onGen != nil {
			d.onGen(a, d.base, fit, fb)
		}
		raw, _ := json.Marshal(a)
		d.record = append(d.record, string(raw))
	}
	if err := d.opt.Tell(ctx, &optimizer.Tell{Fitness: fit, BaseFitness: fb}); err != nil {
		d.t.Fatalf("tell: %v", err)
	}
	d.gen++
	return true
}

func (d *driver) runEvals(budget int64) {
	for d.evals < budget && d.step() {
	}
}

func (d *driver) best() []int8 {
	d.t.Helper()
	s, err := d.opt.Best(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.chk.CheckSolution(s); err != nil {
		d.t.Fatal(err)
	}
	return s.Levels
}

func TestInfoParamsDecode(t *testing.T) {
	for _, name := range Names() {
		opt, _ := New(name)
		info, err := opt.Info(ctx)
		if err != nil || info.Name != name || info.Version == "" || len(info.Params) == 0 {
			t.Fatalf("%s: bad info %+v, %v", name, info, err)
		}
		// Setting every parameter to its documented default is accepted and
		// changes nothing.
		obj := map[string]json.RawMessage{}
		for _, p := range info.Params {
			if p.Meaning == "" || p.Type == "" || p.Default == "" {
				t.Errorf("%s: parameter %q is not fully documented", name, p.Name)
			}
			obj[p.Name] = json.RawMessage(p.Default)
		}
		raw, _ := json.Marshal(obj)
		sp := synth.New(300, 3, 0.3, 0.2, 1)
		a := newDriver(t, name, sp, 7, string(raw))
		b := newDriver(t, name, sp, 7, "")
		a.record, b.record = []string{}, []string{}
		for g := 0; g < 5; g++ {
			a.step()
			b.step()
		}
		if !reflect.DeepEqual(a.record, b.record) {
			t.Errorf("%s: explicit defaults behave differently from no parameters", name)
		}
	}
}

func TestParamErrors(t *testing.T) {
	sp := synth.New(100, 2, 0.3, 0.2, 1)
	cases := []struct{ name, params, want string }{
		{"ccea", `{"lamda": 3}`, `unknown parameter "lamda"`},
		{"ccea", `{"lambda": "many"}`, `parameter "lambda"`},
		{"ccea", `{"mu": 40}`, "mu 40"},
		{"ccea", `{"accept": "sometimes"}`, "accept"},
		{"ccea", `{"freeze_check": "maybe"}`, "freeze_check"},
		{"eda", `{"group_size": 5}`, `unknown parameter "group_size"`},
		{"mutation-ea", `{"alpha": 0.1}`, `unknown parameter "alpha"`},
		{"mutation-ea", `{"rate": 2}`, "rate"},
		{"ccea", `[1,2]`, "JSON object"},
		{"ccea", `{"eps": 0.6}`, "eps"},
	}
	for _, c := range cases {
		opt, _ := New(c.name)
		_, err := opt.Init(ctx, sp.Optimizer(1, c.params))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: got %v, want an error containing %q", c.name, c.params, err, c.want)
		}
	}
	if _, err := New("nope"); err == nil || !strings.Contains(err.Error(), "ccea") {
		t.Errorf("unknown name: %v", err)
	}
}

// TestDeterministic: the same seed gives the same generations; another seed
// does not.
func TestDeterministic(t *testing.T) {
	sp := synth.New(400, 4, 0.3, 0.3, 2)
	for _, name := range Names() {
		run := func(seed uint64) []string {
			params := `{"lambda": 8, "gens_per_group": 2}`
			if name == "mutation-ea" {
				params = `{"lambda": 8}`
			}
			d := newDriver(t, name, sp, seed, params)
			d.record = []string{}
			for g := 0; g < 30 && d.step(); g++ {
			}
			return d.record
		}
		a, b, c := run(5), run(5), run(6)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two runs with seed 5 differ", name)
		}
		if reflect.DeepEqual(a, c) {
			t.Errorf("%s: seeds 5 and 6 gave identical runs", name)
		}
	}
}

// TestSnapshotRestoreExact: run, snapshot, restore into a fresh instance;
// both continue identically (random generator, challenger, groups and
// pending freezes included).
func TestSnapshotRestoreExact(t *testing.T) {
	sp := synth.New(500, 5, 0.3, 0.3, 3)
	params := map[string]string{
		"ccea":        `{"lambda": 10, "mu": 3, "group_size": 60, "gens_per_group": 3, "tau": 0.9, "alpha": 0.5}`,
		"ccea-random": `{"lambda": 10, "mu": 3, "group_size": 60, "gens_per_group": 3, "tau": 0.9, "alpha": 0.5}`,
		"ccea-layer":  `{"lambda": 10, "mu": 3, "group_size": 40, "gens_per_group": 3, "groups_per_cycle": 2, "tau": 0.9, "alpha": 0.5}`,
		"eda":         `{"lambda": 10, "mu": 3, "gens_per_group": 3, "tau": 0.9, "alpha": 0.5}`,
		"mutation-ea": `{"lambda": 10, "rate": 0.01}`,
	}
	for _, name := range Names() {
		for _, cut := range []int{0, 1, 7, 25} {
			a := newDriver(t, name, sp, 11, params[name])
			for g := 0; g < cut; g++ {
				a.step()
			}
			snap, err := a.opt.Snapshot(ctx)
			if err != nil {
				t.Fatalf("%s: snapshot: %v", name, err)
			}
			b := newDriver(t, name, sp, 99, params[name]) // other seed: the snapshot must carry the generator
			if err := b.opt.Restore(ctx, snap); err != nil {
				t.Fatalf("%s: restore: %v", name, err)
			}
			b.base, b.gen, b.evals = slices.Clone(a.base), a.gen, a.evals
			a.record, b.record = []string{}, []string{}
			for g := 0; g < 40; g++ {
				a.step()
				b.step()
			}
			if !reflect.DeepEqual(a.record, b.record) {
				t.Fatalf("%s cut at %d: restored instance diverged", name, cut)
			}
			if !slices.Equal(a.best(), b.best()) {
				t.Fatalf("%s: best differs after restore", name)
			}
			s2, _ := a.opt.Snapshot(ctx)
			s3, _ := b.opt.Snapshot(ctx)
			if string(s2) != string(s3) {
				t.Fatalf("%s: snapshots differ after continuing", name)
			}
		}
	}
}

func TestSnapshotRules(t *testing.T) {
	sp := synth.New(200, 2, 0.3, 0.3, 3)
	for _, name := range Names() {
		d := newDriver(t, name, sp, 1, "")
		if _, err := d.opt.Ask(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := d.opt.Snapshot(ctx); err == nil {
			t.Errorf("%s: snapshot between ask and tell accepted", name)
		}
		if _, err := d.opt.Ask(ctx); err == nil {
			t.Errorf("%s: second ask without tell accepted", name)
		}
		if err := d.opt.Tell(ctx, &optimizer.Tell{Fitness: []float64{1}}); err == nil {
			t.Errorf("%s: tell with the wrong count accepted", name)
		}
		// Snapshots are not interchangeable between variants or problems.
		e := newDriver(t, name, sp, 1, "")
		snap, _ := e.opt.Snapshot(ctx)
		for _, other := range Names() {
			if other == name {
				continue
			}
			o := newDriver(t, other, sp, 1, "")
			if err := o.opt.Restore(ctx, snap); err == nil {
				t.Errorf("restoring a %s snapshot into %s succeeded", name, other)
			}
		}
		small := newDriver(t, name, synth.New(150, 2, 0.3, 0.3, 3), 1, "")
		if err := small.opt.Restore(ctx, snap); err == nil {
			t.Errorf("%s: restoring into a problem of another size succeeded", name)
		}
		other := newDriver(t, name, sp, 1, `{"lambda": 5}`)
		if err := other.opt.Restore(ctx, snap); err == nil || !strings.Contains(err.Error(), "parameters") {
			t.Errorf("%s: restoring under other parameters: %v", name, err)
		}
		for cut := 0; cut < len(snap); cut += 1 + len(snap)/50 {
			f := newDriver(t, name, sp, 1, "")
			if err := f.opt.Restore(ctx, snap[:cut]); err == nil {
				t.Errorf("%s: truncated snapshot (%d of %d bytes) accepted", name, cut, len(snap))
			}
		}
	}
}

func FuzzRestore(f *testing.F) {
	sp := synth.New(40, 2, 0.3, 0.3, 3)
	for _, name := range Names() {
		d := newDriver(f, name, sp, 1, `{"lambda": 4}`)
		for g := 0; g < 6; g++ {
			d.step()
		}
		snap, _ := d.opt.Snapshot(ctx)
		f.Add(snap)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range Names() {
			d := newDriver(t, name, sp, 1, `{"lambda": 4}`)
			if d.opt.Restore(ctx, data) == nil {
				// An accepted snapshot must leave a working optimizer.
				for g := 0; g < 3 && d.step(); g++ {
				}
				d.best()
			}
		}
	})
}

// TestGuardedAcceptance checks, generation by generation, that with the
// default guards every change of the context was scored before it was
// kept: the new context equals a candidate of the previous generation that
// did not lose to the context on that batch, and with accept = recheck a
// sampled improvement was also better on the batch before.
func TestGuardedAcceptance(t *testing.T) {
	sp := synth.New(300, 3, 0.4, 0.5, 4)
	for _, name := range Names() {
		params := `{"lambda": 8, "mu": 2, "group_size": 50, "gens_per_group": 2, "tau": 0.8, "alpha": 0.6}`
		if name == "eda" {
			params = `{"lambda": 8, "mu": 2, "gens_per_group": 2, "tau": 0.8, "alpha": 0.6}`
		}
		if name == "mutation-ea" {
			params = `{"lambda": 8, "rate": 0.02}`
		}
		d := newDriver(t, name, sp, 3, params)
		type scored struct {
			x []int8
			f float64
		}
		var prev []scored
		var prevBase []int8
		var prevFb float64
		changes := 0
		d.onGen = func(a *optimizer.Ask, base []int8, fit []float64, fb float64) {
			if prevBase != nil && !slices.Equal(base, prevBase) {
				changes++
				found := false
				for _, c := range prev {
					if slices.Equal(c.x, base) && c.f <= prevFb {
						found = true
					}
				}
				if !found {
					t.Fatalf("%s generation %d: the context changed to a solution not scored as at least as good on the previous batch", name, d.gen)
				}
			}
			prev = prev[:0:0]
			for k := range a.Candidates {
				x := slices.Clone(base)
				a.Candidates[k].ApplyTo(x)
				prev = append(prev, scored{x, fit[k]})
			}
			prevBase = slices.Clone(base)
			prevFb = fb
		}
		for g := 0; g < 150 && d.step(); g++ {
		}
		if changes == 0 {
			t.Errorf("%s: the context never changed in 150 generations", name)
		}
	}
}

// TestFreezeModes: with freeze_check = none the context may move without
// any candidate; with context it never moves by freezing; with eval every
// frozen variable ends at the level the context holds.
func TestFreezeModes(t *testing.T) {
	sp := synth.New(200, 2, 0.4, 0.3, 5)
	for _, mode := range []string{"eval", "none", "context"} {
		params := fmt.Sprintf(`{"lambda": 8, "mu": 2, "group_size": 40, "gens_per_group": 2, "tau": 0.6, "alpha": 0.7, "accept": "greedy", "restarts": 0, "freeze_check": %q}`, mode)
		d := newDriver(t, "ccea", sp, 1, params)
		for d.evals < 20000 && d.step() {
		}
		o := d.opt.(*ccea)
		if o.c.nFrozen == 0 {
			t.Fatalf("%s: nothing froze", mode)
		}
		st := map[string]float64{}
		o.c.commonStats(st)
		if mode != "eval" && (st["freeze_accepted"] != 0 || st["freeze_rejected"] != 0) {
			t.Errorf("%s: freeze probes counted: %v", mode, st)
		}
		if mode == "eval" && st["freeze_accepted"]+st["freeze_rejected"] == 0 {
			t.Errorf("eval: no freeze was ever checked: %v", st)
		}
		if !d.done {
			t.Errorf("%s: not done after freezing everything? frozen %d of %d", mode, o.c.nFrozen, len(o.c.base))
		}
	}
}

// TestAlphabet: at 1 bit ({-1, +1}) the neighbours of -1 are +1 (no zero).
func TestAlphabet(t *testing.T) {
	n := 50
	p := &optimizer.Problem{
		Layers:   []optimizer.Layer{{Name: "w", Offset: 0, Count: n}},
		Start:    make([]int8, n),
		Lo:       make([]int8, n),
		Hi:       make([]int8, n),
		Alphabet: []int8{-1, 1},
		Seed:     1,
		Params:   []byte(`{"lambda": 6}`),
	}
	for i := range p.Start {
		p.Start[i], p.Lo[i], p.Hi[i] = -1, -1, 1
		if i%2 == 0 {
			p.Start[i] = 1
		}
	}
	for _, name := range Names() {
		opt, _ := New(name)
		res, err := opt.Init(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		chk := optimizer.NewChecker(p)
		moved := false
		for g := 0; g < 10; g++ {
			a, err := opt.Ask(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := chk.CheckAsk(a, res.MaxCandidates); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			fit := make([]float64, len(a.Candidates))
			for k := range a.Candidates {
				moved = moved || a.Candidates[k].Len() > 0
				fit[k] = float64(k)
			}
			if err := opt.Tell(ctx, &optimizer.Tell{Fitness: fit, BaseFitness: 100}); err != nil {
				t.Fatal(err)
			}
		}
		if !moved {
			t.Errorf("%s: no candidate ever changed a variable", name)
		}
	}
}

// randomSearch is the baseline the ccea must beat: every candidate draws
// every variable uniformly from the same radius-1 domain; the best
// candidate seen on its batch is kept when it beats the current one there.
type randomSearch struct {
	sp   *space
	rng  *rand.Rand
	base []int8
	last []optimizer.Delta
}

func (r *randomSearch) ask(lambda int) []optimizer.Delta {
	r.last = r.last[:0]
	for k := 0; k < lambda; k++ {
		var d optimizer.Delta
		for i := range r.base {
			a, b := r.sp.off[i], r.sp.off[i+1]
			v := r.sp.vals[int(a)+r.rng.IntN(int(b-a))]
			if v != r.base[i] {
				d.Indices = append(d.Indices, int32(i))
				d.Levels = append(d.Levels, v)
			}
		}
		r.last = append(r.last, d)
	}
	return r.last
}

// TestBeatsRandomSearch: on a noisy separable problem with a known optimum,
// every variant lowers the true loss from the start, and ccea at an equal
// budget ends far below random search.
func TestBeatsRandomSearch(t *testing.T) {
	const n, budget = 1000, 6000
	sp := synth.New(n, 4, 0.3, 0.5, 8)
	startLoss := sp.TrueLoss(sp.Start)
	final := map[string]float64{}
	for _, name := range Names() {
		params := `{"group_size": 100}`
		if name == "eda" || name == "mutation-ea" {
			params = ""
		}
		d := newDriver(t, name, sp, 1, params)
		d.runEvals(budget)
		final[name] = sp.TrueLoss(d.best())
	}
	// Random search at the same budget.
	rs := &randomSearch{sp: newSpace(sp.Optimizer(1, ""), 1), rng: rand.New(rand.NewPCG(1, 2)), base: slices.Clone(sp.Start)}
	var evals int64
	for gen := uint64(0); evals < budget; gen++ {
		c := rs.ask(32)
		fit := make([]float64, len(c))
		fb := sp.Score(gen, rs.base, c, fit)
		evals += int64(len(c)) + 1
		best := 0
		for k := range fit {
			if fit[k] < fit[best] {
				best = k
			}
		}
		if fit[best] < fb {
			c[best].ApplyTo(rs.base)
		}
	}
	final["random-search"] = sp.TrueLoss(rs.base)
	t.Logf("true loss: start %.4f, after %d evaluations: %v", startLoss, budget, final)
	for _, name := range Names() {
		if !(final[name] < startLoss) {
			t.Errorf("%s did not improve on the start: %.4f >= %.4f", name, final[name], startLoss)
		}
	}
	if !(final["ccea"] < 0.8*startLoss) {
		t.Errorf("ccea closed less than a fifth of the gap: %.4f from %.4f", final["ccea"], startLoss)
	}
	if !(final["ccea"] < final["random-search"]) {
		t.Errorf("ccea (%.4f) did not beat random search (%.4f)", final["ccea"], final["random-search"])
	}
}

func TestSelectSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for trial := 0; trial < 300; trial++ {
		n := 1 + r.IntN(200)
		a := make([]rankKey, n)
		for k := range a {
			a[k] = rankKey{conf: float64(r.IntN(4)), tie: uint64(r.IntN(3)), idx: int32(k)}
		}
		sorted := slices.Clone(a)
		slices.SortFunc(sorted, compareKeys)
		m := r.IntN(n + 1)
		selectSmallest(a, m)
		got := slices.Clone(a[:m])
		slices.SortFunc(got, compareKeys)
		if !slices.Equal(got, sorted[:m]) {
			t.Fatalf("n=%d m=%d: wrong selection", n, m)
		}
	}
}

func TestFingerprintNamesVersionAndDefaults(t *testing.T) {
	seen := map[string]string{}
	for _, name := range Names() {
		fp, err := Fingerprint(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o, _ := New(name)
		info, _ := o.Info(context.Background())
		if !strings.HasPrefix(fp, "builtin "+name+" "+info.Version+" defaults=") {
			t.Errorf("%s: fingerprint %q does not name the built-in and its version %s", name, fp, info.Version)
		}
		if again, _ := Fingerprint(name); again != fp {
			t.Errorf("%s: fingerprint not stable: %q then %q", name, fp, again)
		}
		if other, dup := seen[fp]; dup {
			t.Errorf("%s and %s share the fingerprint %q", name, other, fp)
		}
		seen[fp] = name
	}
	if _, err := Fingerprint("nope"); err == nil {
		t.Error("unknown built-in accepted")
	}
	// A changed default or version changes the fingerprint; the order in
	// which parameters are listed does not.
	o, _ := New("ccea")
	info, _ := o.Info(context.Background())
	base := fingerprint("ccea", info)
	changed := info
	changed.Params = slices.Clone(info.Params)
	changed.Params[0].Default += "0"
	if fingerprint("ccea", changed) == base {
		t.Error("a changed default kept the fingerprint")
	}
	bumped := info
	bumped.Version = "9.9.9"
	if fingerprint("ccea", bumped) == base {
		t.Error("a changed version kept the fingerprint")
	}
	reordered := info
	reordered.Params = slices.Clone(info.Params)
	slices.Reverse(reordered.Params)
	if fingerprint("ccea", reordered) != base {
		t.Error("the order of the parameter list changed the fingerprint")
	}
}
