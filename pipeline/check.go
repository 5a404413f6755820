package pipeline

import (
	"context"
	"fmt"
	"strings"
)

// CheckOptions configure Check.
type CheckOptions struct {
	// Registry to resolve kinds in; DefaultRegistry if nil.
	Registry *Registry
	// BaseDir resolves relative external file paths (the experiment's folder).
	BaseDir string
	// Only, when not nil, limits the check to the stages it holds (a
	// selection of Graph.Select: a run with --only).
	Only map[string]bool
}

// CheckResult lists what stops a graph from running, found without running
// anything.
type CheckResult struct {
	// Errors are the faults found, each once: where the experiment wrote
	// it when known, what is wrong, and the stages it blocks.
	Errors []string
}

// OK reports whether nothing was found.
func (r CheckResult) OK() bool { return len(r.Errors) == 0 }

// Check resolves every stage of g as planning does, with the same function
// and messages, but needs no store: each stage's kind must be built in,
// its parameters must pass the kind's checks, its external files must
// exist (programs where required) and match their pins, and a
// Fingerprinter kind must resolve what its parameters name (an optimizer
// plugin). Then a Prober kind checks what only something outside ccq can
// tell (an external plugin's declared parameters). `ccq validate` reports
// the result; `ccq run` refuses to start when it is not OK. Every stage
// (of opt.Only, when set) is checked, also those whose inputs have faults,
// and a fault shared by many
// stages (one line of the experiment expanded over seeds and bit widths)
// is reported once.
func Check(ctx context.Context, g *Graph, opt CheckOptions) CheckResult {
	reg := opt.Registry
	if reg == nil {
		reg = DefaultRegistry
	}
	var (
		order  []string
		stages = map[string][]string{}
	)
	digests := map[string]string{}
	for _, spec := range g.Stages {
		if opt.Only != nil && !opt.Only[spec.Name] {
			continue
		}
		sp := &StagePlan{Spec: spec}
		kind, reason := resolveStage(sp, reg, opt.BaseDir, digests)
		if pr, ok := kind.(Prober); ok && reason == "" {
			files := make(map[string]string, len(sp.Files))
			for n, f := range sp.Files {
				files[n] = f.Path
			}
			if err := pr.Probe(ctx, spec.Params, files); err != nil {
				reason = ParamErrorText(spec, err)
			}
		}
		if reason == "" {
			continue
		}
		if _, ok := stages[reason]; !ok {
			order = append(order, reason)
		}
		stages[reason] = append(stages[reason], spec.Name)
	}
	var r CheckResult
	for _, reason := range order {
		// The stages go at the end of the first line: a plugin's
		// message may quote its stderr on the lines after it.
		first, rest, multiline := strings.Cut(reason, "\n")
		e := first + " (" + stageList(stages[reason]) + ")"
		if multiline {
			e += "\n" + rest
		}
		r.Errors = append(r.Errors, e)
	}
	return r
}

// stageList names the first stage and counts the others.
func stageList(names []string) string {
	switch len(names) {
	case 1:
		return "stage " + names[0]
	case 2:
		return "stages " + names[0] + " and " + names[1]
	}
	return fmt.Sprintf("stage %s and %d more", names[0], len(names)-1)
}
