package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/ccq-project/ccq/internal/executable"
	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/pipeline/store"
)

// PlanOptions configure MakePlan.
type PlanOptions struct {
	// Registry to resolve kinds in; DefaultRegistry if nil.
	Registry *Registry
	// Store to look entries up in (required).
	Store *store.Store
	// History of the results folder, to explain reruns; may be nil.
	History *History
	// Rerun lists patterns (see Graph.Match) of stages to rebuild even if
	// cached; what depends on them is rebuilt too.
	Rerun []string
	// Force rebuilds every stage.
	Force bool
	// Only, when set, restricts the run to the stages Graph.Select picks
	// for these patterns and Scorers (ccq run --only). Outside the
	// selection, a stage in the store stays StatusCached (its entry is a
	// result like any other) and any other stage is StatusUnselected: it
	// does not run, even when Rerun or Force name it.
	Only []string
	// Scorers are the kinds of the stages that score a model (evaluate):
	// Only selects such a stage along with the stage it scores.
	Scorers []string
	// BaseDir resolves relative external file paths (the experiment's folder).
	BaseDir string
	// Verify re-hashes every file of the cached entries (store.Entry.Verify);
	// a mismatch rebuilds the stage. Without it, store.Lookup's cheap check
	// applies (existence, sizes, digests of small files).
	Verify bool
	// Threads is how the executor that will run the plan sizes a stage
	// whose kind asks for n threads (its ThreadSizer's StageThreads, such
	// as Local's SlotThreads of --jobs). Each stage's Threads and Estimate
	// are for that count. Nil plans every stage at its kind's count.
	Threads func(kindThreads int) int
}

// StagePlan is one stage of a plan.
type StagePlan struct {
	Spec        *Spec                    `json:"-"`
	Name        string                   `json:"name"`
	Kind        string                   `json:"kind"`
	KindVersion string                   `json:"kind_version,omitempty"`
	Key         string                   `json:"key,omitempty"`
	Params      Params                   `json:"params"`
	Inputs      map[string]string        `json:"inputs,omitempty"`
	InputKeys   map[string]string        `json:"input_keys,omitempty"`
	Files       map[string]store.FileRef `json:"files,omitempty"`
	// Deps are the dependencies a Fingerprinter kind reported (in the key).
	Deps map[string]string `json:"deps,omitempty"`
	// Threads is the number of threads the stage runs on (its kind's
	// count, sized by PlanOptions.Threads) and Estimate its expected wall
	// time on them (EstimateOn).
	Threads  int           `json:"threads"`
	Estimate time.Duration `json:"estimate_ns,omitempty"`
	// Status is StatusCached, StatusToRun, StatusBlocked or
	// StatusUnselected.
	Status Status `json:"status"`
	// Reason is a one-line explanation for to-run, blocked and unselected
	// stages.
	Reason string `json:"reason,omitempty"`
	// Changes lists, for a stage that ran before under this name with
	// another key, what differs ("param bits: 4 -> 3", "input model changed").
	Changes []string `json:"changes,omitempty"`
	// Resume is true when a checkpoint of this key exists and the stage is
	// not forced (a forced stage discards its checkpoint).
	Resume bool `json:"resume,omitempty"`
	// Forced is true when --force or --rerun selected the stage or an
	// input (and --only, if given, selected the stage).
	Forced bool `json:"forced,omitempty"`
	// Damage describes the stage's store entry when it exists but its files
	// do not match its manifest (a *store.DamageError's text, naming the
	// file) or the manifest is unacceptable: the stage is rebuilt.
	Damage string       `json:"damage,omitempty"`
	Entry  *store.Entry `json:"-"`
	// EntryDir is the store folder of a cached stage.
	EntryDir string `json:"entry,omitempty"`
}

// Plan is a resolved graph: every stage with its key and what a run would do.
type Plan struct {
	Graph  *Graph
	Stages []*StagePlan
	// Verify is PlanOptions.Verify: tasks check every digest of an existing
	// entry before reusing it.
	Verify bool
	// Only are PlanOptions.Only's patterns, and Selected the number of
	// stages in their selection (0 without Only).
	Only     []string
	Selected int
	byName   map[string]*StagePlan
}

