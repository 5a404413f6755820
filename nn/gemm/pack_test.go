package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestTranspose8 checks the transposing pack kernel against its definition
// on guarded buffers, for lengths around its 8-step and strides above 8.
func TestTranspose8(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for n := 1; n <= 41; n++ {
		for _, ldd := range []int{8, 16, 37} {
			lds := n + rng.IntN(5)
			gs := newGuarded(7*lds+n, rng.IntN(16))
			gd := newGuarded((n-1)*ldd+8, rng.IntN(16))
			fillRandom(rng, gs.data())
			fillRandom(rng, gd.data())
			gs.snapshot()
			gd.snapshot()
			transpose8(gd.data(), ldd, gs.data(), lds, n)
			what := fmt.Sprintf("transpose8 n=%d ldd=%d lds=%d", n, ldd, lds)
			gs.checkUnchanged(t, what+" src")
			gd.checkGuards(t, what+" dst")
			for i, got := range gd.data() {
				p, j := i/ldd, i%ldd
				want := gd.initial[i]
				if j < 8 {
					want = gs.initial[j*lds+p]
				}
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s: dst[%d] = %v, want %v", what, i, got, want)
				}
			}
		}
	}
}
