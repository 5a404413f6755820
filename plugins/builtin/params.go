package builtin

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ccq-project/ccq/plugins/optimizer"
)

// cceaParams are the parameters of the ccea family (ccea, ccea-random,
// ccea-layer, eda). Defaults are the paper's values (docs/paper-method.md) except alpha (0.5), eps (0.01)
// and group_size (16000), tuned on LeNet-5 (docs/method-notes.md), plus the
// guards suggested by its "Lessons from the reference implementation".
type cceaParams struct {
	Lambda         int         `json:"lambda"`
	Mu             int         `json:"mu"`
	Alpha          float64     `json:"alpha"`
	Eps            float64     `json:"eps"`
	Floor          float64     `json:"floor"`
	GroupSize      int         `json:"group_size"`
	GroupFraction  float64     `json:"group_fraction"`
	GensPerGroup   int         `json:"gens_per_group"`
	GroupsPerCycle int         `json:"groups_per_cycle"`
	Tau            float64     `json:"tau"`
	TauTolerance   float64     `json:"tau_tolerance"`
	Radius         int         `json:"radius"`
	FreezeCheck    FreezeCheck `json:"freeze_check"`
	Accept         Accept      `json:"accept"`
	Margin         float64     `json:"margin"`
	Rechecks       int         `json:"rechecks"`
	Follow         Follow      `json:"follow"`
	Learn          Learn       `json:"learn"`
	Changes        float64     `json:"changes"`
	Restarts       int         `json:"restarts"`
	RestartBelow   float64     `json:"restart_below"`
}

func defaultCCEAParams() cceaParams {
	return cceaParams{
		Lambda:         32,
		Mu:             8,
		Alpha:          0.5,
		Eps:            0.01,
		Floor:          0.01,
		GroupSize:      16000,
		GroupFraction:  0,
		GensPerGroup:   5,
		GroupsPerCycle: 1,
		Tau:            0.98,
		TauTolerance:   1e-6,
		Radius:         1,
		FreezeCheck:    FreezeEval,
		Accept:         AcceptRecheck,
		Margin:         0,
		Rechecks:       1,
		Follow:         FollowNone,
		Learn:          LearnTop,
		Changes:        0,
		Restarts:       100,
		RestartBelow:   0.01,
	}
}

// presetParam names the parameter that selects a preset of the ccea family.
const presetParam = "preset"

// cceaPresets are the named parameter sets of the ccea family. A preset
// replaces every default (not only the ones it changes), so a later change
// of the tuned defaults leaves it alone; parameters set explicitly next to
// it win. Its name is in the plugin parameters, hence in the evolve stage's
// store key, but its values are not in the built-in's fingerprint (adding a
// preset keeps every existing key): never change a preset's values, add a
// preset under a new name instead.
var cceaPresets = map[string]func() cceaParams{
	// paper is the algorithm as the paper describes it (docs/method-notes.md):
	// G 2,000, eps 0.05, alpha 0.2, lambda 32, mu 8, T 5, K 1, tau 0.98,
	// floor 0.01; a candidate that beats the context on the generation's
	// batch replaces it at once; confident variables freeze at their most
	// probable level without an evaluation; the run ends when everything is
	// frozen (no restarts). tau_tolerance only absorbs rounding (a
	// probability that reaches tau in exact arithmetic freezes).
	"paper": func() cceaParams {
		return cceaParams{
			Lambda:         32,
			Mu:             8,
			Alpha:          0.2,
			Eps:            0.05,
			Floor:          0.01,
			GroupSize:      2000,
			GroupFraction:  0,
			GensPerGroup:   5,
			GroupsPerCycle: 1,
			Tau:            0.98,
			TauTolerance:   1e-6,
			Radius:         1,
			FreezeCheck:    FreezeNone,
			Accept:         AcceptGreedy,
			Margin:         0,
			Rechecks:       1,
			Follow:         FollowNone,
			Learn:          LearnTop,
			Changes:        0,
			Restarts:       0,
			RestartBelow:   0,
		}
	},
}