// NotSelected begins the reason of a StatusUnselected stage.
const NotSelected = "not selected by --only"

// Selection describes a plan restricted by Only (see SelectionText), or
// "" when the plan covers every stage.
func (p *Plan) Selection() string {
	if len(p.Only) == 0 {
		return ""
	}
	return SelectionText(p.Selected, len(p.Stages))
}

// SelectionText describes a selection: "--only: 12 of 40 stages selected".
func SelectionText(selected, total int) string {
	return fmt.Sprintf("--only: %d of %d stages selected", selected, total)
}

// Stage returns the plan of a stage by name, or nil.
func (p *Plan) Stage(name string) *StagePlan { return p.byName[name] }

// Counts returns how many stages have each status.
func (p *Plan) Counts() map[Status]int {
	c := map[Status]int{}
	for _, s := range p.Stages {
		c[s.Status]++
	}
	return c
}

// Work sums the estimates of the stages to run, each times the threads it
// runs on (the CPU time it holds: a stage with a wall-time budget counts
// its budget once per thread it holds), and gives the longest chain of
// estimates through stages to run (a lower bound of the wall time with
// unlimited cores). unknown counts stages to run without an estimate.
func (p *Plan) Work() (cpu, critical time.Duration, unknown int) {
	longest := map[string]time.Duration{}
	for _, s := range p.Stages {
		var in time.Duration
		for _, from := range s.Inputs {
			in = max(in, longest[from])
		}
		if s.Status != StatusToRun {
			longest[s.Name] = in
			continue
		}
		if s.Estimate <= 0 {
			unknown++
		}
		cpu += s.Estimate * time.Duration(max(1, s.Threads))
		longest[s.Name] = in + s.Estimate
		critical = max(critical, longest[s.Name])
	}
	return cpu, critical, unknown
}

// WallOn is the expected wall time of work of cpu CPU time whose longest
// chain is critical on slots CPU slots: the longer of the two bounds (the
// slots kept busy, the chain run one stage after another).
func WallOn(cpu, critical time.Duration, slots int) time.Duration {
	return max(critical, cpu/time.Duration(max(1, slots)))
}

