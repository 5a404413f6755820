package engine

import "github.com/ccq-project/ccq/quant/internal/kernels"

// Int8Kernel says which int8 GEMM the evaluator uses for layers whose
// inputs are quantized activations: "avx512-vnni" on CPUs with AVX-512 VNNI,
// else "go" (the pure-Go twin, also in builds with the purego tag).
func Int8Kernel() string {
	if kernels.UseVNNI {
		return "avx512-vnni"
	}
	return "go"
}
