package optimizer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func small() *Problem {
	return &Problem{
		Layers: []Layer{{Name: "a", Offset: 0, Count: 2, Shape: []int{2}}, {Name: "b", Offset: 2, Count: 2}},
		Start:  []int8{0, 1, -1, 3},
		Lo:     []int8{-1, -1, -1, -3},
		Hi:     []int8{1, 1, 1, 3},
	}
}

func TestValidateProblem(t *testing.T) {
	if err := ValidateProblem(small()); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(p *Problem){
		"no variables":          func(p *Problem) { p.Start, p.Lo, p.Hi = nil, nil, nil },
		"lo has 3":              func(p *Problem) { p.Lo = p.Lo[:3] },
		"lo 2 > hi 1":           func(p *Problem) { p.Lo[0] = 2 },
		"start level 3 outside": func(p *Problem) { p.Start[0] = 3 },
		"strictly increasing":   func(p *Problem) { p.Alphabet = []int8{1, 1} },
		"not in the alphabet":   func(p *Problem) { p.Alphabet = []int8{-1, 1} },
		"starts at 1":           func(p *Problem) { p.Layers[1].Offset = 1 },
		"count 0":               func(p *Problem) { p.Layers[1].Count = 0 },
		"shape [3]":             func(p *Problem) { p.Layers[0].Shape = []int{3} },
		"cover 3 variables":     func(p *Problem) { p.Layers[1].Count = 1 },
		"no layers":             func(p *Problem) { p.Layers = nil },
		"JSON object":           func(p *Problem) { p.Params = json.RawMessage(`[1]`) },
		"lambda hint -1":        func(p *Problem) { p.Lambda = -1 },
	}
	for want, mutate := range cases {
		p := small()
		mutate(p)
		if err := ValidateProblem(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestChecker(t *testing.T) {
	p := small()
	p.Alphabet = []int8{-3, -1, 0, 1, 3}
	c := NewChecker(p)
	ok := &Ask{Base: &Delta{Indices: []int32{3}, Levels: []int8{-3}}, Candidates: []Delta{{Indices: []int32{1, 0}, Levels: []int8{0, 1}}, {}}}
	for k := 0; k < 3; k++ { // stamps are reused correctly
		if err := c.CheckAsk(ok, 2); err != nil {
			t.Fatal(err)
		}
	}
	bad := map[string]*Ask{
		"empty answer":                  nil,
		"out of range [0, 4)":           {Candidates: []Delta{{Indices: []int32{4}, Levels: []int8{0}}}},
		"appears twice":                 {Candidates: []Delta{{Indices: []int32{1, 1}, Levels: []int8{0, 0}}}},
		"outside its domain [-1, 1]":    {Candidates: []Delta{{Indices: []int32{0}, Levels: []int8{2}}}},
		"not in the alphabet":           {Candidates: []Delta{{Indices: []int32{3}, Levels: []int8{2}}}},
		"2 indices but 1 levels":        {Candidates: []Delta{{Indices: []int32{0, 1}, Levels: []int8{0}}}},
		"more than the 2 announced":     {Candidates: make([]Delta, 3)},
		"no candidates and not done":    {},
		"base delta":                    {Base: &Delta{Indices: []int32{-1}, Levels: []int8{0}}, Candidates: make([]Delta, 1)},
		"done but carries 1 candidates": {Done: true, Candidates: make([]Delta, 1)},
		"stats: empty name":             {Candidates: make([]Delta, 1), Stats: map[string]float64{"": 1}},
	}
	for want, a := range bad {
		if err := c.CheckAsk(a, 2); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	if err := c.CheckAsk(&Ask{Done: true, Base: ok.Base}, 2); err != nil {
		t.Errorf("done with a base: %v", err)
	}
	if err := c.CheckSolution(&Solution{Levels: []int8{0, 0, 0}}); err == nil {
		t.Error("short solution accepted")
	}
	if err := c.CheckSolution(&Solution{Levels: []int8{0, 0, 0, 2}}); err == nil {
		t.Error("solution outside the alphabet accepted")
	}
}

func TestDecodeParams(t *testing.T) {
	type P struct {
		A int     `json:"a"`
		B float64 `json:"b"`
	}
	allowed := []Param{{Name: "a"}, {Name: "b"}}
	p := P{A: 1, B: 2}
	if err := DecodeParams(nil, allowed, &p); err != nil || p != (P{1, 2}) {
		t.Fatal(p, err)
	}
	if err := DecodeParams(json.RawMessage(`{"b": 3.5}`), allowed, &p); err != nil || p != (P{1, 3.5}) {
		t.Fatal(p, err)
	}
	for raw, want := range map[string]string{
		`{"c": 1}`:   `unknown parameter "c"`,
		`{"a": "x"}`: `parameter "a": got a JSON string, expected int`,
		`{"a": 1.5}`: `parameter "a"`,
		`3`:          "expected a JSON object",
	} {
		if err := DecodeParams(json.RawMessage(raw), allowed, &p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", raw, err, want)
		}
	}
}

func TestDeltaHelpers(t *testing.T) {
	d := Delta{Indices: []int32{2, 0}, Levels: []int8{5, -5}}
	x := []int8{1, 1, 1}
	c := d.Clone()
	d.Levels[0] = 9
	c.ApplyTo(x)
	if x[0] != -5 || x[2] != 5 || c.Len() != 2 {
		t.Fatalf("%v %v", x, c)
	}
}

// FuzzCheckAsk: whatever a plugin answers, checking it never panics, and an
// accepted candidate only touches allowed levels.
func FuzzCheckAsk(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 255}, 2)
	f.Fuzz(func(t *testing.T, raw []byte, maxC int) {
		p := small()
		c := NewChecker(p)
		var d Delta
		for k := 0; k+1 < len(raw); k += 2 {
			d.Indices = append(d.Indices, int32(int8(raw[k])))
			d.Levels = append(d.Levels, int8(raw[k+1]))
		}
		if len(raw)%2 == 1 {
			d.Levels = append(d.Levels, int8(raw[len(raw)-1]))
		}
		a := &Ask{Candidates: []Delta{d}}
		if c.CheckAsk(a, maxC) == nil {
			x := append([]int8(nil), p.Start...)
			d.ApplyTo(x)
			if err := c.CheckSolution(&Solution{Levels: x}); err != nil {
				t.Fatalf("accepted a candidate leading to an invalid solution: %v", err)
			}
		}
	})
}

func TestCheckDeclared(t *testing.T) {
	declared := []Param{{Name: "lambda", Type: "int"}, {Name: "rate", Type: "float"}, {Name: "mode", Type: "string"},
		{Name: "learn", Type: "bool"}, {Name: "odd", Type: "matrix"}}
	for _, tc := range []struct {
		raw  string
		name string // "" = accepted
		msg  string
	}{
		{``, "", ""},
		{`null`, "", ""},
		{`{}`, "", ""},
		{`{"lambda": 8, "rate": 0.5, "mode": "x", "learn": true, "odd": [1]}`, "", ""},
		{`{"lambda": 8.0, "rate": 1}`, "", ""},
		{`{"lambda": 8, "speed": 2}`, "speed", `unknown parameter "speed" (known: [lambda rate mode learn odd])`},
		{`{"lambda": 8.5}`, "lambda", `parameter "lambda": got 8.5, expected an int`},
		{`{"lambda": "8"}`, "lambda", `parameter "lambda": got "8", expected an int`},
		{`{"rate": true}`, "rate", `parameter "rate": got true, expected a float`},
		{`{"mode": 3}`, "mode", `parameter "mode": got 3, expected a string`},
		{`{"learn": "yes"}`, "learn", `parameter "learn": got "yes", expected a bool`},
	} {
		err := CheckDeclared(json.RawMessage(tc.raw), declared)
		var pe *ParamError
		switch {
		case tc.name == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.raw, err)
		case tc.name != "" && (!errors.As(err, &pe) || pe.Name != tc.name || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("%s: %v, want a parameter error on %s containing %q", tc.raw, err, tc.name, tc.msg)
		}
	}
	if err := CheckDeclared(json.RawMessage(`[1]`), declared); err == nil {
		t.Error("a JSON array was accepted as params")
	}
}
