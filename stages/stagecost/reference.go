package stagecost

// referenceTable holds seconds per image measured by Probe on the
// reference machine (2-core Intel Xeon VM with AVX-512 VNNI, 23 GB;
// GOMAXPROCS 2), keyed as
// Work.key writes them without the batch and threads fields: op/arch for
// OpTrain and OpInfer, op/arch/float or op/arch/int for OpScore (float or
// quantized activations).
var referenceTable = map[string]float64{}

// reference answers w from the reference table: the entry of its
// operation, architecture and activation kind, scaled to w's threads as if
// the work split perfectly over them (the table was measured on 2).
func reference(w Work) (float64, bool) {
	k := string(w.Op) + "/" + w.Arch
	if w.Op == OpScore {
		if w.ActBits > 0 && w.ActBits < 32 {
			k += "/int"
		} else {
			k += "/float"
		}
	}
	s, ok := referenceTable[k]
	if !ok {
		return 0, false
	}
	return s * 2 / float64(max(1, w.Threads)), true
}
