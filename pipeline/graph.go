package pipeline

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Spec is one stage instance as an experiment expands it: a name, a kind,
// parameters and the stages it reads from. Specs know nothing of keys or the
// store; Plan resolves them.
type Spec struct {
	// Name is a readable path unique in the experiment, for example
	// "quantize/rtn-w4-tensor-a32". It names logs and result links.
	Name string `json:"name"`
	// Kind is the stage kind's name.
	Kind string `json:"kind"`
	// Params are the kind's parameters.
	Params Params `json:"params"`
	// Inputs maps input names (as the kind expects them, for example
	// "model" or "dataset") to the names of other stages.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Files maps names to external input files; their content (not their
	// path) enters the key.
	Files map[string]FileSpec `json:"files,omitempty"`
	// Hints are machine-local values (for example a dataset's source folder)
	// that do not change what the stage computes and stay out of the key.
	Hints map[string]string `json:"hints,omitempty"`
	// Origin maps parameter paths ("" for the stage itself, "bits",
	// "plugin_params.lambda") to where they were written, "file:line", for
	// error messages. Optional.
	Origin map[string]string `json:"-"`
}

// FileSpec is an external input file.
type FileSpec struct {
	// Path is absolute or relative to the experiment file's folder.
	Path string `json:"path"`
	// SHA256, if set, pins the expected content; a mismatch blocks the stage.
	SHA256 string `json:"sha256,omitempty"`
	// Executable, if set, requires a program (a file with an execute
	// permission bit), such as an optimizer plugin given by path.
	Executable bool `json:"executable,omitempty"`
}

// Where returns the origin recorded for a parameter path, falling back to
// its parents and then to the stage itself; "" when unknown.
func (s *Spec) Where(param string) string {
	for p := param; ; {
		if w, ok := s.Origin[p]; ok {
			return w
		}
		if p == "" {
			return ""
		}
		if i := strings.LastIndexAny(p, ".["); i >= 0 {
			p = p[:i]
		} else {
			p = ""
		}
	}
}

