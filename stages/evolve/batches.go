package evolve

import "math/rand/v2"

// batcher maps the host's mini-batch cursor to training-set indices
// deterministically: the training split is shuffled once per epoch (a
// permutation seeded by the run's batch seed and the epoch number) and cut
// into consecutive batches, so samples are drawn without replacement within
// an epoch and a resumed run sees exactly the batches it would have seen.
type batcher struct {
	n, size  int
	seed     uint64
	epoch    int64
	perm     []int
	permSeed uint64
}

func newBatcher(n, size int) *batcher {
	if size > n {
		size = n
	}
	return &batcher{n: n, size: size, epoch: -1}
}

// indices returns the training indices of batch number index under seed;
// the slice is valid until the next call.
func (b *batcher) indices(seed, index uint64) []int {
	perEpoch := uint64(b.n / b.size)
	epoch := int64(index / perEpoch)
	pos := int(index % perEpoch)
	if epoch != b.epoch || seed != b.permSeed || b.perm == nil {
		if b.perm == nil {
			b.perm = make([]int, b.n)
		}
		for i := range b.perm {
			b.perm[i] = i
		}
		r := rand.New(rand.NewPCG(seed, uint64(epoch)))
		r.Shuffle(b.n, func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
		b.epoch, b.permSeed = epoch, seed
	}
	return b.perm[pos*b.size : (pos+1)*b.size]
}
