package stagecost

// referenceTable holds seconds per image measured by Probe on the
// reference machine (2-core Intel Xeon VM with AVX-512 VNNI, 23 GB;
// GOMAXPROCS 2), keyed as
// Work.key writes them without the batch and threads fields: op/arch for
// OpTrain and OpInfer, op/arch/float or op/arch/int for OpScore (float or
// quantized activations).
//
// Measured 2026-12-02 (after the float path's padded-input and
// integer path's epilogue changes) with `CCQ_PRINT_REFERENCE=1 go test -run
// TestPrintReference -v ./stages/stagecost/` (CPU time per image over 2
// threads; the mean of two back-to-back runs, which agreed within 8%).
var referenceTable = map[string]float64{
	"infer/lenet5":         2.31e-05,
	"infer/mlp":            2.37e-06,
	"infer/resnet20":       0.000457,
	"score/lenet5/float":   3.69e-06,
	"score/lenet5/int":     1.75e-06,
	"score/mlp/float":      7.87e-07,
	"score/mlp/int":        3.95e-07,
	"score/resnet20/float": 0.000262,
	"score/resnet20/int":   7.69e-05,
	"train/lenet5":         6.02e-05,
	"train/mlp":            5.99e-06,
	"train/resnet20":       0.00167,
}

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
