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
