package kernels

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// refFixed is round(v * m0 / 2^sh), halves away from zero, computed with
// big integers (the definition the fixed-point kernels must meet for every
// int64 v), wrapped to int64 like the kernels' sums.
func refFixed(v, m0 int64, sh int) int64 {
	a := new(big.Int).Abs(big.NewInt(v))
	a.Mul(a, big.NewInt(m0))
	if sh > 0 {
		a.Add(a, new(big.Int).Lsh(big.NewInt(1), uint(sh-1)))
		a.Rsh(a, uint(sh))
	} else {
		a.Lsh(a, uint(-sh))
	}
	if v < 0 {
		a.Neg(a)
	}
	return int64(new(big.Int).And(a, new(big.Int).SetUint64(math.MaxUint64)).Uint64())
}

// TestQuantQuadMatchesTwin runs quantQuad (assembly where available) and
// its twin on guard-padded buffers across lengths and offsets, with
// special values, and checks both against the float32 quantizer's levels.
func TestQuantQuadMatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0.5, 1.5, 2.5, 254.5, 255.5, 14.5, 15.5, 1e30, -1e30}
	const guard = 32
	const inv = float32(1 / 0.37)
	for _, hi := range []float32{255, 15, 1} {
		for n := 0; n <= 70; n++ {
			for off := 0; off < 3; off++ {
				var rows [4][]float32
				for r := range rows {
					rows[r] = make([]float32, n+off)
					for i := range rows[r] {
						if rng.IntN(4) == 0 {
							rows[r][i] = special[rng.IntN(len(special))] * 0.37
						} else {
							rows[r][i] = float32(rng.NormFloat64() * 40)
						}
					}
					rows[r] = rows[r][off:]
				}
				fast := make([]byte, 4*n+off+2*guard)
				twin := make([]byte, len(fast))
				for i := range fast {
					fast[i], twin[i] = 0xA5, 0xA5
				}
				mult := [4]float32{1, 0.5, 3, 1}
				bias := [4]float32{0, -1, 2.5, 0}
				quantQuad(fast[guard+off:guard+off+4*n], rows[0], rows[1], rows[2], rows[3], &mult, &bias, inv, hi)
				quantQuadGo(twin[guard+off:guard+off+4*n], rows[0], rows[1], rows[2], rows[3], &mult, &bias, inv, hi)
				for i := range fast {
					if fast[i] != twin[i] {
						t.Fatalf("hi %v n %d off %d: byte %d: %d, twin %d", hi, n, off, i, fast[i], twin[i])
					}
					k := i - guard - off
					if k < 0 || k >= 4*n {
						if fast[i] != 0xA5 {
							t.Fatalf("hi %v n %d off %d: guard byte %d overwritten", hi, n, off, i)
						}
						continue
					}
					ref := make([]float32, 1)
					postGo(ref, rows[k%4][k/4:k/4+1], mult[k%4], bias[k%4])
					quantGo(ref, ref, inv, 0, hi)
					if float32(fast[i]) != ref[0] {
						t.Fatalf("hi %v: value %v: byte %d, float32 path %v", hi, rows[k%4][k/4], fast[i], ref[0])
					}
				}
			}
		}
	}
}

// TestMaxU8MatchesTwin checks the byte maximum against its twin on
// guard-padded buffers.
func TestMaxU8MatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const guard = 40
	for n := 0; n <= 100; n++ {
		for off := 0; off < 3; off++ {
			src := make([]byte, n)
			d0 := make([]byte, n+off+2*guard)
			for i := range src {
				src[i] = byte(rng.IntN(256))
			}
			for i := range d0 {
				d0[i] = byte(rng.IntN(256))
			}
			d1 := append([]byte(nil), d0...)
			want := append([]byte(nil), d0...)
			maxU8(d0[guard+off:guard+off+n], src)
			maxU8Go(d1[guard+off:guard+off+n], src)
			for i := range src {
				want[guard+off+i] = max(want[guard+off+i], src[i])
			}
			for i := range d0 {
				if d0[i] != d1[i] || d0[i] != want[i] {
					t.Fatalf("n %d off %d: byte %d: %d, twin %d, want %d", n, off, i, d0[i], d1[i], want[i])
				}
			}
		}
	}
}