// presetNames lists the ccea presets in order.
func presetNames() []string {
	names := make([]string, 0, len(cceaPresets))
	for n := range cceaPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// cceaBase returns the parameters a ccea decoding starts from: the preset
// that raw names (preset true), or the defaults.
func cceaBase(raw json.RawMessage) (par cceaParams, preset bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return defaultCCEAParams(), false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return cceaParams{}, false, fmt.Errorf("params: expected a JSON object: %w", err)
	}
	v, ok := m[presetParam]
	if !ok {
		return defaultCCEAParams(), false, nil
	}
	var name string
	if err := json.Unmarshal(v, &name); err != nil {
		return cceaParams{}, false, &optimizer.ParamError{Name: presetParam, Msg: fmt.Sprintf("params: parameter %q: got %s, expected a string naming a preset (%s)", presetParam, v, strings.Join(presetNames(), ", "))}
	}
	if name == "" {
		return defaultCCEAParams(), false, nil
	}
	mk, ok := cceaPresets[name]
	if !ok {
		return cceaParams{}, false, &optimizer.ParamError{Name: presetParam, Msg: fmt.Sprintf("params: preset %q: unknown preset (known: %s; leave it out for the tuned defaults)", name, strings.Join(presetNames(), ", "))}
	}
	return mk(), true, nil
}

// withPreset appends the preset parameter to a ccea variant's parameters,
// its meaning listing each preset's values among them.
func withPreset(ps []optimizer.Param) []optimizer.Param {
	names := make(map[string]bool, len(ps))
	for _, p := range ps {
		names[p.Name] = true
	}
	return append(ps, optimizer.Param{Name: presetParam, Type: "string", Default: `""`, Meaning: presetMeaning(names)})
}

// presetMeaning describes the preset parameter, listing each preset's
// values (of the parameters in names) where they differ from the defaults;
// the text is derived from the presets, so it cannot drift from them.
func presetMeaning(names map[string]bool) string {
	var b strings.Builder
	b.WriteString(`named set of values that replaces the tuned defaults; parameters set next to it win. "" (or left out): the tuned defaults`)
	def := paramMap(defaultCCEAParams())
	for _, n := range presetNames() {
		pm := paramMap(cceaPresets[n]())
		keys := make([]string, 0, len(pm))
		for k := range pm {
			if names[k] && pm[k] != def[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "; %s:", n)
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %s %s", k, pm[k])
		}
		b.WriteString(" (the others as the defaults)")
	}
	return b.String()
}

// paramMap is a parameter struct's JSON encoding, value by name.
func paramMap(v any) map[string]string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// mutationParams are the parameters of mutation-ea.
type mutationParams struct {
	Lambda     int     `json:"lambda"`
	Rate       float64 `json:"rate"`
	MinChanges int     `json:"min_changes"`
	Radius     int     `json:"radius"`
	Accept     Accept  `json:"accept"`
	Margin     float64 `json:"margin"`
	Rechecks   int     `json:"rechecks"`
}

func defaultMutationParams() mutationParams {
	return mutationParams{Lambda: 32, Rate: 0.001, MinChanges: 1, Radius: 1, Accept: AcceptRecheck, Margin: 0, Rechecks: 1}
}

