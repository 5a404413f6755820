package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// threadSetting is the value given to SetThreads; 0 means "use
// runtime.GOMAXPROCS(0)".
var threadSetting atomic.Int64

// SetThreads sets the number of goroutines a large Sgemm is split across.
// n < 1 restores the default, runtime.GOMAXPROCS(0) at the time of each
// call. The setting is global and safe to change concurrently with calls;
// it never changes results (see the package documentation).
func SetThreads(n int) {
	if n < 1 {
		n = 0
	}
	threadSetting.Store(int64(n))
}

// Threads returns the number of goroutines a large Sgemm is split across.
func Threads() int {
	if n := threadSetting.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// parallelMinWork is the smallest m*n*k split across goroutines: below it
// (about 70 microseconds of work on one Zen 5 core with AVX-512) waking other
// goroutines costs more than it saves (a split 256^3 product spends about
// 25% more CPU time in total than an unsplit one), and the caller's
// goroutine does everything, spawning nothing. All per-image convolutions
// of LeNet-5 and ResNet-20 are below it.
var parallelMinWork = 8 << 20

// A part is one rectangle C[i0:i1, j0:j1] of a split product.
type part struct {
	c              *call
	i0, i1, j0, j1 int
}

// call is the shared state of one split Sgemm call. Calls are pooled so that
// steady-state calls do not allocate.
type call struct {
	p  problem
	kr *kernel
	wg sync.WaitGroup
}

var calls = sync.Pool{New: func() any { return new(call) }}

// workers is the pool of helper goroutines that run the parts of split
// calls. It grows to the largest thread count ever used minus one (the
// calling goroutine runs a part too); idle workers just wait on the channel.
var workers struct {
	sync.Mutex
	n     int
	parts chan part
}

// ensureWorkers starts helper goroutines until there are at least n.
func ensureWorkers(n int) chan part {
	workers.Lock()
	defer workers.Unlock()
	if workers.parts == nil {
		workers.parts = make(chan part, 256)
	}
	for ; workers.n < n; workers.n++ {
		go worker(workers.parts)
	}
	return workers.parts
}

// workerParts counts the parts run by helper goroutines (for the tests).
var workerParts atomic.Int64

func worker(parts chan part) {
	for pt := range parts {
		workerParts.Add(1)
		ws := workspaces.Get().(*workspace)
		pt.c.p.block(pt.c.kr, ws, pt.i0, pt.i1, pt.j0, pt.j1)
		workspaces.Put(ws)
		pt.c.wg.Done()
	}
}

// splitCount returns how many parts to split a problem into (1 = run on the
// calling goroutine).
func splitCount(m, n, k int, kr *kernel) int {
	if m*n*k < parallelMinWork {
		return 1
	}
	t := Threads()
	// Never more parts than micro-tiles along the split dimension.
	tiles := max((m+kr.mr-1)/kr.mr, (n+kr.nr-1)/kr.nr)
	return max(1, min(t, tiles))
}

// runParallel splits p into t rectangles along its longer dimension (in
// micro-tiles) and runs them on t goroutines, the caller's included.
// Splitting along M or N never changes the arithmetic of any element of C,
// so the result is the same for every t.
func runParallel(p *problem, kr *kernel, t int) {
	c := calls.Get().(*call)
	c.p = *p
	c.kr = kr
	ch := ensureWorkers(t - 1)
	tm := (p.m + kr.mr - 1) / kr.mr
	tn := (p.n + kr.nr - 1) / kr.nr
	// Split N when it has at least as many tiles as M: every part then packs
	// all of A (small) and its own share of B; otherwise the reverse.
	splitN := tn >= tm
	tiles := tm
	if splitN {
		tiles = tn
	}
	bound := func(q int) int { // start of part q, in rows or columns
		s := tiles * q / t
		if splitN {
			return min(p.n, s*kr.nr)
		}
		return min(p.m, s*kr.mr)
	}
	c.wg.Add(t - 1)
	for q := 1; q < t; q++ {
		lo, hi := bound(q), bound(q+1)
		if splitN {
			ch <- part{c: c, i0: 0, i1: p.m, j0: lo, j1: hi}
		} else {
			ch <- part{c: c, i0: lo, i1: hi, j0: 0, j1: p.n}
		}
	}
	ws := workspaces.Get().(*workspace)
	if splitN {
		c.p.block(kr, ws, 0, p.m, 0, bound(1))
	} else {
		c.p.block(kr, ws, 0, bound(1), 0, p.n)
	}
	workspaces.Put(ws)
	c.wg.Wait()
	c.p = problem{} // drop references to the caller's slices
	c.kr = nil
	calls.Put(c)
}