// MakePlan resolves every stage of g: its kind, key, threads and estimate,
// and whether the store already holds it (cached), it must run, or it
// cannot run here (blocked: unknown kind, bad parameters, a missing or
// mismatched external file, or a blocked input). With opt.Only, a stage
// outside the selection that would run or be blocked is unselected
// instead, its reason saying what it would otherwise be.
func MakePlan(g *Graph, opt PlanOptions) (*Plan, error) {
	if opt.Store == nil {
		return nil, errors.New("plan: no store")
	}
	reg := opt.Registry
	if reg == nil {
		reg = DefaultRegistry
	}
	forced := map[string]string{}
	for _, pat := range opt.Rerun {
		names, err := g.Match(pat)
		if err != nil {
			return nil, fmt.Errorf("--rerun: %w", err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("--rerun %q matches no stage", pat)
		}
		for _, n := range names {
			forced[n] = "selected by --rerun " + pat
		}
	}
	var selected map[string]bool
	if len(opt.Only) > 0 {
		var err error
		if selected, err = g.Select(opt.Only, opt.Scorers); err != nil {
			return nil, fmt.Errorf("--only: %w", err)
		}
	}
	p := &Plan{Graph: g, Verify: opt.Verify, Only: opt.Only, Selected: len(selected), byName: make(map[string]*StagePlan, len(g.Stages))}
	digests := map[string]string{}
	for _, spec := range g.Stages {
		sp := &StagePlan{Spec: spec, Name: spec.Name, Kind: spec.Kind, Params: spec.Params, Inputs: spec.Inputs}
		p.Stages = append(p.Stages, sp)
		p.byName[sp.Name] = sp
		if r := planStage(sp, p, reg, opt, digests); r != "" {
			sp.Status, sp.Reason = StatusBlocked, r
			continue
		}
		// Forcing propagates from inputs.
		why, isForced := forced[sp.Name]
		if opt.Force {
			why, isForced = "--force", true
		}
		for _, in := range sortedKeys(sp.Inputs) {
			if up := p.byName[sp.Inputs[in]]; up.Forced && !isForced {
				why, isForced = "input "+in+" ("+up.Name+") is rebuilt", true
			}
		}
		if selected != nil && !selected[sp.Name] {
			// Only selected stages are rebuilt: outside the selection an
			// entry in the store stays a result. (No selected stage reads
			// from an unselected one, so none misses a rebuilt input.)
			isForced = false
		}
		// Lookup checks sizes (and digests of small files); --verify checks
		// every digest.
		e, err := opt.Store.Lookup(sp.Kind, sp.Key)
		if err == nil && opt.Verify {
			if verr := e.Verify(); verr != nil {
				e, err = nil, verr
			}
		}
		if errors.Is(err, store.ErrCorrupt) {
			sp.Damage = err.Error()
		}
		switch {
		case isForced:
			sp.Status, sp.Forced, sp.Reason = StatusToRun, true, "forced: "+why
		case err == nil:
			sp.Status, sp.Entry, sp.EntryDir = StatusCached, e, e.Dir
		default:
			sp.Status = StatusToRun
			sp.Reason, sp.Changes = explain(sp, opt.History, err)
		}
		if sp.Status == StatusToRun && opt.Store.HasCheckpoint(sp.Kind, sp.Key) {
			if sp.Forced {
				sp.Reason += "; starts over (its checkpoint is discarded)"
			} else {
				sp.Resume = true
				sp.Reason += "; resumes from its checkpoint"
			}
		}
	}
	if selected != nil {
		for _, sp := range p.Stages {
			if selected[sp.Name] {
				continue
			}
			switch sp.Status {
			case StatusToRun:
				sp.Status, sp.Reason, sp.Resume = StatusUnselected, NotSelected+"; would run: "+sp.Reason, false
			case StatusBlocked:
				sp.Status, sp.Reason = StatusUnselected, NotSelected+"; would be blocked: "+sp.Reason
			}
		}
	}
	return p, nil
}

// planStage fills kind, key, threads and estimate, or returns why the stage is blocked.
func planStage(sp *StagePlan, p *Plan, reg *Registry, opt PlanOptions, digests map[string]string) string {
	spec := sp.Spec
	sp.InputKeys = make(map[string]string, len(spec.Inputs))
	for _, in := range sortedKeys(spec.Inputs) {
		up := p.byName[spec.Inputs[in]]
		if up.Status == StatusBlocked {
			if in == up.Name {
				return fmt.Sprintf("input %s is blocked", in)
			}
			return fmt.Sprintf("input %s (%s) is blocked", in, up.Name)
		}
		sp.InputKeys[in] = up.Key
	}
	kind, reason := resolveStage(sp, reg, opt.BaseDir, digests)
	if reason != "" {
		return reason
	}
	files := make(map[string]string, len(sp.Files))
	for n, f := range sp.Files {
		files[n] = f.SHA256
	}
	sp.Key = Key(KeyInput{Kind: spec.Kind, KindVersion: sp.KindVersion, CCQVersion: version.Version,
		Params: spec.Params, Inputs: sp.InputKeys, Files: files, Deps: sp.Deps})
	sp.Threads = max(1, kind.Threads(spec.Params))
	if opt.Threads != nil {
		sp.Threads = max(1, opt.Threads(sp.Threads))
	}
	sp.Estimate = EstimateOn(kind, spec.Params, planUpstream{p, spec}, sp.Threads)
	return ""
}

// resolveStage checks what a run needs of a stage before running anything
// and fills sp's kind version, files and dependencies: the kind is built in,
// its parameters pass its checks, its external files exist (and are
// programs where required) and match their pins, and a Fingerprinter kind
// resolves what its parameters name (an optimizer plugin). It returns the
// kind, or why the stage cannot run, prefixed with where the experiment
// wrote the fault when known. digests caches file digests by path.
func resolveStage(sp *StagePlan, reg *Registry, baseDir string, digests map[string]string) (Kind, string) {
	spec := sp.Spec
	kind, ok := reg.Lookup(spec.Kind)
	if !ok {
		return nil, ParamErrorText(spec, fmt.Errorf("stage kind %q is not built into this ccq", spec.Kind))
	}
	sp.KindVersion = kind.Version()
	if c, ok := kind.(Checker); ok {
		if err := c.CheckParams(spec.Params); err != nil {
			return nil, ParamErrorText(spec, err)
		}
	}
	files := map[string]string{}
	if len(spec.Files) > 0 {
		sp.Files = map[string]store.FileRef{}
	}
	for _, n := range sortedKeys(spec.Files) {
		f := spec.Files[n]
		path := f.Path
		if !filepath.IsAbs(path) && baseDir != "" {
			path = filepath.Join(baseDir, path)
		}
		where := fileWhere(spec, n)
		// Stages get absolute paths (StageContext.Files): an experiment
		// in the working folder gives "plug.sh", which a stage could not
		// tell from a name.
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Sprintf("%sfile %s: %v", where, n, err)
		}
		path = abs
		if f.Executable {
			if err := executable.Check(path); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Sprintf("%sfile %s: %s does not exist", where, n, path)
			} else if err != nil {
				return nil, fmt.Sprintf("%sfile %s: %v", where, n, err)
			}
		}
		d, ok := digests[path]
		if !ok {
			var err error
			d, _, err = store.HashFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Sprintf("%sfile %s: %s does not exist", where, n, path)
			}
			if err != nil {
				return nil, fmt.Sprintf("%sfile %s: %v", where, n, err)
			}
			digests[path] = d
		}
		if f.SHA256 != "" && !strings.EqualFold(f.SHA256, d) {
			if w := spec.Where("files." + n + ".sha256"); w != "" {
				where = w + ": "
			}
			return nil, fmt.Sprintf("%sfile %s (%s) has SHA-256 %s, the experiment pins %s", where, n, path, d, f.SHA256)
		}
		files[n] = d
		sp.Files[n] = store.FileRef{Path: path, SHA256: d}
	}
	if fp, ok := kind.(Fingerprinter); ok {
		deps, err := fp.Fingerprint(spec.Params, files)
		if err != nil {
			return nil, ParamErrorText(spec, err)
		}
		if len(deps) > 0 {
			sp.Deps = deps
		}
	}
	return kind, ""
}