// Parameter descriptions, shared by the variants that use them.
var (
	pLambda = optimizer.Param{Name: "lambda", Type: "int", Meaning: "candidates sampled per generation (the host's lambda hint applies when this is not set)"}
	pMu     = optimizer.Param{Name: "mu", Type: "int", Meaning: "number of best candidates the distribution learns from (1 <= mu <= lambda; capped at lambda when not set)"}
	pAlpha  = optimizer.Param{Name: "alpha", Type: "float", Meaning: "learning rate of the distribution update p <- (1-alpha) p + alpha q"}
	pEps    = optimizer.Param{Name: "eps", Type: "float", Meaning: "initial probability of each non-start level; the start level gets the rest"}
	pFloor  = optimizer.Param{Name: "floor", Type: "float", Meaning: "lower bound on every probability after an update (then renormalised)"}
	pGroup  = optimizer.Param{Name: "group_size", Type: "int", Meaning: "variables per group G"}
	pFrac   = optimizer.Param{Name: "group_fraction", Type: "float", Meaning: "if > 0, G is this fraction of all variables (overrides group_size)"}
	pT      = optimizer.Param{Name: "gens_per_group", Type: "int", Meaning: "generations T spent on a group before its confident variables freeze"}
	pTEDA   = optimizer.Param{Name: "gens_per_group", Type: "int", Meaning: "generations between two freezing steps"}
	pK      = optimizer.Param{Name: "groups_per_cycle", Type: "int", Meaning: "groups K optimised per cycle before the variables are regrouped"}
	pTau    = optimizer.Param{Name: "tau", Type: "float", Meaning: "confidence at or above which a variable freezes at its most probable level"}
	pTauTol = optimizer.Param{Name: "tau_tolerance", Type: "float", Meaning: "slack on tau so that rounding does not keep variables from freezing"}
	pRadius = optimizer.Param{Name: "radius", Type: "int", Meaning: "levels searched on either side of the start level (0: the host's whole domain)"}
	pFreeze = optimizer.Param{Name: "freeze_check", Type: "string", Meaning: "how freezing changes the context: eval (the frozen context is scored on the next batch and kept only if not worse), none (kept unchecked, as in the paper), context (freeze at the context's level)"}
	pAccept = optimizer.Param{Name: "accept", Type: "string", Meaning: "recheck (a candidate that beats the context becomes the context only after beating it again on the next generation's batch) or greedy (at once)"}
	pMargin = optimizer.Param{Name: "margin", Type: "float", Meaning: "a candidate must beat the context's fitness by more than this to count as better"}
	pFollow = optimizer.Param{Name: "follow", Type: "string", Meaning: "what the distributions do when the context moves: none (they stay biased to where they were, as in the paper) or swap (a moved variable's probabilities of its old and new context levels are exchanged, so sampling stays centred on the context)"}
	pLearn  = optimizer.Param{Name: "learn", Type: "string", Meaning: "which candidates the distributions learn from: top (the mu best, as in the paper) or better (the mu best that beat the context on the batch; the context fills the other places)"}
	pRechk  = optimizer.Param{Name: "rechecks", Type: "int", Meaning: "accept = recheck: consecutive later batches on which a challenger must beat the context before it replaces it"}
	pChange = optimizer.Param{Name: "changes", Type: "float", Meaning: "if > 0, the expected number of variables a candidate changes: each group variable leaves the context with probability min(1, s*(1-p(context level))), s chosen so that these sum to this number (0: draw every variable from its distribution, as in the paper)"}
	pRestrt = optimizer.Param{Name: "restarts", Type: "int", Meaning: "how many times the search restarts when every variable is frozen (or fewer than restart_below of them are unfrozen): all are unfrozen with distributions centred on the context (0: the run ends at the first freeze-out, as in the paper)"}
	pRBelow = optimizer.Param{Name: "restart_below", Type: "float", Meaning: "restart (while restarts remain) as soon as fewer than this fraction of the variables are unfrozen when a group is formed, instead of spending the budget on a few variables that never freeze (0: only when every variable is frozen)"}
	pRate   = optimizer.Param{Name: "rate", Type: "float", Meaning: "fraction of the variables each candidate shifts by one level"}
	pMinCh  = optimizer.Param{Name: "min_changes", Type: "int", Meaning: "least number of variables each candidate shifts"}
)

// withDefaults fills every Param's Default from the JSON encoding of the
// default parameter struct, so the documented defaults are the real ones.
func withDefaults(defaults any, ps ...optimizer.Param) []optimizer.Param {
	m := paramMap(defaults)
	out := make([]optimizer.Param, len(ps))
	for k, p := range ps {
		d, ok := m[p.Name]
		if !ok {
			panic("builtin: no default for parameter " + p.Name)
		}
		p.Default = d
		out[k] = p
	}
	return out
}

