package kernels

import (
	"math"
	"math/big"
	"math/rand/v2"
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

// TestFixedMulExact checks FixedMul.Apply and FastMul.Apply against the
// big-integer definition where int64 products wrap: |v| from 2^31 (where
// |v| * m0 plus the rounding term passes 2^63) to math.MinInt64, and
// shifts above 62 (multipliers below 2^-32), as a global average
// pooling's sums and a tiny rescaling give.
func TestFixedMulExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	vs := []int64{0, 1, -1, 3 << 29, 1<<31 - 1, 1 << 31, -(1 << 31), 1<<32 + 12345, -(1<<32 + 12345), 1 << 40, 1<<62 + 7, math.MaxInt64, math.MinInt64}
	for k := 0; k < 200; k++ {
		vs = append(vs, rng.Int64()>>rng.IntN(40)*(1-2*int64(rng.IntN(2))))
	}
	for _, e := range []int{0, -1, -10, -29, -31, -32, -33, -40, -62, -70} {
		for k := 0; k < 4; k++ {
			f := NewFixedMul(math.Ldexp(0.5+rng.Float64()/2, e))
			fm := NewFastMul(f)
			for _, v := range vs {
				want := refFixed(v, f.M0, f.Shift)
				if got := f.Apply(v); got != want {
					t.Fatalf("FixedMul{%d, %d}.Apply(%d) = %d, want %d", f.M0, f.Shift, v, got, want)
				}
				if got, ref := fm.Apply(v), f.Apply(v); got != ref {
					t.Fatalf("FastMul{%d, %d}.Apply(%d) = %d, FixedMul gives %d", f.M0, f.Shift, v, got, ref)
				}
			}
		}
	}
	// Before the 128-bit products: 2^32 * m0 (m0 near 2^31) wrapped to a
	// negative int64, and shifts above 62 gave 0.
	f := NewFixedMul(0.75)
	if got := f.Apply(1 << 33); got != 3<<31 {
		t.Errorf("round(2^33 * 0.75) = %d, want %d", got, int64(3<<31))
	}
	if got := NewFixedMul(math.Ldexp(1, -40)).Apply(1 << 50); got != 1<<10 {
		t.Errorf("round(2^50 * 2^-40) = %d, want 1024", got)
	}
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

// TestFixedQuad4MatchesTwin runs the fixed-point requantizer (assembly
// where available) and its twin on guard-padded buffers across lengths,
// with edge values (products beyond 64 bits included), and checks both
// against the big-integer definition clamped, offset and interleaved.
func TestFixedQuad4MatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const guard = 40
	special := []int64{0, 1, -1, 2, -2, 1<<31 - 1, -(1 << 31), 1 << 40, -(1 << 40), math.MaxInt64, math.MinInt64}
	for _, rg := range [][3]int64{{0, 255, 0}, {0, 15, 0}, {-128, 127, 128}, {-7, 7, 7}} {
		for n := 0; n <= 40; n++ {
			var rows [4][]int64
			var p FixedQuadParams
			var muls [4]FastMul
			for r := range rows {
				rows[r] = make([]int64, n)
				for j := range rows[r] {
					if n%2 == 0 && rng.IntN(5) == 0 { // odd n: the assembly kernel's range only
						rows[r][j] = special[rng.IntN(len(special))]
					} else {
						rows[r][j] = rng.Int64N(1<<24) - 1<<23
					}
				}
				muls[r] = NewFastMul(NewFixedMul(math.Ldexp(0.5+rng.Float64()/2, -rng.IntN(30))))
				p.M0[r], p.Rnd[r], p.Sh[r] = muls[r].F.M0, muls[r].Rnd, int64(muls[r].Shift)
			}
			p.Lo, p.Hi, p.Off = rg[0], rg[1], rg[2]
			fast := make([]byte, 4*n+2*guard)
			twin := make([]byte, len(fast))
			for i := range fast {
				fast[i], twin[i] = 0xA5, 0xA5
			}
			FixedQuad4(fast[guard:guard+4*n], &rows, n, &p)
			fixedQuad4Go(twin[guard:guard+4*n], &rows, n, &p)
			for i := range fast {
				want := byte(0xA5)
				if k := i - guard; k >= 0 && k < 4*n {
					want = byte(min(max(refFixed(rows[k%4][k/4], muls[k%4].F.M0, muls[k%4].F.Shift), p.Lo), p.Hi) + p.Off)
				}
				if fast[i] != twin[i] || twin[i] != want {
					t.Fatalf("range %v n %d: byte %d: %d, twin %d, want %d", rg, n, i, fast[i], twin[i], want)
				}
			}
		}
	}
}