// fileWhere is "file:line: " where the experiment names external file n
// (origin "files.N"), or "" when unknown.
func fileWhere(spec *Spec, n string) string {
	if w := spec.Where("files." + n); w != "" {
		return w + ": "
	}
	return ""
}

// planUpstream is the Upstream of a stage in a plan being made: its inputs
// are planned before it.
type planUpstream struct {
	p    *Plan
	spec *Spec
}

// Input implements Upstream.
func (u planUpstream) Input(name string) (string, Params, Upstream, bool) {
	up := u.p.byName[u.spec.Inputs[name]]
	if up == nil {
		return "", Params{}, nil, false
	}
	return up.Kind, up.Params, planUpstream{u.p, up.Spec}, true
}

// ParamErrorText formats a parameter error with where the parameter was written.
func ParamErrorText(spec *Spec, err error) string {
	var pe *ParamError
	if errors.As(err, &pe) {
		if w := spec.Where(pe.Key); w != "" {
			return w + ": " + pe.Error()
		}
	}
	if w := spec.Where(""); w != "" {
		return w + ": " + err.Error()
	}
	return err.Error()
}

// Record returns the key ingredients of a planned stage for the history.
func (sp *StagePlan) Record() *KeyRecord {
	r := &KeyRecord{Key: sp.Key, Kind: sp.Kind, KindVersion: sp.KindVersion, CCQVersion: version.Version,
		KeyRecipe: KeyRecipeVersion, Params: sp.Params}
	if len(sp.InputKeys) > 0 {
		r.Inputs = map[string]string{}
		for n, k := range sp.InputKeys {
			r.Inputs[n] = sp.Inputs[n] + "@" + k
		}
	}
	if len(sp.Files) > 0 {
		r.Files = map[string]string{}
		for n, f := range sp.Files {
			r.Files[n] = f.SHA256
		}
	}
	if len(sp.Deps) > 0 {
		r.Deps = maps.Clone(sp.Deps)
	}
	return r
}

