// Package builtin holds ccq's built-in optimizers, each selectable by name:
// ccea (the cooperative-coevolution EDA with confidence-ordered grouping of
// docs/paper-method.md), ccea-random (random grouping), ccea-layer (groups within one
// layer at a time), eda (no decomposition) and mutation-ea (a (1+lambda) EA
// shifting a few weights by one level). They share one core: the domain, the
// context vector, the frozen set, a serialisable random generator and the
// guarded acceptance (a better candidate is re-checked on the next batch;
// a freezing step that moves the context is scored before it is kept).
//
// The defaults are ccq's tuned variant; the ccea family also takes a named
// preset (params {"preset": "paper"}: the algorithm as the paper describes
// it, with greedy acceptance, unchecked freezing and no restarts), which
// explicit parameters override.
//
// Every variant is deterministic given Problem.Seed, and Snapshot/Restore
// carry its whole state, so a restored optimizer continues exactly.
//
// To add a built-in optimizer, add one entry to registry (builtin.go): its
// name and a constructor of a type implementing optimizer.Optimizer plus
// checkParams. Its Info lists its parameters (name, type, default, meaning:
// the schema ccq plugins prints and the fingerprint that enters store keys).
// An optimizer outside ccq is a plugin instead (package plugins/sdk).
package builtin

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"

	"github.com/ccq-project/ccq/plugins/optimizer"
)

// builtinOptimizer is a built-in optimizer that checks its parameters
// without a problem (CheckParams).
type builtinOptimizer interface {
	optimizer.Optimizer
	checkParams(raw []byte) error
}

// registry is the table of built-in optimizers, in the order Names lists
// them. To add one, add its entry here: a constructor of a fresh instance
// whose Info describes its parameters (name, type, default, meaning) and
// whose checkParams checks them as Init would.
var registry = []struct {
	name string
	new  func() builtinOptimizer
}{
	{"ccea", func() builtinOptimizer { return newCCEA("ccea", groupConfidence) }},
	{"ccea-random", func() builtinOptimizer { return newCCEA("ccea-random", groupRandom) }},
	{"ccea-layer", func() builtinOptimizer { return newCCEA("ccea-layer", groupLayer) }},
	{"eda", func() builtinOptimizer { return newCCEA("eda", groupAll) }},
	{mutationName, func() builtinOptimizer { return &mutationEA{par: defaultMutationParams()} }},
}

// Names lists the built-in optimizers in a stable order.
func Names() []string {
	names := make([]string, len(registry))
	for i, e := range registry {
		names[i] = e.name
	}
	return names
}

// New returns a fresh instance of the named built-in optimizer.
func New(name string) (optimizer.Optimizer, error) {
	return newBuiltin(name)
}

func newBuiltin(name string) (builtinOptimizer, error) {
	for _, e := range registry {
		if e.name == name {
			return e.new(), nil
		}
	}
	return nil, fmt.Errorf("no built-in optimizer %q (built-ins: %s)", name, strings.Join(Names(), ", "))
}

// IsBuiltin reports whether name is a built-in optimizer.
func IsBuiltin(name string) bool {
	for _, n := range Names() {
		if n == name {
			return true
		}
	}
	return false
}

// Fingerprint identifies what the named built-in computes: its name, its
// version and a digest of its parameters' defaults. The evolve stage puts it
// into its store key, so a changed default stops cached runs from being
// reused. Change a built-in's version whenever it computes something
// different with the same parameters and defaults.
func Fingerprint(name string) (string, error) {
	o, err := New(name)
	if err != nil {
		return "", err
	}
	info, err := o.Info(context.Background())
	if err != nil {
		return "", fmt.Errorf("built-in %s: %w", name, err)
	}
	return fingerprint(name, info), nil
}

// fingerprint is Fingerprint's text for a given description. The preset
// parameter is left out: it only selects other values, its name enters the
// stage key with the plugin parameters when it is used, and leaving it out
// kept the keys of the runs made before presets existed.
func fingerprint(name string, info optimizer.Info) string {
	params := append([]optimizer.Param(nil), info.Params...)
	sort.Slice(params, func(i, j int) bool { return params[i].Name < params[j].Name })
	h := sha256.New()
	for _, p := range params {
		if p.Name == presetParam {
			continue
		}
		fmt.Fprintf(h, "%s:%s=%s\n", p.Name, p.Type, p.Default)
	}
	return fmt.Sprintf("builtin %s %s defaults=%x", name, info.Version, h.Sum(nil)[:8])
}

// CheckParams checks a built-in's parameters (JSON object, or empty)
// without a problem: unknown names, types and ranges, as Init would. The
// checks that need the problem (eps against the largest domain, for
// example) wait for Init. ccq validate and ccq plan use it, so a mistyped
// parameter is reported before anything runs.
func CheckParams(name string, raw []byte) error {
	o, err := newBuiltin(name)
	if err != nil {
		return err
	}
	return o.checkParams(raw)
}
