package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkVNNIOQ times one 4 x 64 requantizing int8 tile over kg groups
// of 4 bytes, with the column groups' offsets on 64-byte boundaries
// ("aligned") or 4 bytes past them ("split", as the taps of a 3 x 3
// convolution read in place), and reports GMAC/s of the tile (4*64*4*kg
// multiply-adds per call).
func BenchmarkVNNIOQ(b *testing.B) {
	for _, kg := range []int{1, 36, 72, 144} {
		for _, shift := range []int{0, 4} {
			name := fmt.Sprintf("kg%d/aligned", kg)
			if shift != 0 {
				name = fmt.Sprintf("kg%d/split", kg)
			}
			b.Run(name, func(b *testing.B) {
				lda := 4 * max(kg, 1)
				a := make([]int8, 4*lda)
				for i := range a {
					a[i] = int8(i%7 - 3)
				}
				n := max(kg, 1)
				offs := make([]int, n)
				for g := range offs {
					offs[g] = (g%9)*256 + shift
				}
				omax := 9*256 + shift
				src := make([]byte, omax+64*4+64)
				for i := range src {
					src[i] = byte(i % 13)
				}
				dst := make([]byte, 256)
				mult := []float32{0.01, 0.02, 0.03, 0.04}
				bias := []float32{0.1, -0.2, 0.3, 0.0}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					VNNIOQ(kg, a, lda, src, offs, omax, dst, mult, bias, 4, 255)
				}
				b.ReportMetric(float64(4*64*4*kg)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
		}
	}
}

// BenchmarkVNNILayer times the row-block kernels over a whole layer of the
// shape of ResNet-20's 16-channel stage (16 output channels, K = 144, 1,024
// pixels x 16 samples = 16,384 columns, one call per 64-column tile) with
// each epilogue: levels only (oq, a block's first convolution), float32
// rows with and without a residual sum (op), and both (opq, a block's
// second convolution), reporting GMAC/s against the VNNI limit of
// `ccq bench peak`.
func BenchmarkVNNILayer(b *testing.B) {
	const kg, out, cols = 36, 16, 1024 * 16
	lda := 4 * kg
	a := make([]int8, out*lda)
	for i := range a {
		a[i] = int8(i%7 - 3)
	}
	offs := make([]int, kg)
	for g := range offs {
		offs[g] = (g % 9) * 256
	}
	omax := offs[kg-1]
	window := 4 * cols
	src := make([]byte, window+omax+256)
	for i := range src {
		src[i] = byte(i % 13)
	}
	mult := make([]float32, out)
	bias := make([]float32, out)
	for i := range mult {
		mult[i], bias[i] = 0.01*float32(i+1), 0.1
	}
	dst := make([]byte, out*cols)
	c := make([]float32, out*cols)
	add := make([]float32, out*cols)
	for _, mode := range []string{"oq", "op", "op-add", "opq", "opq-add"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for j0 := 0; j0 < cols; j0 += 64 {
					bt := src[(j0*4)%(window-omax):]
					switch mode {
					case "oq":
						VNNIOQBlocks(out/4, kg, a, lda, bt, offs, omax, dst[j0*4:], cols*4, mult, bias, 0.5, 255)
					case "op":
						VNNIOPBlocks(out/4, kg, a, lda, bt, offs, omax, c[j0:], cols, mult, bias, true, nil)
					case "op-add":
						VNNIOPBlocks(out/4, kg, a, lda, bt, offs, omax, c[j0:], cols, mult, bias, true, add[j0:])
					case "opq":
						VNNIOPQBlocks(out/4, kg, a, lda, bt, offs, omax, c[j0:], cols, mult, bias, true, nil, dst[j0*4:], cols*4, 0.5, 255)
					default:
						VNNIOPQBlocks(out/4, kg, a, lda, bt, offs, omax, c[j0:], cols, mult, bias, true, add[j0:], dst[j0*4:], cols*4, 0.5, 255)
					}
				}
			}
			b.ReportMetric(float64(out*cols*4*kg)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
