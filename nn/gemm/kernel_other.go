//go:build purego || !amd64

package gemm

// candidates is the pure-Go micro-kernel: this build has no assembly.
var candidates = []candidate{{kr: &goKernel, speed: 1, aliasedSpeed: 1}}

// kernels lists the micro-kernels this build can run on this CPU.
func kernels() []*kernel { return []*kernel{&goKernel} }
