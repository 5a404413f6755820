package builtin

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/plugins/internal/synth"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

// paperValues are the paper's values as plugins/README.md documents them,
// written out here on their own so that a changed preset fails the test.
var paperValues = cceaParams{
	Lambda: 32, Mu: 8, Alpha: 0.2, Eps: 0.05, Floor: 0.01,
	GroupSize: 2000, GroupFraction: 0, GensPerGroup: 5, GroupsPerCycle: 1,
	Tau: 0.98, TauTolerance: 1e-6, Radius: 1,
	FreezeCheck: "none", Accept: "greedy", Margin: 0, Rechecks: 1,
	Follow: "none", Learn: "top", Changes: 0, Restarts: 0, RestartBelow: 0,
}

func decodeCCEA(t *testing.T, name, raw string, lambda int) (cceaParams, error) {
	t.Helper()
	o, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*ccea).decodeParams([]byte(raw), lambda)
}

func TestPaperPresetValues(t *testing.T) {
	for _, name := range []string{"ccea", "ccea-random", "ccea-layer", "eda"} {
		// The host's lambda hint does not replace the preset's lambda.
		got, err := decodeCCEA(t, name, `{"preset": "paper"}`, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != paperValues {
			t.Errorf("%s: preset paper resolves to\n%+v\nwant\n%+v", name, got, paperValues)
		}
		// An empty preset, like none, is the tuned defaults.
		for _, raw := range []string{`{"preset": ""}`, `{}`, ``} {
			got, err := decodeCCEA(t, name, raw, 0)
			if err != nil {
				t.Fatalf("%s %s: %v", name, raw, err)
			}
			if got != defaultCCEAParams() {
				t.Errorf("%s %s: %+v, want the defaults", name, raw, got)
			}
		}
	}
	if paperValues == defaultCCEAParams() {
		t.Fatal("the preset equals the defaults: nothing to test")
	}
}

func TestPresetExplicitParamsWin(t *testing.T) {
	got, err := decodeCCEA(t, "ccea-random", `{"preset": "paper", "group_size": 500, "accept": "recheck", "lambda": 16, "restarts": 3}`, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := paperValues
	want.GroupSize, want.Accept, want.Lambda, want.Restarts = 500, "recheck", 16, 3
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// mu follows a small explicit lambda as it does without a preset.
	got, err = decodeCCEA(t, "ccea", `{"preset": "paper", "lambda": 4}`, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mu != 4 || got.Alpha != 0.2 {
		t.Errorf("lambda 4 with the preset: mu %d alpha %v, want 4 and 0.2", got.Mu, got.Alpha)
	}
	// The overridden values are still range-checked.
	if _, err := decodeCCEA(t, "ccea", `{"preset": "paper", "alpha": 2}`, 0); err == nil || !strings.Contains(err.Error(), "alpha") {
		t.Errorf("alpha 2 with the preset: %v", err)
	}
}

func TestUnknownPresetRefused(t *testing.T) {
	for _, raw := range []string{`{"preset": "papr"}`, `{"preset": 1}`, `{"preset": "Paper", "alpha": 0.3}`} {
		for _, name := range []string{"ccea", "eda"} {
			err := CheckParams(name, []byte(raw))
			var pe *optimizer.ParamError
			if !errors.As(err, &pe) || pe.Name != "preset" {
				t.Errorf("%s %s: error %v, want one naming the preset parameter", name, raw, err)
				continue
			}
			if !strings.Contains(err.Error(), "paper") {
				t.Errorf("%s %s: %q does not list the known presets", name, raw, err)
			}
		}
	}
	if err := CheckParams("ccea", []byte(`{"preset": "papr"}`)); err == nil || !strings.Contains(err.Error(), `"papr"`) {
		t.Errorf("the message does not quote the bad name: %v", err)
	}
	// mutation-ea has no presets.
	if err := CheckParams("mutation-ea", []byte(`{"preset": "paper"}`)); err == nil {
		t.Error("mutation-ea accepted a preset")
	}
}

// TestPresetNotInFingerprint: the preset parameter does not enter the
// built-in's fingerprint (the stage keys of runs without a preset stay what
// they were before presets existed); its name enters the key through the
// plugin parameters of the runs that use it.
func TestPresetNotInFingerprint(t *testing.T) {
	for _, name := range []string{"ccea", "ccea-random", "ccea-layer", "eda"} {
		o, _ := New(name)
		info, _ := o.Info(ctx)
		without := info
		without.Params = slices.DeleteFunc(slices.Clone(info.Params), func(p optimizer.Param) bool { return p.Name == presetParam })
		if len(without.Params) != len(info.Params)-1 {
			t.Fatalf("%s: the preset is not listed in Info", name)
		}
		if fingerprint(name, info) != fingerprint(name, without) {
			t.Errorf("%s: the preset parameter changes the fingerprint", name)
		}
	}
}

// TestPaperPresetSwitchesBehaviour runs ccea with the paper preset and with
// the tuned defaults on the same problem and seed. The preset's run takes
// the paper's paths: no probe is ever asked (no re-check, no evaluated
// freeze), a candidate that beats the context replaces it at once, and
// variables freeze without a restart. The tuned run asks probes and follows
// another trajectory. (On this problem the most probable level is almost
// always the context's when a variable freezes, as METHOD's reference saw:
// TestPaperPresetFreezesUnchecked forces the other case.)
func TestPaperPresetSwitchesBehaviour(t *testing.T) {
	sp := synth.New(300, 3, 0.4, 0.3, 11)
	type run struct {
		probes, freezeMoves, greedyMoves int
		final                            []int8
		st                               map[string]float64
	}
	do := func(params string) run {
		d := newDriver(t, "ccea", sp, 5, params)
		var r run
		var prevCands [][]int8
		var prevBase []int8
		var prevBeat bool
		d.onGen = func(a *optimizer.Ask, base []int8, fit []float64, fb float64) {
			r.probes += int(a.Stats["probes"])
			if prevBase != nil && !slices.Equal(base, prevBase) {
				scored := false
				for _, x := range prevCands {
					if slices.Equal(x, base) {
						scored = true
					}
				}
				if scored && prevBeat {
					r.greedyMoves++
				}
				if !scored {
					r.freezeMoves++
				}
			}
			prevCands = prevCands[:0]
			prevBeat = false
			for k := range a.Candidates {
				x := slices.Clone(base)
				a.Candidates[k].ApplyTo(x)
				prevCands = append(prevCands, x)
				prevBeat = prevBeat || fit[k] < fb
			}
			prevBase = slices.Clone(base)
		}
		for d.evals < 60000 && d.step() {
		}
		o := d.opt.(*ccea)
		r.st = o.stats()
		r.final = d.best()
		return r
	}
	paper := do(`{"preset": "paper"}`)
	if paper.probes != 0 || paper.st["recheck_passed"]+paper.st["recheck_failed"]+paper.st["freeze_accepted"]+paper.st["freeze_rejected"] != 0 {
		t.Errorf("paper preset: probes asked (%d) or counted: %v", paper.probes, paper.st)
	}
	if paper.greedyMoves == 0 {
		t.Error("paper preset: no candidate that beat the context replaced it at once")
	}
	if paper.st["restarts"] != 0 || paper.st["frozen_fraction"] < 0.5 {
		t.Errorf("paper preset: stats %v: want most variables frozen, without restarts", paper.st)
	}
	tuned := do(`{}`)
	if tuned.probes == 0 {
		t.Error("tuned defaults: no probe asked")
	}
	if tuned.freezeMoves != 0 {
		t.Errorf("tuned defaults: %d unchecked freeze moves", tuned.freezeMoves)
	}
	if slices.Equal(paper.final, tuned.final) {
		t.Error("the preset and the tuned defaults ended at the same solution")
	}
}

// TestPaperPresetFreezesUnchecked: with the preset, a variable whose
// confidence reaches tau at a level other than the context's freezes there
// at once, the context moving without an evaluation; with the tuned
// defaults the same move waits as a probe for the next batch.
func TestPaperPresetFreezesUnchecked(t *testing.T) {
	for _, tc := range []struct {
		params string
		moved  bool
	}{{`{"preset": "paper"}`, true}, {`{}`, false}} {
		o := initCCEA(t, tc.params)
		o.nextGroup()
		i := -1
		for _, k := range o.group {
			if o.c.sp.size(int(k)) == 3 {
				i = int(k)
				break
			}
		}
		if i < 0 {
			t.Fatal("no variable with 3 levels in the group")
		}
		_, lv := probs(o, i)
		from := o.c.base[i]
		to := lv[0]
		if to == from {
			to = lv[2]
		}
		a, b := int(o.c.sp.off[i]), int(o.c.sp.off[i+1])
		for s := a; s < b; s++ {
			o.p[s] = 0.01
			if o.c.sp.vals[s] == to {
				o.p[s] = 0.98
			}
		}
		o.conf[i] = 0.98
		o.freeze()
		if !o.c.frozen[i] {
			t.Fatalf("%s: variable not frozen at confidence 0.98", tc.params)
		}
		moved := o.c.base[i] == to
		if moved != tc.moved {
			t.Errorf("%s: context moved to the frozen level at once: %v, want %v", tc.params, moved, tc.moved)
		}
		if pending := len(o.c.freezeIdx) > 0; pending == tc.moved {
			t.Errorf("%s: freeze probe pending %v", tc.params, pending)
		}
	}
}
