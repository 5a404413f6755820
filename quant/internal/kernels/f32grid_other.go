//go:build purego || !amd64

package kernels

// The ...Asm helpers compute nothing without the AVX-512 bodies: the Go
// loops of GridAffine.Row, AddRound and ThresholdCounter's rows do every
// element.
func gridRowAsm(*GridAffine, []int64, []int32, int64) int                { return 0 }
func addRoundAsm(dst, x, y []int64, ea, eb uint, e int, floor int64) int { return 0 }
func countAccsAsm(*ThresholdCounter, []byte, []int32, int64) int         { return 0 }
func countValuesAsm(*ThresholdCounter, []byte, []int64) int              { return 0 }
