package nn

import (
	"runtime"
	"sync"
)

// job is a unit of parallel work over a range of items; t is the worker
// index (0 is the calling goroutine).
type job interface{ run(t, lo, hi int) }

type task struct {
	j         job
	t, lo, hi int
}

// workers is a fixed pool of goroutines that split ranges of work. The split
// depends only on the number of workers, so results are deterministic for a
// given thread count. Sending a task does not allocate.
type workers struct {
	n    int
	reqs []chan task
	wg   sync.WaitGroup
}

// newWorkers starts n-1 goroutines (the caller is worker 0).
func newWorkers(n int) *workers {
	if n < 1 {
		n = 1
	}
	w := &workers{n: n}
	for t := 1; t < n; t++ {
		c := make(chan task)
		w.reqs = append(w.reqs, c)
		go func() {
			for {
				tk, ok := <-c
				if !ok {
					return
				}
				tk.j.run(tk.t, tk.lo, tk.hi)
				tk = task{} // drop the job so an idle pool does not keep its model alive
				w.wg.Done()
			}
		}()
	}
	return w
}

// close stops the goroutines.
func (w *workers) close() {
	for _, c := range w.reqs {
		close(c)
	}
	w.reqs = nil
}

// split returns the part t of [0, total) cut into parts contiguous ranges.
func split(total, parts, t int) (int, int) {
	q, r := total/parts, total%parts
	lo := t*q + min(t, r)
	hi := lo + q
	if t < r {
		hi++
	}
	return lo, hi
}

// forRange runs j over [0, total) split into min(workers, total) ranges and
// waits for all of them.
func (w *workers) forRange(total int, j job) {
	parts := min(w.n, total)
	if parts <= 1 {
		if total > 0 {
			j.run(0, 0, total)
		}
		return
	}
	w.wg.Add(parts - 1)
	for t := 1; t < parts; t++ {
		lo, hi := split(total, parts, t)
		w.reqs[t-1] <- task{j: j, t: t, lo: lo, hi: hi}
	}
	lo, hi := split(total, parts, 0)
	j.run(0, lo, hi)
	w.wg.Wait()
}

// defaultThreads is the number of threads a model uses unless told otherwise.
func defaultThreads() int { return runtime.GOMAXPROCS(0) }
