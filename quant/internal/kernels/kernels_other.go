//go:build purego || !amd64

package kernels

// useAsm is false: only the pure-Go kernels exist in this build.
const useAsm = false

func reluAsm(dst, src []float32)                       { reluGo(dst, src) }
func maxAsm(dst, src []float32)                        { maxGo(dst, src) }
func quantAsm(dst, src []float32, inv, lo, hi float32) { quantGo(dst, src, inv, lo, hi) }
func postAsm(dst, src []float32, m, b float32, withRelu bool) {
	if withRelu {
		postReluGo(dst, src, m, b)
	} else {
		postGo(dst, src, m, b)
	}
}

func axpyAsm(a float32, x, y []float32) { axpyGo(a, x, y) }

func addAsm(dst, a, b []float32, withRelu bool) {
	if withRelu {
		addReluGo(dst, a, b)
	} else {
		addGo(dst, a, b)
	}
}

func max4Asm(dst, a, b, c, d []float32) { max4Go(dst, a, b, c, d) }

func sumRowsAsm(dst, src []float32, ld, rows int) { sumRowsGo(dst, src, ld, rows) }
