package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// vecLens are the lengths tried: every length up to 130 (all tails of the
// 64/32/16/8-element loops) and a few long ones.
func vecLens() []int {
	var out []int
	for n := 1; n <= 130; n++ {
		out = append(out, n)
	}
	return append(out, 1000, 4099)
}

func TestAxpyKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, vk := range vecKernels() {
		for _, n := range vecLens() {
			alpha := []float32{1, -0.5, 3.25}[n%3]
			gx := newGuarded(n, rng.IntN(16))
			gy := newGuarded(n, rng.IntN(16))
			fillRandom(rng, gx.data())
			fillRandom(rng, gy.data())
			gx.snapshot()
			gy.snapshot()
			vk.axpy(alpha, gx.data(), gy.data())
			what := fmt.Sprintf("%s axpy n=%d", vk.name, n)
			gx.checkUnchanged(t, what+" x")
			gy.checkGuards(t, what+" y")
			for i, got := range gy.data() {
				x, y := float64(gx.initial[i]), float64(gy.initial[i])
				want := y + float64(alpha)*x
				tol := 2 * f32eps * (math.Abs(y) + math.Abs(float64(alpha)*x))
				if math.Abs(float64(got)-want) > tol {
					t.Fatalf("%s: y[%d] = %v, want %v (tolerance %.3g)", what, i, got, want, tol)
				}
			}
		}
	}
}

func TestDotKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	for _, vk := range vecKernels() {
		for _, n := range vecLens() {
			gx := newGuarded(n, rng.IntN(16))
			gy := newGuarded(n, rng.IntN(16))
			fillRandom(rng, gx.data())
			fillRandom(rng, gy.data())
			gx.snapshot()
			gy.snapshot()
			got := vk.dot(gx.data(), gy.data())
			what := fmt.Sprintf("%s dot n=%d", vk.name, n)
			gx.checkUnchanged(t, what+" x")
			gy.checkUnchanged(t, what+" y")
			var want, mag float64
			for i := range n {
				p := float64(gx.initial[i]) * float64(gy.initial[i])
				want += p
				mag += math.Abs(p)
			}
			if tol := tolerance(n, mag); math.Abs(float64(got)-want) > tol {
				t.Fatalf("%s: got %v, want %v (tolerance %.3g)", what, got, want, tol)
			}
		}
	}
}

func TestVecAPI(t *testing.T) {
	x := []float32{1, 2, 3}
	y := []float32{10, 20, 30}
	Axpy(2, x, y)
	if y[0] != 12 || y[1] != 24 || y[2] != 36 {
		t.Fatalf("Axpy: y = %v", y)
	}
	Axpy(1, y, y) // same slice: y = 2y
	if y[2] != 72 {
		t.Fatalf("Axpy(1, y, y): y = %v", y)
	}
	if d := Dot(x, []float32{1, 1, 1}); d != 6 {
		t.Fatalf("Dot = %v, want 6", d)
	}
	if d := Dot(nil, nil); d != 0 {
		t.Fatalf("Dot of empty slices = %v", d)
	}
	Axpy(1, nil, nil)
	for _, f := range []func(){
		func() { Axpy(1, x, y[:2]) },
		func() { Dot(x, y[:1]) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("length mismatch did not panic")
				}
			}()
			f()
		}()
	}
}

func BenchmarkDot(b *testing.B) {
	for _, vk := range vecKernels() {
		for _, n := range []int{256, 4096, 1 << 20} {
			b.Run(fmt.Sprintf("%s/n=%d", vk.name, n), func(b *testing.B) {
				x, y := make([]float32, n), make([]float32, n)
				var s float32
				for b.Loop() {
					s += vk.dot(x, y)
				}
				b.ReportMetric(2*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkAxpy(b *testing.B) {
	for _, vk := range vecKernels() {
		for _, n := range []int{256, 4096, 1 << 20} {
			b.Run(fmt.Sprintf("%s/n=%d", vk.name, n), func(b *testing.B) {
				x, y := make([]float32, n), make([]float32, n)
				for b.Loop() {
					vk.axpy(0.5, x, y)
				}
				b.ReportMetric(2*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestAddBlocksKernels checks the block addition used by Col2im: exactly
// the twin's additions, guards and the gaps between rows and blocks
// untouched.
func TestAddBlocksKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	for _, vk := range vecKernels() {
		for _, blocks := range []int{1, 3} {
			for _, rows := range []int{1, 2, 5} {
				for _, cols := range []int{1, 3, 8, 15, 16, 17, 31, 33, 40} {
					ldd, lds := cols+pick(rng, 0, 1, 3, 9), cols+rng.IntN(4)
					ddb, dsb := rows*ldd+rng.IntN(5), rows*lds+rng.IntN(5)
					gd := newGuarded((blocks-1)*ddb+(rows-1)*ldd+cols, rng.IntN(16))
					gs := newGuarded((blocks-1)*dsb+(rows-1)*lds+cols, rng.IntN(16))
					fillRandom(rng, gd.data())
					fillRandom(rng, gs.data())
					gd.snapshot()
					gs.snapshot()
					vk.add(gd.data(), ldd, ddb, gs.data(), lds, dsb, blocks, rows, cols)
					what := fmt.Sprintf("%s addBlocks blocks=%d rows=%d cols=%d", vk.name, blocks, rows, cols)
					gs.checkUnchanged(t, what+" src")
					gd.checkGuards(t, what+" dst")
					want := append([]float32(nil), gd.initial...)
					for b := 0; b < blocks; b++ {
						for r := 0; r < rows; r++ {
							for j := 0; j < cols; j++ {
								want[b*ddb+r*ldd+j] += gs.initial[b*dsb+r*lds+j]
							}
						}
					}
					for i, got := range gd.data() {
						if math.Float32bits(got) != math.Float32bits(want[i]) {
							t.Fatalf("%s: dst[%d] = %v, want %v", what, i, got, want[i])
						}
					}
				}
			}
		}
	}
}