var stageName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+=,-]*(/[A-Za-z0-9][A-Za-z0-9._+=,-]*)*$`)

// CheckName rejects stage names that are not safe relative paths.
func CheckName(name string) error {
	if !stageName.MatchString(name) {
		return fmt.Errorf("stage name %q: expected segments of letters, digits and ._+=,- separated by '/'", name)
	}
	return nil
}

// Graph is a validated DAG of stage specs in topological order.
type Graph struct {
	// Stages in a topological order that keeps the specs' order where it can.
	Stages []*Spec
	index  map[string]int
	// dependents[i] lists the stages reading from stage i.
	dependents [][]int
}

// NewGraph checks names, inputs and acyclicity and orders the stages.
func NewGraph(specs []Spec) (*Graph, error) {
	idx := make(map[string]int, len(specs))
	for i := range specs {
		s := &specs[i]
		if err := CheckName(s.Name); err != nil {
			return nil, err
		}
		if s.Kind == "" {
			return nil, fmt.Errorf("stage %s: no kind", s.Name)
		}
		if _, dup := idx[s.Name]; dup {
			return nil, fmt.Errorf("two stages are named %s", s.Name)
		}
		idx[s.Name] = i
	}
	indeg := make([]int, len(specs))
	deps := make([][]int, len(specs))
	for i := range specs {
		for _, in := range sortedKeys(specs[i].Inputs) {
			from := specs[i].Inputs[in]
			j, ok := idx[from]
			if !ok {
				return nil, fmt.Errorf("stage %s: input %s names stage %q, which does not exist", specs[i].Name, in, from)
			}
			if j == i {
				return nil, fmt.Errorf("stage %s: input %s names the stage itself", specs[i].Name, in)
			}
			deps[j] = append(deps[j], i)
			indeg[i]++
		}
	}
	// Kahn's algorithm; a min-heap on spec index would keep order exactly, a
	// simple queue seeded in spec order is close enough and linear.
	order := make([]int, 0, len(specs))
	queue := make([]int, 0, len(specs))
	for i := range specs {
		if indeg[i] == 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		order = append(order, i)
		for _, d := range deps[i] {
			indeg[d]--
			if indeg[d] == 0 {
				queue = append(queue, d)
			}
		}
	}
	if len(order) != len(specs) {
		var stuck []string
		for i := range specs {
			if indeg[i] > 0 {
				stuck = append(stuck, specs[i].Name)
			}
		}
		return nil, fmt.Errorf("the stages form a cycle through %s", strings.Join(stuck, ", "))
	}
	g := &Graph{index: make(map[string]int, len(specs)), dependents: make([][]int, len(specs))}
	pos := make([]int, len(specs))
	for p, i := range order {
		s := specs[i]
		g.Stages = append(g.Stages, &s)
		g.index[s.Name] = p
		pos[i] = p
	}
	for i := range specs {
		for _, d := range deps[i] {
			g.dependents[pos[i]] = append(g.dependents[pos[i]], pos[d])
		}
	}
	return g, nil
}

// Stage returns the spec with this name, or nil.
func (g *Graph) Stage(name string) *Spec {
	if i, ok := g.index[name]; ok {
		return g.Stages[i]
	}
	return nil
}

// Dependents returns the names of the stages that read directly from name.
func (g *Graph) Dependents(name string) []string {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(g.dependents[i]))
	for _, d := range g.dependents[i] {
		out = append(out, g.Stages[d].Name)
	}
	return out
}

// IsSink reports whether no stage reads from name (for example the report).
func (g *Graph) IsSink(name string) bool {
	i, ok := g.index[name]
	return ok && len(g.dependents[i]) == 0
}

// Match returns the names of the stages matching a pattern: a stage name, a
// path.Match glob over names ("quantize/*", "evolve/ccea-*"), or a kind name.
func (g *Graph) Match(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	var out []string
	for _, s := range g.Stages {
		ok, _ := path.Match(pattern, s.Name)
		if ok || s.Kind == pattern || strings.HasPrefix(s.Name, strings.TrimSuffix(pattern, "/")+"/") && strings.HasSuffix(pattern, "/") {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

// Select returns the stages a run restricted to patterns (`ccq run --only`)
// covers, by name:
//
//   - every stage matching a pattern (see Match);
//   - every stage they read from, transitively, so each selected stage
//     has its inputs;
//   - every stage of a kind in scorers (the evaluate stages) that reads
//     directly from a matched stage and whose inputs are all selected by
//     the two rules above, so a selected model is also scored. The inputs
//     only pulled in by the second rule do not bring their scorers, and a
//     scorer reading a matched stage beside a model that is not selected
//     (an evaluate stage reading a matched dataset) is left out.
//
// A pattern that matches no stage is an error naming it.
func (g *Graph) Select(patterns, scorers []string) (map[string]bool, error) {
	matched := make([]bool, len(g.Stages))
	for _, pat := range patterns {
		names, err := g.Match(pat)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("pattern %q matches no stage (ccq plan --all lists the stages)", pat)
		}
		for _, n := range names {
			matched[g.index[n]] = true
		}
	}
	selected := make([]bool, len(g.Stages))
	copy(selected, matched)
	// Stages are in topological order: walking backwards reaches every
	// stage after all the stages that read from it.
	for i := len(g.Stages) - 1; i >= 0; i-- {
		if !selected[i] {
			continue
		}
		for _, from := range g.Stages[i].Inputs {
			selected[g.index[from]] = true
		}
	}
	isScorer := map[string]bool{}
	for _, k := range scorers {
		isScorer[k] = true
	}
	out := map[string]bool{}
	for i, s := range g.Stages {
		if selected[i] {
			out[s.Name] = true
			continue
		}
		if !isScorer[s.Kind] || len(s.Inputs) == 0 {
			continue
		}
		readsMatched, inputsSelected := false, true
		for _, from := range s.Inputs {
			j := g.index[from]
			readsMatched = readsMatched || matched[j]
			inputsSelected = inputsSelected && selected[j]
		}
		if readsMatched && inputsSelected {
			out[s.Name] = true
		}
	}
	return out, nil
}
