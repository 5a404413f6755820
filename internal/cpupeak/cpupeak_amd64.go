package cpupeak

import "golang.org/x/sys/cpu"

// fmaZ runs iters x 16 VFMADD231PS on ZMM registers.
//
//go:noescape
func fmaZ(iters int)

// fmaY runs iters x 16 VFMADD231PS on YMM registers.
//
//go:noescape
func fmaY(iters int)

// vnniZ runs iters x 16 VPDPBUSD on ZMM registers.
//
//go:noescape
func vnniZ(iters int)

// Available lists the peak loops this CPU can run.
func Available() []Loop {
	var ls []Loop
	if cpu.X86.HasAVX512F {
		ls = append(ls, Loop{Name: "fp32 FMA (AVX-512)", MACsPerInstr: 16, run: fmaZ})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ls = append(ls, Loop{Name: "fp32 FMA (AVX2)", MACsPerInstr: 8, run: fmaY})
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		ls = append(ls, Loop{Name: "int8 VNNI (AVX-512)", MACsPerInstr: 64, run: vnniZ})
	}
	return ls
}
