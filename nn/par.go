package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// job is a unit of parallel work over a range of items: chunk c of a
// split, covering items [lo, hi), run by worker t (0 is the calling
// goroutine; t selects per-worker scratch, c per-chunk accumulators).
type job interface{ run(t, c, lo, hi int) }

// workers is a fixed pool of goroutines that share out the chunks of a
// range of work. The chunks are fixed by the range and the chunk count, not
// by which worker runs them, so results that depend only on the chunking
// are deterministic; workers take chunks as they become free, so a worker
// the OS deschedules (on a shared machine) does not hold the others up.
// Handing out work does not allocate.
type workers struct {
	n    int
	reqs []chan *split
	wg   sync.WaitGroup
	cur  split
}

// split is one forChunks call: its job, range, chunk count and the next
// chunk to hand out.
type split struct {
	j      job
	total  int
	chunks int
	next   atomic.Int64
}

// newWorkers starts n-1 goroutines (the caller is worker 0).
func newWorkers(n int) *workers {
	if n < 1 {
		n = 1
	}
	w := &workers{n: n}
	for t := 1; t < n; t++ {
		c := make(chan *split)
		w.reqs = append(w.reqs, c)
		go func() {
			for {
				sp, ok := <-c
				if !ok {
					return
				}
				sp.work(t)
				sp = nil // drop the job so an idle pool does not keep its model alive
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

// chunkRange returns chunk c of [0, total) cut into chunks contiguous ranges.
func chunkRange(total, chunks, c int) (int, int) {
	q, r := total/chunks, total%chunks
	lo := c*q + min(c, r)
	hi := lo + q
	if c < r {
		hi++
	}
	return lo, hi
}

// work runs chunks of sp on worker t until none is left.
func (sp *split) work(t int) {
	for {
		c := int(sp.next.Add(1)) - 1
		if c >= sp.chunks {
			return
		}
		lo, hi := chunkRange(sp.total, sp.chunks, c)
		sp.j.run(t, c, lo, hi)
	}
}

// forChunks runs j over [0, total) cut into min(chunks, total) chunks,
// shared out among the workers, and waits for all of them.
func (w *workers) forChunks(total, chunks int, j job) {
	chunks = min(chunks, total)
	if chunks <= 0 {
		return
	}
	sp := &w.cur
	sp.j, sp.total, sp.chunks = j, total, chunks
	sp.next.Store(0)
	helpers := min(w.n, chunks) - 1
	w.wg.Add(helpers)
	for t := 1; t <= helpers; t++ {
		w.reqs[t-1] <- sp
	}
	sp.work(0)
	w.wg.Wait()
	sp.j = nil
}

// forRange runs j over [0, total) in one chunk per worker.
func (w *workers) forRange(total int, j job) { w.forChunks(total, w.n, j) }

// defaultThreads is the number of threads a model uses unless told otherwise.
func defaultThreads() int { return runtime.GOMAXPROCS(0) }
