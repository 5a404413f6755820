// Package all links every built-in stage kind into a binary: import it for
// its side effect of registering the kinds with the pipeline.
package all

import (
	// Each stage kind registers itself in its init function.
	_ "github.com/ccq-project/ccq/stages/dataset"
	_ "github.com/ccq-project/ccq/stages/evaluate"
	_ "github.com/ccq-project/ccq/stages/evolve"
	_ "github.com/ccq-project/ccq/stages/pretrain"
	_ "github.com/ccq-project/ccq/stages/quantize"
	_ "github.com/ccq-project/ccq/stages/report"
)
