package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// plugged is a touch kind whose result depends on a "plugin" its
// parameters only name: the plugin's version is reported as a dependency.
type plugged struct {
	testkinds.Touch
	deps map[string]string
	err  error
}

func (plugged) Name() string { return "plugged" }

func (k plugged) Fingerprint(pipeline.Params, map[string]string) (map[string]string, error) {
	return k.deps, k.err
}

func TestFingerprintEntersKey(t *testing.T) {
	specs := []pipeline.Spec{spec("evolve", "plugged", map[string]any{"plugin": "ccea"}, nil)}
	e := newEnv(t, plugged{deps: map[string]string{"plugin": "ccea@1 defaults=aa"}})
	p := e.plan(specs, nil)
	first := p.Stage("evolve")
	if first.Status != pipeline.StatusToRun || first.Deps["plugin"] != "ccea@1 defaults=aa" {
		t.Fatalf("first plan: %s deps %v", first.Status, first.Deps)
	}
	if sum := e.run(context.Background(), p, nil); sum.Outcome != "ok" {
		t.Fatalf("run: %+v", sum)
	}
	if s := e.plan(specs, nil).Stage("evolve"); s.Status != pipeline.StatusCached {
		t.Fatalf("same dependency: %s (%s), want cached", s.Status, s.Reason)
	}

	// New plugin defaults: a new key, and the reason names the change.
	e.reg = &pipeline.Registry{}
	e.reg.MustRegister(plugged{deps: map[string]string{"plugin": "ccea@1 defaults=bb"}})
	s := e.plan(specs, nil).Stage("evolve")
	if s.Status != pipeline.StatusToRun || s.Key == first.Key {
		t.Fatalf("changed dependency: %s key %s (was %s), want a new key to run", s.Status, s.Key, first.Key)
	}
	if want := `plugin "ccea@1 defaults=aa" -> "ccea@1 defaults=bb"`; s.Reason != want {
		t.Fatalf("reason %q, want %q", s.Reason, want)
	}

	// A dependency that cannot be found blocks the stage with its message.
	e.reg = &pipeline.Registry{}
	e.reg.MustRegister(plugged{err: errors.New(`plugin "nope": not a built-in`)})
	if s := e.plan(specs, nil).Stage("evolve"); s.Status != pipeline.StatusBlocked || !strings.Contains(s.Reason, `plugin "nope"`) {
		t.Fatalf("failing fingerprint: %s %q, want blocked naming the plugin", s.Status, s.Reason)
	}
}

func TestKeyDepLines(t *testing.T) {
	in := pipeline.KeyInput{Kind: "evolve", KindVersion: "3", CCQVersion: version.Version,
		Params: pipeline.MustParams(map[string]any{"plugin": "ccea"})}
	without := pipeline.Key(in)
	in.Deps = map[string]string{}
	if pipeline.Key(in) != without {
		t.Fatal("an empty dependency map changed the key (keys of other kinds must not move)")
	}
	in.Deps = map[string]string{"plugin": "x"}
	a := pipeline.Key(in)
	in.Deps = map[string]string{"plugin": "y"}
	if b := pipeline.Key(in); a == without || a == b {
		t.Fatalf("dependencies do not enter the key: %s %s %s", without, a, b)
	}
}