// TestVNNIKernelsMatchTwins runs the implicit-GEMM micro-kernels (assembly
// where available) and their twins on random weights, bytes and group
// offsets, with guard-padded outputs, and checks the twins against int64
// sums rescaled and quantized as the float32 path does (and, for the raw
// int32 kernel of integer-only inference, the sums themselves).
func TestVNNIKernelsMatchTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const guard = 64
	for _, kg := range []int{1, 2, 7, 36, 144} {
		for _, lda := range []int{4 * kg, 4*kg + 12} {
			a := make([]int8, 3*lda+4*kg)
			for i := range a {
				a[i] = int8(rng.IntN(255) - 127)
			}
			b := make([]byte, 4096+256)
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			offs := make([]int, kg)
			omax := 0
			for g := range offs {
				offs[g] = rng.IntN(4096)
				omax = max(omax, offs[g])
			}
			mult, bias := make([]float32, 4), make([]float32, 4)
			for i := range mult {
				mult[i] = float32(rng.Float64()*1e-3 + 1e-6)
				bias[i] = float32(rng.NormFloat64())
			}
			sum := func(i, j int) float32 {
				var s int64
				for g := 0; g < kg; g++ {
					for t := 0; t < 4; t++ {
						s += int64(a[i*lda+4*g+t]) * int64(b[offs[g]+4*j+t])
					}
				}
				return float32(s)
			}
			for _, hi := range []float32{255, 15} {
				const inv = 7.5
				fast := make([]byte, 256+2*guard)
				twin := make([]byte, len(fast))
				for i := range fast {
					fast[i], twin[i] = 0xA5, 0xA5
				}
				VNNIOQ(kg, a, lda, b, offs, omax, fast[guard:], mult, bias, inv, hi)
				vnniOQGo(kg, a, lda, b, offs, twin[guard:], mult, bias, inv, hi)
				for i := range fast {
					want := byte(0xA5)
					if p := i - guard; p >= 0 && p < 256 {
						r, j := p%4, p/4
						want = byte(quantLevel(Post(sum(r, j), mult[r], bias[r]), inv, 0, hi))
					}
					if fast[i] != twin[i] || twin[i] != want {
						t.Fatalf("kg %d lda %d hi %v: byte %d: %d, twin %d, want %d", kg, lda, hi, i, fast[i], twin[i], want)
					}
				}
			}
			{
				// The raw int32 accumulators (integer-only inference),
				// rows ldc apart, guard-padded.
				const ldc = 72
				fast := make([]int32, 3*ldc+64+2*guard)
				twin := make([]int32, len(fast))
				for i := range fast {
					fast[i], twin[i] = -777, -777
				}
				VNNIOI(kg, a, lda, b, offs, omax, fast[guard:], ldc)
				vnniOIGo(kg, a, lda, b, offs, twin[guard:], ldc)
				for i := range fast {
					want := int32(-777)
					if p := i - guard; p >= 0 && p%ldc < 64 && p/ldc < 4 {
						want = int32(sum(p/ldc, p%ldc))
					}
					if fast[i] != twin[i] || twin[i] != want {
						t.Fatalf("kg %d lda %d: accumulator %d: %d, twin %d, want %d", kg, lda, i, fast[i], twin[i], want)
					}
				}
			}
			for _, withAdd := range []bool{false, true} {
				for _, withRelu := range []bool{false, true} {
					const ldc = 80
					fast := make([]float32, 3*ldc+64+2*guard)
					twin := make([]float32, len(fast))
					for i := range fast {
						fast[i], twin[i] = -777, -777
					}
					var add []float32
					if withAdd {
						add = make([]float32, 3*ldc+64)
						for i := range add {
							add[i] = float32(rng.NormFloat64())
						}
					}
					VNNIOP(kg, a, lda, b, offs, omax, fast[guard:], ldc, mult, bias, withRelu, add)
					vnniOPGo(kg, a, lda, b, offs, twin[guard:], ldc, mult, bias, withRelu, add)
					for i := range fast {
						want := float32(-777)
						if p := i - guard; p >= 0 && p%ldc < 64 && p/ldc < 4 {
							r, j := p/ldc, p%ldc
							want = Post(sum(r, j), mult[r], bias[r])
							if withAdd {
								want = add[p] + want
							}
							if withRelu && !(want > 0) {
								want = 0
							}
						}
						if math.Float32bits(fast[i]) != math.Float32bits(twin[i]) || math.Float32bits(twin[i]) != math.Float32bits(want) {
							t.Fatalf("kg %d lda %d add %v relu %v: element %d: %v, twin %v, want %v", kg, lda, withAdd, withRelu, i, fast[i], twin[i], want)
						}
					}
					// The same tile also quantized to byte levels (a residual
					// sum and its consumers' input in one pass): the float32
					// rows as above, the bytes as ToQuad makes of them.
					const inv, hi = 2.5, 15
					fastQ := make([]float32, len(fast))
					twinQ := make([]float32, len(fast))
					fastB := make([]byte, 256+2*guard)
					twinB := make([]byte, len(fastB))
					for i := range fastB {
						fastB[i], twinB[i] = 0xA5, 0xA5
					}
					VNNIOPQ(kg, a, lda, b, offs, omax, fastQ[guard:], ldc, mult, bias, withRelu, add, fastB[guard:], inv, hi)
					vnniOPQGo(kg, a, lda, b, offs, twinQ[guard:], ldc, mult, bias, withRelu, add, twinB[guard:], inv, hi)
					for i := range fast {
						if p := i - guard; p < 0 || p%ldc >= 64 || p/ldc >= 4 {
							continue
						}
						if math.Float32bits(fastQ[i]) != math.Float32bits(twin[i]) || math.Float32bits(twinQ[i]) != math.Float32bits(twin[i]) {
							t.Fatalf("kg %d lda %d add %v relu %v: quantizing tile: element %d: %v, twin %v, want %v", kg, lda, withAdd, withRelu, i, fastQ[i], twinQ[i], twin[i])
						}
					}
					for i := range fastB {
						want := byte(0xA5)
						if p := i - guard; p >= 0 && p < 256 {
							r, j := p%4, p/4
							want = byte(quantLevel(Post(twin[guard+r*ldc+j], 1, 0), inv, 0, hi))
						}
						if fastB[i] != twinB[i] || twinB[i] != want {
							t.Fatalf("kg %d lda %d add %v relu %v: quantizing tile: byte %d: %d, twin %d, want %d", kg, lda, withAdd, withRelu, i, fastB[i], twinB[i], want)
						}
					}
				}
			}
		}
	}
}

