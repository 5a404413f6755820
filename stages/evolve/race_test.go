package evolve

import (
	"errors"
	"maps"
	"reflect"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/results"
)

// raceParams is a fixture run large enough to race: 512-image batches and
// 16 candidates of which 2 + 2 probes are kept.
var raceParams = map[string]any{
	"batch_size":    512,
	"plugin_params": map[string]any{"lambda": 16, "mu": 2, "group_size": 500, "gens_per_group": 2},
}

// withRace returns raceParams with extra added.
func withRace(extra map[string]any) map[string]any {
	m := maps.Clone(raceParams)
	maps.Copy(m, extra)
	return m
}

// withoutRaceStats returns the rows with the race's plugin stats removed.
func withoutRaceStats(rows []results.GenerationRow) (out []results.GenerationRow, dropped, skipped float64) {
	for _, r := range rows {
		st := maps.Clone(r.PluginStats)
		dropped += st["race_dropped"]
		skipped += st["race_skipped_images"]
		delete(st, "race_dropped")
		delete(st, "race_skipped_images")
		r.PluginStats = st
		out = append(out, r)
	}
	return out, dropped, skipped
}

// TestEvolveRace: racing that can decide nothing (race_z 99) leaves the
// model and the rows exactly as without racing (its fitnesses are the same
// bit for bit); racing at the default z is deterministic, records what it
// skipped, and off (or "off") leaves no trace in the rows.
func TestEvolveRace(t *testing.T) {
	if testing.Short() {
		t.Skip("runs optimizer subprocesses")
	}
	f := newFixture(t)
	const gens = 6
	off := reference(t, f, gens, raceParams)
	for _, r := range off.rows {
		if _, ok := r.PluginStats["race_dropped"]; ok {
			t.Fatal("a run without racing records race stats")
		}
	}
	explicitOff := t.TempDir()
	if err := f.run(t, gens, explicitOff, t.TempDir(), false, withRace(map[string]any{"race": "off"})); err != nil {
		t.Fatal(err)
	}
	if o := readOutcome(t, explicitOff); !reflect.DeepEqual(off.levels, o.levels) || !reflect.DeepEqual(off.rows, o.rows) {
		t.Fatal(`race = "off" differs from no race option`)
	}

	undecided := t.TempDir()
	if err := f.run(t, gens, undecided, t.TempDir(), false, withRace(map[string]any{"race": "z", "race_z": 99})); err != nil {
		t.Fatal(err)
	}
	u := readOutcome(t, undecided)
	rows, dropped, _ := withoutRaceStats(u.rows)
	if dropped != 0 {
		t.Fatalf("race_z 99 dropped %v candidates", dropped)
	}
	if !reflect.DeepEqual(off.levels, u.levels) || !reflect.DeepEqual(off.rows, rows) {
		t.Fatal("racing that drops nothing changed the model or the rows")
	}

	var runs [2]outcome
	for i := range runs {
		out := t.TempDir()
		if err := f.run(t, gens, out, t.TempDir(), false, withRace(map[string]any{"race": "z"})); err != nil {
			t.Fatal(err)
		}
		runs[i] = readOutcome(t, out)
	}
	if !reflect.DeepEqual(runs[0], runs[1]) {
		t.Fatal("two raced runs with the same seed differ")
	}
	_, dropped, skipped := withoutRaceStats(runs[0].rows)
	total := float64(gens * 16 * 512)
	t.Logf("raced: %v candidates dropped, %v of %v candidate-images skipped", dropped, skipped, total)
	if skipped != dropped*(512-128) && skipped != dropped*(512-256) {
		t.Errorf("%v skipped images for %v dropped candidates", skipped, dropped)
	}
}

// TestRaceParams: bad racing parameters are refused naming the field.
func TestRaceParams(t *testing.T) {
	for _, tc := range []struct {
		extra map[string]any
		key   string
	}{
		{map[string]any{"race": "hoeffding"}, "race"},
		{map[string]any{"race": "z", "race_fraction": 1.0}, "race_fraction"},
		{map[string]any{"race": "z", "race_fraction": -0.5}, "race_fraction"},
		{map[string]any{"race": "z", "race_z": -1}, "race_z"},
		{map[string]any{"race": "z", "race_keep": -1}, "race_keep"},
		{map[string]any{"race_fraction": 0.5}, "race"},
		{map[string]any{"race": "off", "race_z": 2}, "race"},
		{map[string]any{"race": "z", "plugin": "./my-optimizer"}, "race_keep"},
	} {
		m := map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 10}}
		maps.Copy(m, tc.extra)
		p, err := pipeline.NewParams(m)
		if err != nil {
			t.Fatal(err)
		}
		var pe *pipeline.ParamError
		if err := (Kind{}).CheckParams(p); !errors.As(err, &pe) || pe.Key != tc.key {
			t.Errorf("params %v: %v, want an error on %s", tc.extra, err, tc.key)
		}
	}
	m := map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 10},
		"race": "z", "race_fraction": 0.5, "race_z": 2.5}
	p, _ := pipeline.NewParams(m)
	if err := (Kind{}).CheckParams(p); err != nil {
		t.Errorf("valid racing parameters refused: %v", err)
	}
	var pp Params
	if err := p.Decode(&pp); err != nil {
		t.Fatal(err)
	}
	r, err := hostRace(&pp)
	if err != nil || r.Keep != 8+2 || r.Fraction != 0.5 || r.Z != 2.5 {
		t.Errorf("host race %+v (%v): want keep 10 (ccea's mu 8 + 2 probes), fraction 0.5, z 2.5", r, err)
	}
}
