package optimizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
)

// ValidateProblem checks a problem's internal consistency: lengths, bounds,
// layers, alphabet and parameters. It names the first fault found.
func ValidateProblem(p *Problem) error {
	n := len(p.Start)
	if n == 0 {
		return fmt.Errorf("problem: no variables (start is empty)")
	}
	if n > math.MaxInt32 {
		return fmt.Errorf("problem: %d variables, more than the protocol's int32 indices allow", n)
	}
	if len(p.Lo) != n || len(p.Hi) != n {
		return fmt.Errorf("problem: start has %d levels but lo has %d and hi %d", n, len(p.Lo), len(p.Hi))
	}
	var inAlpha [256]bool
	if len(p.Alphabet) > 0 {
		for k, v := range p.Alphabet {
			if k > 0 && v <= p.Alphabet[k-1] {
				return fmt.Errorf("problem: alphabet must be strictly increasing, got %d after %d at position %d", v, p.Alphabet[k-1], k)
			}
			inAlpha[uint8(v)] = true
		}
	}
	for i := 0; i < n; i++ {
		if p.Lo[i] > p.Hi[i] {
			return fmt.Errorf("problem: variable %d: lo %d > hi %d", i, p.Lo[i], p.Hi[i])
		}
		if p.Start[i] < p.Lo[i] || p.Start[i] > p.Hi[i] {
			return fmt.Errorf("problem: variable %d: start level %d outside [%d, %d]", i, p.Start[i], p.Lo[i], p.Hi[i])
		}
		if len(p.Alphabet) > 0 && !inAlpha[uint8(p.Start[i])] {
			return fmt.Errorf("problem: variable %d: start level %d not in the alphabet %v", i, p.Start[i], p.Alphabet)
		}
	}
	if len(p.Layers) == 0 {
		return fmt.Errorf("problem: no layers")
	}
	next := 0
	for k, l := range p.Layers {
		if l.Offset != next {
			return fmt.Errorf("problem: layer %d (%q) starts at %d, expected %d (layers must tile the variables in order)", k, l.Name, l.Offset, next)
		}
		if l.Count <= 0 {
			return fmt.Errorf("problem: layer %d (%q) has count %d, expected > 0", k, l.Name, l.Count)
		}
		if len(l.Shape) > 0 {
			prod := 1
			for _, s := range l.Shape {
				if s <= 0 {
					return fmt.Errorf("problem: layer %d (%q) has shape %v with a non-positive dimension", k, l.Name, l.Shape)
				}
				prod *= s
			}
			if prod != l.Count {
				return fmt.Errorf("problem: layer %d (%q) has shape %v (%d weights) but count %d", k, l.Name, l.Shape, prod, l.Count)
			}
		}
		next += l.Count
	}
	if next != n {
		return fmt.Errorf("problem: layers cover %d variables but start has %d", next, n)
	}
	if len(p.Params) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(p.Params, &obj); err != nil {
			return fmt.Errorf("problem: params must be a JSON object: %w", err)
		}
	}
	if p.Lambda < 0 {
		return fmt.Errorf("problem: lambda hint %d is negative", p.Lambda)
	}
	if p.BudgetEvaluations < 0 {
		return fmt.Errorf("problem: evaluation budget %d is negative", p.BudgetEvaluations)
	}
	return nil
}

// Checker validates an optimizer's answers against a problem. It reuses its
// buffers, so checking allocates nothing; it is not safe for concurrent use.
type Checker struct {
	p       *Problem
	inAlpha [256]bool
	stamp   []uint32
	cur     uint32
}

// NewChecker returns a Checker for a problem that passed ValidateProblem.
func NewChecker(p *Problem) *Checker {
	c := &Checker{p: p, stamp: make([]uint32, len(p.Start))}
	for _, v := range p.Alphabet {
		c.inAlpha[uint8(v)] = true
	}
	return c
}

// CheckLevel reports whether level v is allowed for variable i.
func (c *Checker) CheckLevel(i int, v int8) error {
	if v < c.p.Lo[i] || v > c.p.Hi[i] {
		return fmt.Errorf("variable %d: level %d outside its domain [%d, %d]", i, v, c.p.Lo[i], c.p.Hi[i])
	}
	if len(c.p.Alphabet) > 0 && !c.inAlpha[uint8(v)] {
		return fmt.Errorf("variable %d: level %d not in the alphabet %v", i, v, c.p.Alphabet)
	}
	return nil
}

// CheckDelta validates one sparse delta: as many levels as indices, every
// index in range and unique, every level inside its variable's domain.
func (c *Checker) CheckDelta(d *Delta) error {
	if len(d.Indices) != len(d.Levels) {
		return fmt.Errorf("%d indices but %d levels", len(d.Indices), len(d.Levels))
	}
	n := len(c.p.Start)
	c.cur++
	if c.cur == 0 { // wrapped: clear the stamps once every 2^32 deltas
		clear(c.stamp)
		c.cur = 1
	}
	for k, i32 := range d.Indices {
		i := int(i32)
		if i < 0 || i >= n {
			return fmt.Errorf("entry %d: index %d out of range [0, %d)", k, i, n)
		}
		if c.stamp[i] == c.cur {
			return fmt.Errorf("entry %d: index %d appears twice", k, i)
		}
		c.stamp[i] = c.cur
		if err := c.CheckLevel(i, d.Levels[k]); err != nil {
			return fmt.Errorf("entry %d: %w", k, err)
		}
	}
	return nil
}

