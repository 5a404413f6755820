package nn

import (
	"fmt"
	"math"
)

// SoftmaxCrossEntropy returns the mean cross-entropy of n rows of logits
// (n x classes) against labels, and, when dlogits is not nil, writes its
// gradient with respect to the logits ((softmax - onehot) / n) into dlogits.
// It panics on a label outside [0, classes).
func SoftmaxCrossEntropy(logits []float32, labels []uint8, n, classes int, dlogits []float32) float64 {
	var total float64
	for r := 0; r < n; r++ {
		row := logits[r*classes : (r+1)*classes]
		y := int(labels[r])
		if y >= classes {
			panic(fmt.Sprintf("nn: label %d of sample %d is not below %d classes", y, r, classes))
		}
		mx := row[0]
		for _, v := range row[1:] {
			if v > mx {
				mx = v
			}
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - mx))
		}
		lse := float64(mx) + math.Log(s)
		total += lse - float64(row[y])
		if dlogits != nil {
			d := dlogits[r*classes : (r+1)*classes]
			inv := 1 / (s * float64(n))
			for k, v := range row {
				d[k] = float32(math.Exp(float64(v-mx)) * inv)
			}
			d[y] -= float32(1 / float64(n))
		}
	}
	return total / float64(n)
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax(row []float32) int {
	best := 0
	for k, v := range row {
		if v > row[best] {
			best = k
		}
	}
	return best
}
