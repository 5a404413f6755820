package gemm

// Kernel names the micro-kernel Sgemm prefers for large products on this CPU
// and build: an AVX-512 kernel ("avx512_8x32"), an AVX2 one ("avx2_6x16")
// or the pure-Go one ("go4x4", builds with the purego tag or without
// AVX2). It says which instruction set the float32 engine runs on.
func Kernel() string { return candidates[0].kr.name }
