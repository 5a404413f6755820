//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// useGrid512 selects the AVX-512 grid epilogues (64-bit lanes: leading
// zero counts need AVX512CD, 64-bit products AVX512DQ).
var useGrid512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512CD && cpu.X86.HasAVX512DQ

// gridParams is GridAffine as the assembly reads it, each field one
// quadword to broadcast: corr, multiplier, the rounding floors of the
// three roundings' cut widths (-149 - e), shift, bias, clamp.
type gridParams struct {
	corr, m, dminE, shift, bias, dminX, floor int64
}

//go:noescape
func gridRowAVX512(dst *int64, acc *int32, n int, p *gridParams)

//go:noescape
func addRoundAVX512(dst, x, y *int64, n int, p *addParams)

// addParams is AddRound's arguments for the assembly.
type addParams struct {
	ea, eb, dmin, floor int64
}

// gridRowAsm runs GridAffine.Row's largest multiple of 8 elements on
// AVX-512 and returns how many it did.
func gridRowAsm(a *GridAffine, dst []int64, acc []int32, corr int64) int {
	n := len(acc) &^ 7
	if !useGrid512 || n == 0 {
		return 0
	}
	p := gridParams{corr: corr, m: a.Mul.M, dminE: int64(-149 - a.Mul.E), shift: int64(a.Shift), bias: a.Bias,
		dminX: int64(-149 - a.Exp), floor: a.Floor}
	gridRowAVX512(&dst[0], &acc[0], n, &p)
	return n
}

// addRoundAsm runs AddRound's largest multiple of 8 elements on AVX-512
// and returns how many it did.
func addRoundAsm(dst, x, y []int64, ea, eb uint, e int, floor int64) int {
	n := len(x) &^ 7
	if !useGrid512 || n == 0 {
		return 0
	}
	p := addParams{ea: int64(ea), eb: int64(eb), dmin: int64(-149 - e), floor: floor}
	addRoundAVX512(&dst[0], &x[0], &y[0], n, &p)
	return n
}

// countParams is a ThresholdCounter as the assembly reads it.
type countParams struct {
	t     *int64 // thresholds in range, then math.MaxInt64
	start *int32 // bucket start counts
	lead  int64
	base  int64
	top   int64
	sh    int64
	corr  int64
}

func (c *ThresholdCounter) params(corr int64) countParams {
	return countParams{t: &c.t[0], start: &c.start32[0], lead: c.lead, base: c.base, top: c.top, sh: int64(c.sh), corr: corr}
}

//go:noescape
func countAccsAVX512(dst *byte, acc *int32, n int, p *countParams)

//go:noescape
func countValuesAVX512(dst *byte, v *int64, n int, p *countParams)

// countAccsAsm runs CountAccs's largest multiple of 8 elements on AVX-512
// and returns how many it did.
func countAccsAsm(c *ThresholdCounter, dst []byte, acc []int32, corr int64) int {
	n := len(acc) &^ 7
	if !useGrid512 || n == 0 {
		return 0
	}
	p := c.params(corr)
	countAccsAVX512(&dst[0], &acc[0], n, &p)
	return n
}

// countValuesAsm runs CountValues's largest multiple of 8 elements on
// AVX-512 and returns how many it did.
func countValuesAsm(c *ThresholdCounter, dst []byte, v []int64) int {
	n := len(v) &^ 7
	if !useGrid512 || n == 0 {
		return 0
	}
	p := c.params(0)
	countValuesAVX512(&dst[0], &v[0], n, &p)
	return n
}