// TestVNNIOQZMatchesTwin runs the requantizing tile whose 16-column blocks
// lie apart (assembly where available) and its twin on random blocks and
// checks both against the sums written out.
func TestVNNIOQZMatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const guard = 64
	for _, kg := range []int{1, 3, 36, 72} {
		lda := 4*kg + 8
		a := make([]int8, 3*lda+4*kg)
		for i := range a {
			a[i] = int8(rng.IntN(255) - 127)
		}
		const zmax = 2048
		b := make([]byte, 4096+zmax+64)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		offs := make([]int, kg)
		omax := 0
		for g := range offs {
			offs[g] = rng.IntN(4096)
			omax = max(omax, offs[g])
		}
		var zoff [4]int
		for i := range zoff {
			zoff[i] = rng.IntN(zmax + 1)
		}
		mult, bias := make([]float32, 4), make([]float32, 4)
		for i := range mult {
			mult[i] = float32(rng.Float64()*1e-3 + 1e-6)
			bias[i] = float32(rng.NormFloat64())
		}
		for _, hi := range []float32{255, 15} {
			const inv = 7.5
			fast := make([]byte, 256+2*guard)
			twin := make([]byte, len(fast))
			for i := range fast {
				fast[i], twin[i] = 0xA5, 0xA5
			}
			VNNIOQZ(kg, a, lda, b, offs, omax, &zoff, zmax, fast[guard:], mult, bias, inv, hi)
			vnniOQZGo(kg, a, lda, b, offs, &zoff, twin[guard:], mult, bias, inv, hi)
			for i := range fast {
				want := byte(0xA5)
				if p := i - guard; p >= 0 && p < 256 {
					r, j := p%4, p/4
					var s int64
					for g := 0; g < kg; g++ {
						for u := 0; u < 4; u++ {
							s += int64(a[r*lda+4*g+u]) * int64(b[zoff[j/16]+offs[g]+4*(j%16)+u])
						}
					}
					want = byte(quantLevel(Post(float32(s), mult[r], bias[r]), inv, 0, hi))
				}
				if fast[i] != twin[i] || twin[i] != want {
					t.Fatalf("kg %d hi %v: byte %d: %d, twin %d, want %d", kg, hi, i, fast[i], twin[i], want)
				}
			}
		}
	}
}

