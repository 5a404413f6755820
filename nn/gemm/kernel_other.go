//go:build purego || !amd64

package gemm

// defaultKernel is the pure-Go micro-kernel: this build has no assembly.
var defaultKernel = goKernel

// kernels lists the micro-kernels this build can run on this CPU.
func kernels() []*kernel { return []*kernel{&goKernel} }