// hasParam reports whether the params JSON object sets name.
func hasParam(raw json.RawMessage, name string) bool {
	if len(raw) == 0 {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[name]
	return ok
}

func checkAccept(accept Accept, margin float64, rechecks int) error {
	if rechecks < 1 {
		return fmt.Errorf("params: rechecks %d: expected >= 1", rechecks)
	}
	if err := oneOf("accept", accept, AcceptRecheck, AcceptGreedy); err != nil {
		return err
	}
	if !(margin >= 0) || math.IsInf(margin, 1) {
		return fmt.Errorf("params: margin %v: expected a finite number >= 0", margin)
	}
	return nil
}

func (p *cceaParams) check() error {
	switch {
	case p.Lambda < 1:
		return fmt.Errorf("params: lambda %d: expected >= 1", p.Lambda)
	case p.Mu < 1 || p.Mu > p.Lambda:
		return fmt.Errorf("params: mu %d: expected 1 <= mu <= lambda (%d)", p.Mu, p.Lambda)
	case !(p.Alpha > 0 && p.Alpha <= 1):
		return fmt.Errorf("params: alpha %v: expected 0 < alpha <= 1", p.Alpha)
	case !(p.Eps >= 0 && p.Eps < 1):
		return fmt.Errorf("params: eps %v: expected 0 <= eps < 1", p.Eps)
	case !(p.Floor >= 0 && p.Floor < 0.5):
		return fmt.Errorf("params: floor %v: expected 0 <= floor < 0.5", p.Floor)
	case p.GroupSize < 1:
		return fmt.Errorf("params: group_size %d: expected >= 1", p.GroupSize)
	case !(p.GroupFraction >= 0 && p.GroupFraction <= 1):
		return fmt.Errorf("params: group_fraction %v: expected 0 <= group_fraction <= 1", p.GroupFraction)
	case p.GensPerGroup < 1:
		return fmt.Errorf("params: gens_per_group %d: expected >= 1", p.GensPerGroup)
	case p.GroupsPerCycle < 1:
		return fmt.Errorf("params: groups_per_cycle %d: expected >= 1", p.GroupsPerCycle)
	case !(p.Tau > 0 && p.Tau <= 1):
		return fmt.Errorf("params: tau %v: expected 0 < tau <= 1", p.Tau)
	case !(p.TauTolerance >= 0 && p.TauTolerance < 1):
		return fmt.Errorf("params: tau_tolerance %v: expected 0 <= tau_tolerance < 1", p.TauTolerance)
	case p.Radius < 0:
		return fmt.Errorf("params: radius %d: expected >= 0", p.Radius)
	case p.Restarts < 0:
		return fmt.Errorf("params: restarts %d: expected >= 0", p.Restarts)
	case !(p.RestartBelow >= 0 && p.RestartBelow < 1):
		return fmt.Errorf("params: restart_below %v: expected 0 <= restart_below < 1", p.RestartBelow)
	case !(p.Changes >= 0) || math.IsInf(p.Changes, 1):
		return fmt.Errorf("params: changes %v: expected a finite number >= 0", p.Changes)
	}
	if err := oneOf("follow", p.Follow, FollowNone, FollowSwap); err != nil {
		return err
	}
	if err := oneOf("learn", p.Learn, LearnTop, LearnBetter); err != nil {
		return err
	}
	if err := oneOf("freeze_check", p.FreezeCheck, FreezeEval, FreezeNone, FreezeContext); err != nil {
		return err
	}
	return checkAccept(p.Accept, p.Margin, p.Rechecks)
}

func (p *mutationParams) check() error {
	switch {
	case p.Lambda < 1:
		return fmt.Errorf("params: lambda %d: expected >= 1", p.Lambda)
	case !(p.Rate >= 0 && p.Rate <= 1):
		return fmt.Errorf("params: rate %v: expected 0 <= rate <= 1", p.Rate)
	case p.MinChanges < 1:
		return fmt.Errorf("params: min_changes %d: expected >= 1", p.MinChanges)
	case p.Radius < 0:
		return fmt.Errorf("params: radius %d: expected >= 0", p.Radius)
	}
	return checkAccept(p.Accept, p.Margin, p.Rechecks)
}

// paramsDigest is a short fingerprint of a parameter struct, stored in
// snapshots so that restoring under other parameters fails clearly.
func paramsDigest(v any) string {
	raw, _ := json.Marshal(v)
	var h uint64 = 14695981039346656037
	for _, b := range raw {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return strconv.FormatUint(h, 16)
}