// TestVNNIBlocksMatchTwins runs the row-block kernels (assembly where
// available) for 1 to 5 blocks of 4 rows against their twins, which are
// the single-tile twins block by block: float32 rows ldc apart (with and
// without a residual add and a ReLU), byte tiles dstStride apart, and
// guard cells around every output that must stay untouched.
func TestVNNIBlocksMatchTwins(t *testing.T) {
	if !UseVNNI {
		t.Skip("no VNNI kernels in this build: the block twins are the definition")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	const guard = 64
	for _, kg := range []int{1, 9, 36} {
		for n := 1; n <= 5; n++ {
			lda := 4*kg + 8
			a := make([]int8, (4*n-1)*lda+4*kg)
			for i := range a {
				a[i] = int8(rng.IntN(255) - 127)
			}
			b := make([]byte, 2048+256)
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			offs := make([]int, kg)
			omax := 0
			for g := range offs {
				offs[g] = rng.IntN(2048)
				omax = max(omax, offs[g])
			}
			mult, bias := make([]float32, 4*n), make([]float32, 4*n)
			for i := range mult {
				mult[i] = float32(rng.Float64()*1e-2 + 1e-6)
				bias[i] = float32(rng.NormFloat64())
			}
			const inv, hi = 3.5, 255
			const dstStride = 256 + 40
			bytesOf := func() []byte {
				d := make([]byte, (n-1)*dstStride+256+2*guard)
				for i := range d {
					d[i] = 0xA5
				}
				return d
			}
			fastB, twinB := bytesOf(), bytesOf()
			VNNIOQBlocks(n, kg, a, lda, b, offs, omax, fastB[guard:], dstStride, mult, bias, inv, hi)
			vnniOQBlocksGo(n, kg, a, lda, b, offs, twinB[guard:], dstStride, mult, bias, inv, hi)
			if !slices.Equal(fastB, twinB) {
				t.Fatalf("kg %d n %d: VNNIOQBlocks differs from its twin", kg, n)
			}
			for _, withAdd := range []bool{false, true} {
				for _, withRelu := range []bool{false, true} {
					const ldc = 72
					rows := func() []float32 {
						c := make([]float32, (4*n-1)*ldc+64+2*guard)
						for i := range c {
							c[i] = -777
						}
						return c
					}
					var add []float32
					if withAdd {
						add = make([]float32, (4*n-1)*ldc+64)
						for i := range add {
							add[i] = float32(rng.NormFloat64())
						}
					}
					fast, twin := rows(), rows()
					VNNIOPBlocks(n, kg, a, lda, b, offs, omax, fast[guard:], ldc, mult, bias, withRelu, add)
					vnniOPBlocksGo(n, kg, a, lda, b, offs, twin[guard:], ldc, mult, bias, withRelu, add)
					if !bitsEqual(fast, twin) {
						t.Fatalf("kg %d n %d add %v relu %v: VNNIOPBlocks differs from its twin", kg, n, withAdd, withRelu)
					}
					fastQ, twinQ := rows(), rows()
					fastB, twinB := bytesOf(), bytesOf()
					VNNIOPQBlocks(n, kg, a, lda, b, offs, omax, fastQ[guard:], ldc, mult, bias, withRelu, add, fastB[guard:], dstStride, inv, hi)
					vnniOPQBlocksGo(n, kg, a, lda, b, offs, twinQ[guard:], ldc, mult, bias, withRelu, add, twinB[guard:], dstStride, inv, hi)
					if !bitsEqual(fastQ, twin) || !bitsEqual(twinQ, twin) || !slices.Equal(fastB, twinB) {
						t.Fatalf("kg %d n %d add %v relu %v: VNNIOPQBlocks differs from its twin", kg, n, withAdd, withRelu)
					}
				}
			}
		}
	}
}

// bitsEqual reports whether two float32 slices hold the same bits.
func bitsEqual(x, y []float32) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

// TestVNNIBlocksBounds checks that the row-block kernels refuse, before
// writing anything, outputs too short for their last block and negative
// strides.
func TestVNNIBlocksBounds(t *testing.T) {
	const kg, n = 2, 2
	lda := 4 * kg
	a := make([]int8, 4*n*lda)
	b := make([]byte, 512)
	offs := []int{0, 64}
	mult, bias := make([]float32, 4*n), make([]float32, 4*n)
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	panics("short dst", func() {
		VNNIOQBlocks(n, kg, a, lda, b, offs, 64, make([]byte, 256+255), 256, mult, bias, 1, 255)
	})
	panics("negative dstStride", func() {
		VNNIOQBlocks(n, kg, a, lda, b, offs, 64, make([]byte, 1024), -256, mult, bias, 1, 255)
	})
	panics("short mult", func() {
		VNNIOQBlocks(n, kg, a, lda, b, offs, 64, make([]byte, 1024), 256, mult[:4], bias, 1, 255)
	})
	const ldc = 64
	panics("short c", func() {
		VNNIOPBlocks(n, kg, a, lda, b, offs, 64, make([]float32, (4*n-1)*ldc+63), ldc, mult, bias, false, nil)
	})
	panics("short add", func() {
		VNNIOPBlocks(n, kg, a, lda, b, offs, 64, make([]float32, 4*n*ldc), ldc, mult, bias, false, make([]float32, ldc))
	})
	panics("short bytes of VNNIOPQBlocks", func() {
		VNNIOPQBlocks(n, kg, a, lda, b, offs, 64, make([]float32, 4*n*ldc), ldc, mult, bias, false, nil, make([]byte, 300), 256, 1, 255)
	})
}
