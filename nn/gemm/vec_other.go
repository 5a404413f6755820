//go:build purego || !amd64

package gemm

func axpy(alpha float32, x, y []float32) { axpyGo(alpha, x, y) }

func dot(x, y []float32) float32 { return dotGo(x, y) }

func addBlocks(dst []float32, ldd, ddb int, src []float32, lds, dsb, blocks, rows, cols int) {
	addBlocksGo(dst, ldd, ddb, src, lds, dsb, blocks, rows, cols)
}

// vecKernels lists the Axpy and Dot implementations this build can run.
func vecKernels() []vecKernel {
	return []vecKernel{{"go", axpyGo, dotGo, addBlocksGo}}
}