// explain says why a stage that is not in the store must run.
func explain(sp *StagePlan, h *History, lookupErr error) (string, []string) {
	if errors.Is(lookupErr, store.ErrCorrupt) {
		return "its store entry is incomplete or damaged (" + lookupErr.Error() + ")", nil
	}
	var old *KeyRecord
	if h != nil {
		old = h.Stages[sp.Name]
	}
	if old == nil {
		return "not in the store (new stage)", nil
	}
	if old.Key == sp.Key {
		return "not in the store: the last run did not finish it (failed, interrupted, or its entry was removed)", nil
	}
	cur := sp.Record()
	var ch []string
	if old.KeyRecipe != cur.KeyRecipe {
		ch = append(ch, fmt.Sprintf("key recipe %d -> %d", old.KeyRecipe, cur.KeyRecipe))
	}
	if old.Kind != cur.Kind {
		ch = append(ch, fmt.Sprintf("kind %s -> %s", old.Kind, cur.Kind))
	}
	if old.KindVersion != cur.KindVersion {
		ch = append(ch, fmt.Sprintf("%s version %s -> %s", cur.Kind, old.KindVersion, cur.KindVersion))
	}
	if old.CCQVersion != cur.CCQVersion {
		ch = append(ch, fmt.Sprintf("ccq version %s -> %s", old.CCQVersion, cur.CCQVersion))
	}
	ch = append(ch, diffParams(old.Params.Map(), cur.Params.Map(), "")...)
	var changedInputs []string
	for _, n := range unionKeys(old.Inputs, cur.Inputs) {
		o, c := old.Inputs[n], cur.Inputs[n]
		switch {
		case o == "":
			ch = append(ch, "new input "+n)
		case c == "":
			ch = append(ch, "input "+n+" removed")
		case o != c:
			label := n
			if sp.Inputs[n] != n {
				label = fmt.Sprintf("%s (%s)", n, sp.Inputs[n])
			}
			changedInputs = append(changedInputs, label)
			ch = append(ch, "input "+label+" changed")
		}
	}
	for _, n := range unionKeys(old.Files, cur.Files) {
		if old.Files[n] != cur.Files[n] {
			ch = append(ch, "file "+n+" changed content")
		}
	}
	for _, n := range unionKeys(old.Deps, cur.Deps) {
		if old.Deps[n] != cur.Deps[n] {
			ch = append(ch, fmt.Sprintf("%s %q -> %q", n, old.Deps[n], cur.Deps[n]))
		}
	}
	if len(ch) == 0 {
		return "its key changed", nil
	}
	if len(changedInputs) > 3 {
		// Keep the one-line reason short; Changes has the full list.
		var short []string
		for _, c := range ch {
			if !strings.HasPrefix(c, "input ") || !strings.HasSuffix(c, " changed") {
				short = append(short, c)
			}
		}
		short = append(short, fmt.Sprintf("%d inputs changed (%s, %s, ...)", len(changedInputs), changedInputs[0], changedInputs[1]))
		return strings.Join(short, "; "), ch
	}
	return strings.Join(ch, "; "), ch
}

func unionKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	return sortedKeys(seen)
}

func diffParams(a, b map[string]any, prefix string) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	keys := sortedKeys(seen)
	var out []string
	for _, k := range keys {
		av, aok := a[k]
		bv, bok := b[k]
		name := prefix + k
		switch {
		case !aok:
			out = append(out, fmt.Sprintf("param %s added (%s)", name, short(bv)))
		case !bok:
			out = append(out, fmt.Sprintf("param %s removed (was %s)", name, short(av)))
		default:
			am, aIsMap := av.(map[string]any)
			bm, bIsMap := bv.(map[string]any)
			if aIsMap && bIsMap {
				out = append(out, diffParams(am, bm, name+".")...)
			} else if !reflect.DeepEqual(av, bv) {
				out = append(out, fmt.Sprintf("param %s: %s -> %s", name, short(av), short(bv)))
			}
		}
	}
	sort.Strings(out)
	return out
}

func short(v any) string {
	p, err := NewParams(map[string]any{"v": v})
	if err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSuffix(strings.TrimPrefix(p.String(), `{"v":`), "}")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
