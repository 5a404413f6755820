package stagecost

// ReferenceMachine names the machine the reference table was measured on.
const ReferenceMachine = "2-core AMD EPYC (Zen 5) VM with AVX-512 VNNI"

// referenceTable holds seconds per image measured by Probe on
// ReferenceMachine (23 GB; GOMAXPROCS 2), keyed as Work.key writes them without the bits, batch and
// threads fields: op/arch for OpTrain, OpInfer and OpInteger, op/arch/float
// or op/arch/int for OpScore (float or quantized activations).
//
// Measured 2026-12-02 (after the constant-time requantization thresholds
// of integer-only inference) with `CCQ_PRINT_REFERENCE=1 go test -run
// TestPrintReference -v ./stages/stagecost/` (CPU time per image over 2
// threads; the mean of two back-to-back runs with the machine otherwise
// paused, which agreed within 20%: within 10% for every ResNet-20 entry);
// the integer entries again after the AVX-512 epilogues of integer-only
// inference (the integer-only pass is then about half of the check, the
// float32 fake-quantized pass it is compared with the rest).
var referenceTable = map[string]float64{
	"infer/lenet5":         2.44e-05,
	"infer/mlp":            2.14e-06,
	"infer/resnet20":       0.000416,
	"integer/lenet5":       3.9e-05,
	"integer/mlp":          1.17e-05,
	"integer/resnet20":     0.00243,
	"score/lenet5/float":   3.65e-06,
	"score/lenet5/int":     1.81e-06,
	"score/mlp/float":      8.57e-07,
	"score/mlp/int":        4.02e-07,
	"score/resnet20/float": 0.000268,
	"score/resnet20/int":   7.54e-05,
	"train/lenet5":         5.92e-05,
	"train/mlp":            5.53e-06,
	"train/resnet20":       0.00161,
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