// CheckAsk validates an Ask answer: the base delta, every candidate, and the
// candidate count against the announced maximum.
func (c *Checker) CheckAsk(a *Ask, maxCandidates int) error {
	if a == nil {
		return fmt.Errorf("empty answer")
	}
	if a.Base != nil {
		if err := c.CheckDelta(a.Base); err != nil {
			return fmt.Errorf("base delta: %w", err)
		}
	}
	if a.Done {
		if len(a.Candidates) != 0 {
			return fmt.Errorf("answer says done but carries %d candidates", len(a.Candidates))
		}
		return nil
	}
	if len(a.Candidates) == 0 {
		return fmt.Errorf("no candidates and not done")
	}
	if len(a.Candidates) > maxCandidates {
		return fmt.Errorf("%d candidates, more than the %d announced at Init", len(a.Candidates), maxCandidates)
	}
	for k := range a.Candidates {
		if err := c.CheckDelta(&a.Candidates[k]); err != nil {
			return fmt.Errorf("candidate %d: %w", k, err)
		}
	}
	for name := range a.Stats {
		if name == "" {
			return fmt.Errorf("stats: empty name")
		}
	}
	return nil
}

// CheckSolution validates a full solution: length N, every level allowed.
func (c *Checker) CheckSolution(s *Solution) error {
	if s == nil {
		return fmt.Errorf("empty solution")
	}
	if len(s.Levels) != len(c.p.Start) {
		return fmt.Errorf("solution has %d levels, expected %d", len(s.Levels), len(c.p.Start))
	}
	for i, v := range s.Levels {
		if err := c.CheckLevel(i, v); err != nil {
			return err
		}
	}
	return nil
}

// DecodeParams decodes a Problem's Params JSON object into dst (a pointer to
// a struct with json tags and its defaults already set), rejecting any name
// not in allowed and any value of the wrong type, with the parameter named.
func DecodeParams(raw json.RawMessage, allowed []Param, dst any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("params: expected a JSON object: %w", err)
	}
	names := make(map[string]bool, len(allowed))
	for _, p := range allowed {
		names[p.Name] = true
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !names[k] {
			list := make([]string, 0, len(allowed))
			for _, p := range allowed {
				list = append(list, p.Name)
			}
			return &ParamError{Name: k, Msg: fmt.Sprintf("params: unknown parameter %q (known: %v)", k, list)}
		}
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &ParamError{Name: te.Field, Msg: fmt.Sprintf("params: parameter %q: got a JSON %s, expected %s", te.Field, te.Value, te.Type)}
		}
		return fmt.Errorf("params: %w", err)
	}
	return nil
}

// ParamError is a fault of one named parameter (DecodeParams returns it
// for unknown names and wrong types), so callers can point at where the
// parameter was written.
type ParamError struct {
	// Name is the parameter's name.
	Name string
	// Msg is the whole message.
	Msg string
}

func (e *ParamError) Error() string { return e.Msg }

// CheckDeclared checks a Problem's Params JSON object against the
// parameters an optimizer declares in its Info, without the optimizer's own
// code: every name must be declared, and a value must be a JSON number for
// "int" (an integral one) and "float", a string for "string" and a boolean
// for "bool" (other declared types are not checked). Ranges are the
// optimizer's to check at Init. It returns a *ParamError naming the
// parameter.
func CheckDeclared(raw json.RawMessage, declared []Param) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("params: expected a JSON object: %w", err)
	}
	types := make(map[string]string, len(declared))
	names := make([]string, 0, len(declared))
	for _, p := range declared {
		types[p.Name] = p.Type
		names = append(names, p.Name)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		typ, ok := types[k]
		if !ok {
			return &ParamError{Name: k, Msg: fmt.Sprintf("params: unknown parameter %q (known: %v)", k, names)}
		}
		v := obj[k]
		var fits bool
		switch typ {
		case "int":
			f, isNum := v.(float64)
			fits = isNum && f == math.Trunc(f)
		case "float":
			_, fits = v.(float64)
		case "string":
			_, fits = v.(string)
		case "bool":
			_, fits = v.(bool)
		default:
			fits = true
		}
		if !fits {
			b, _ := json.Marshal(v)
			return &ParamError{Name: k, Msg: fmt.Sprintf("params: parameter %q: got %s, expected %s", k, b, article(typ))}
		}
	}
	return nil
}

// article prefixes a parameter type with "a" or "an".
func article(typ string) string {
	if typ == "int" {
		return "an int"
	}
	return "a " + typ
}
