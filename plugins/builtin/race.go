package builtin

import (
	"fmt"
)

// RaceKeep is the number of best candidates of a generation whose exact
// fitnesses the named built-in's decisions depend on, with the given
// parameters (JSON object, or empty): a host that races candidates (see
// plugins/host.Race) must finish at least that many. The ccea family ranks
// its sampled candidates and learns from the mu best, accepts the best if it
// beats the base, and compares its probes (at most maxProbes, at the head of
// the candidates) with the base: mu + maxProbes. mutation-ea uses only the
// best and the probes: 1 + maxProbes. A dropped candidate must also be
// decidedly worse than the base, which covers the probes' comparisons.
func RaceKeep(name string, raw []byte) (int, error) {
	o, err := New(name)
	if err != nil {
		return 0, err
	}
	switch o := o.(type) {
	case *ccea:
		par, err := o.decodeParams(raw, 0)
		if err != nil {
			return 0, err
		}
		return par.Mu + maxProbes, nil
	case *mutationEA:
		if _, err := o.decodeParams(raw, 0); err != nil {
			return 0, err
		}
		return 1 + maxProbes, nil
	}
	return 0, fmt.Errorf("built-in %s: no racing rule", name)
}
