package pipeline

// CheckResult lists parameter problems found without running.
type CheckResult struct {
	// Errors are parameter errors reported by the kinds, prefixed with
	// where the parameter was written when known.
	Errors []string
	// Unchecked lists kinds that are not built into this ccq (their
	// stages' parameters were not checked).
	Unchecked []string
}

// Check asks each registered kind that implements Checker about the
// parameters of its stages. It needs neither a store nor input files.
func Check(g *Graph, reg *Registry) CheckResult {
	if reg == nil {
		reg = DefaultRegistry
	}
	var r CheckResult
	missing := map[string]bool{}
	seen := map[string]bool{}
	for _, s := range g.Stages {
		k, ok := reg.Lookup(s.Kind)
		if !ok {
			if !missing[s.Kind] {
				missing[s.Kind] = true
				r.Unchecked = append(r.Unchecked, s.Kind)
			}
			continue
		}
		c, ok := k.(Checker)
		if !ok {
			continue
		}
		if err := c.CheckParams(s.Params); err != nil {
			msg := ParamErrorText(s, err) + " (stage " + s.Name + ")"
			if !seen[msg] {
				seen[msg] = true
				r.Errors = append(r.Errors, msg)
			}
		}
	}
	return r
}
