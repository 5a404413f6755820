//go:build !purego

package gemm

// defaultKernel is the fastest micro-kernel this CPU supports.
var defaultKernel = goKernel

// kernels lists the micro-kernels this build can run on this CPU.
func kernels() []*kernel { return []*kernel{&goKernel} }
