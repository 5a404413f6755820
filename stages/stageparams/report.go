package stageparams

import (
	"fmt"

	"github.com/ccq-project/ccq/pipeline"
)

// Report are the report stage's parameters: the experiment's [report]
// plus the experiment's name.
type Report struct {
	Experiment string `json:"experiment"`
	// Reference is the row the others are tested against (a variant).
	Reference string `json:"reference,omitempty"`
	// Alpha is the significance level of the tests (0: the report
	// builder's default).
	Alpha float64 `json:"alpha,omitempty"`
	// NoPNG leaves the PNG plots out (SVG only).
	NoPNG bool `json:"no_png,omitempty"`
	// Pairs, when set, replace Reference: each [method, against] pair's
	// rows are tested against each other.
	Pairs [][]string `json:"pairs,omitempty"`
}

// Validate checks ranges.
func (p *Report) Validate() error {
	if p.Alpha < 0 || p.Alpha >= 1 {
		return &pipeline.ParamError{Key: "alpha", Msg: "expected a significance level in (0, 1)"}
	}
	for i, pr := range p.Pairs {
		if len(pr) != 2 || pr[0] == "" || pr[1] == "" || pr[0] == pr[1] {
			return &pipeline.ParamError{Key: "pairs", Msg: fmt.Sprintf("pair %d %q: expected two different row names", i, pr)}
		}
	}
	return nil
}