// TestAddFixedMatchesTwin runs the residual sum of integer-only inference
// (assembly where available) and its twin on guard-padded buffers, with
// edge values (products beyond 64 bits included), and checks both against
// the big-integer definition.
func TestAddFixedMatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const guard = 9
	special := []int64{0, 1, -1, 1<<31 - 1, -(1 << 31), 1 << 40, -(1 << 40), math.MaxInt64, math.MinInt64}
	for n := 0; n <= 40; n++ {
		for _, relu := range []bool{false, true} {
			a, b := make([]int64, n), make([]int64, n)
			for j := range a {
				a[j], b[j] = rng.Int64N(1<<30)-1<<29, rng.Int64N(1<<30)-1<<29
				if n%2 == 0 && rng.IntN(5) == 0 { // odd n: the assembly kernel's range only
					a[j] = special[rng.IntN(len(special))]
				}
			}
			fa := NewFastMul(NewFixedMul(math.Ldexp(0.5+rng.Float64()/2, -rng.IntN(8))))
			fb := NewFastMul(NewFixedMul(math.Ldexp(0.5+rng.Float64()/2, -rng.IntN(8))))
			p := [6]int64{fa.F.M0, fa.Rnd, int64(fa.Shift), fb.F.M0, fb.Rnd, int64(fb.Shift)}
			fast := make([]int64, n+2*guard)
			twin := make([]int64, len(fast))
			for i := range fast {
				fast[i], twin[i] = -777, -777
			}
			AddFixed(fast[guard:guard+n], a, b, &p, relu)
			addFixedGo(twin[guard:guard+n], a, b, &p, relu)
			for i := range fast {
				want := int64(-777)
				if j := i - guard; j >= 0 && j < n {
					want = refFixed(a[j], fa.F.M0, fa.F.Shift) + refFixed(b[j], fb.F.M0, fb.F.Shift)
					if relu {
						want = max(want, 0)
					}
				}
				if fast[i] != twin[i] || twin[i] != want {
					t.Fatalf("n %d relu %v: element %d: %d, twin %d, want %d", n, relu, i, fast[i], twin[i], want)
				}
			}
		}
	}
}

// TestFixedTile4MatchesTwin runs the byte epilogue of integer-only
// inference (assembly where available) and its twin on guard-padded
// outputs, every width of a partial tile, and checks both against the
// layer output requantized by the big-integer definition.
func TestFixedTile4MatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const guard = 24
	tile := make([]int32, 4*64)
	for n := 0; n <= 64; n++ {
		for i := range tile {
			tile[i] = int32(rng.IntN(1<<22) - 1<<21)
			if rng.IntN(9) == 0 {
				tile[i] = []int32{0, math.MaxInt32, math.MinInt32, 1, -1}[rng.IntN(5)]
			}
		}
		var p FixedQuadParams
		var muls [4]FastMul
		var corr [4]int32
		var bias [4]int64
		frac := uint(rng.IntN(5))
		for r := 0; r < 4; r++ {
			muls[r] = NewFastMul(NewFixedMul(math.Ldexp(0.5+rng.Float64()/2, -rng.IntN(20))))
			p.M0[r], p.Rnd[r], p.Sh[r] = muls[r].F.M0, muls[r].Rnd, int64(muls[r].Shift)
			corr[r], bias[r] = int32(rng.IntN(2000)-1000), rng.Int64N(1<<20)-1<<19
		}
		p.Hi = []int64{255, 15, 3}[n%3]
		fast := make([]byte, 4*n+2*guard)
		twin := make([]byte, len(fast))
		for i := range fast {
			fast[i], twin[i] = 0xA5, 0xA5
		}
		FixedTile4(fast[guard:guard+4*n], tile, n, &p, &corr, &bias, frac)
		fixedTile4Go(twin[guard:guard+4*n], tile, n, &p, &corr, &bias, frac)
		for i := range fast {
			want := byte(0xA5)
			if k := i - guard; k >= 0 && k < 4*n {
				r, j := k%4, k/4
				v := int64((tile[64*r+j]-corr[r])<<frac) + bias[r]
				want = byte(min(max(refFixed(v, muls[r].F.M0, muls[r].F.Shift), 0), p.Hi))
			}
			if fast[i] != twin[i] || twin[i] != want {
				t.Fatalf("n %d: byte %d: %d, twin %d, want %d", n, i, fast[i], twin[i], want)
			}
		}
	}
}

// TestIntTile4MatchesTwin runs the int64 epilogue of integer-only
// inference (assembly where available) and its twin on guard-padded rows,
// every width of a partial tile, one to four rows, with and without the
// ReLU, against the formula.
func TestIntTile4MatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	const guard, ldd = 8, 80
	tile := make([]int32, 4*64)
	for n := 0; n <= 64; n++ {
		for rows := 1; rows <= 4; rows++ {
			relu := (n+rows)%2 == 0
			for i := range tile {
				tile[i] = int32(rng.IntN(1<<22) - 1<<21)
				if rng.IntN(9) == 0 {
					tile[i] = []int32{0, math.MaxInt32, math.MinInt32}[rng.IntN(3)]
				}
			}
			var corr [4]int32
			var bias [4]int64
			for r := range corr {
				corr[r], bias[r] = int32(rng.IntN(2000)-1000), rng.Int64N(1<<20)-1<<19
			}
			frac := uint(rng.IntN(5))
			fast := make([]int64, 4*ldd+2*guard)
			twin := make([]int64, len(fast))
			for i := range fast {
				fast[i], twin[i] = -777, -777
			}
			IntTile4(fast[guard:], ldd, tile, n, rows, &corr, &bias, frac, relu)
			intTileCols(twin[guard:], ldd, tile, 0, n, rows, &corr, &bias, frac, relu)
			for i := range fast {
				want := int64(-777)
				if k := i - guard; k >= 0 && k%ldd < n && k/ldd < rows {
					r, j := k/ldd, k%ldd
					want = int64((tile[64*r+j]-corr[r])<<frac) + bias[r]
					if relu {
						want = max(want, 0)
					}
				}
				if fast[i] != twin[i] || twin[i] != want {
					t.Fatalf("n %d rows %d relu %v: element %d: %d, twin %d, want %d", n, rows, relu, i, fast[i], twin[i], want)
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
