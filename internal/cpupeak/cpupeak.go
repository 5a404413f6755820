// Package cpupeak measures the machine's limit for the kernels ccq cares
// about: how many multiply-adds per second one core's vector units complete
// in a register-only loop (fp32 FMA with AVX-512 or AVX2, int8 dot products
// with AVX-512 VNNI), so that a kernel's measured rate can be put against
// the rate the hardware allows on this machine rather than a datasheet's.
//
// The loops run sixteen independent accumulators (enough to hide the
// instructions' latency), touch no memory and compute nothing anyone
// reads, so they have no pure-Go twin: on other architectures, or a CPU
// without the instructions, Available returns fewer (or no) loops.
package cpupeak

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Loop is one register-only peak loop.
type Loop struct {
	Name string // e.g. "fp32 FMA (AVX-512)"
	// MACsPerInstr is the multiply-adds one instruction does (16 for a
	// 512-bit fp32 FMA, 64 for a 512-bit VPDPBUSD).
	MACsPerInstr int
	run          func(iters int) // runs iters x 16 instructions
}

// Result is the measured rate of one loop.
type Result struct {
	Loop        string  `json:"loop"`
	Threads     int     `json:"threads"`       // goroutines run at once (each locked to an OS thread)
	InstrPerSec float64 `json:"instr_per_sec"` // per thread
	MACPerSec   float64 `json:"mac_per_sec"`   // per thread
	// TotalMACPerSec is the sum over the threads.
	TotalMACPerSec float64 `json:"total_mac_per_sec"`
}

// String formats r in G units.
func (r Result) String() string {
	return fmt.Sprintf("%-22s %d thread(s): %6.2f G instr/s and %7.1f GMAC/s per thread, %7.1f GMAC/s in all",
		r.Loop, r.Threads, r.InstrPerSec/1e9, r.MACPerSec/1e9, r.TotalMACPerSec/1e9)
}

// Measure runs loop on threads goroutines at once for about d and returns
// the rate per thread (the slowest thread's) and in all.
func Measure(ctx context.Context, loop Loop, threads int, d time.Duration) (Result, error) {
	if threads < 1 {
		return Result{}, fmt.Errorf("cpupeak: threads %d: want at least 1", threads)
	}
	// Calibrate the iteration count on one short run so that each timed
	// run lasts about d.
	iters := 1 << 16
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		t0 := time.Now()
		loop.run(iters)
		if el := time.Since(t0); el > d/20 || iters > 1<<40 {
			iters = int(float64(iters) * float64(d) / float64(max(el, time.Microsecond)))
			break
		}
		iters *= 4
	}
	iters = max(iters, 1)
	rates := make([]float64, threads)
	var wg sync.WaitGroup
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := time.Now()
			loop.run(iters)
			rates[t] = float64(iters) * 16 / time.Since(t0).Seconds()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	slowest, total := rates[0], 0.0
	for _, r := range rates {
		slowest = min(slowest, r)
		total += r
	}
	mpi := float64(loop.MACsPerInstr)
	return Result{Loop: loop.Name, Threads: threads, InstrPerSec: slowest, MACPerSec: slowest * mpi, TotalMACPerSec: total * mpi}, nil
}
