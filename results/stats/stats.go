// Package stats holds the statistics of ccq's reports: descriptive
// statistics (mean, sample standard deviation, quantiles), the Wilcoxon
// rank-sum test (Mann-Whitney U) with exact p-values for small samples (the
// exact permutation distribution when there are ties) and the tie-corrected
// normal approximation otherwise, and the
// Holm-Bonferroni correction for multiple comparisons.
package stats

import (
	"errors"
	"math"
	"slices"
)

// Mean returns the arithmetic mean of xs, NaN if xs is empty.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Std returns the sample standard deviation of xs (divisor n-1), NaN if xs
// has fewer than two values.
func Std(xs []float64) float64 {
	if len(xs) < 2 {
		return math.NaN()
	}
	m := Mean(xs)
	s := 0.0
	for _, x := range xs {
		d := x - m
		s += d * d
	}
	return math.Sqrt(s / float64(len(xs)-1))
}

// Quantile returns the p-quantile of xs by linear interpolation between
// order statistics: Hyndman and Fan's type 7, the default of numpy
// (np.quantile), R (quantile) and pandas. With the sorted values
// x[0] <= ... <= x[n-1] and h = (n-1)p, it is
// x[floor(h)] + (h - floor(h)) (x[floor(h)+1] - x[floor(h)]).
// It returns NaN for empty xs or p outside [0, 1]. xs is not modified.
func Quantile(xs []float64, p float64) float64 {
	if len(xs) == 0 || !(p >= 0 && p <= 1) {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return QuantileSorted(s, p)
}

// QuantileSorted is Quantile for values already sorted in ascending order.
func QuantileSorted(s []float64, p float64) float64 {
	n := len(s)
	if n == 0 || !(p >= 0 && p <= 1) {
		return math.NaN()
	}
	h := float64(n-1) * p
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return s[n-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// Median returns the median of xs (Quantile(xs, 0.5)).
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }

// Quartiles returns the first quartile, the median and the third quartile
// of xs (type 7 quantiles, see Quantile).
func Quartiles(xs []float64) (q1, median, q3 float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return QuantileSorted(s, 0.25), QuantileSorted(s, 0.5), QuantileSorted(s, 0.75)
}

// Holm returns the Holm-Bonferroni adjusted p-values of ps, in the order of
// ps: with p(1) <= ... <= p(m) sorted, the adjusted value of p(i) is
// min(1, max over j <= i of (m-j+1) p(j)). Rejecting where the adjusted value
// is <= alpha controls the family-wise error rate at alpha. NaN entries are
// left out of the family and stay NaN.
func Holm(ps []float64) []float64 {
	out := make([]float64, len(ps))
	var idx []int
	for i, p := range ps {
		if math.IsNaN(p) {
			out[i] = math.NaN()
			continue
		}
		idx = append(idx, i)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case ps[a] < ps[b]:
			return -1
		case ps[a] > ps[b]:
			return 1
		}
		return 0
	})
	m := len(idx)
	running := 0.0
	for j, i := range idx {
		adj := math.Min(1, float64(m-j)*ps[i])
		running = math.Max(running, adj)
		out[i] = running
	}
	return out
}

// Method names how a rank-sum p-value was computed.
type Method string

// Methods of RankSum.
const (
	Auto   Method = ""       // exact when feasible (see RankSum), else normal
	Exact  Method = "exact"  // enumerate the null distribution of U
	Normal Method = "normal" // normal approximation, tie and continuity corrected
)

// RankSumResult is the outcome of a two-sided Wilcoxon rank-sum test.
type RankSumResult struct {
	// U1 is the Mann-Whitney statistic of the first sample: the number of
	// pairs (x, y) with x > y, ties counting one half. U1 + U2 = n1 n2.
	U1 float64
	// P is the two-sided p-value.
	P float64
	// Z is the continuity-corrected standard score of U1 (normal method
	// only; 0 otherwise), positive when x tends to be larger.
	Z float64
	// Method says how P was computed.
	Method Method
	// Ties reports whether the pooled sample had tied values.
	Ties bool
}

// ErrEmpty is returned by RankSum when a sample is empty.
var ErrEmpty = errors.New("stats: rank-sum test needs two non-empty samples")

// exactTiesWork bounds the steps Auto spends on an exact p-value with
// ties (about 50 ms).
const exactTiesWork = 5e7

// ExactLimit is the largest n1*n2 for which Auto enumerates the exact null
// distribution (about (n1 n2)^2 / 2 steps: a millisecond at this size).
const ExactLimit = 1000

// RankSum performs the two-sided Wilcoxon rank-sum (Mann-Whitney U) test of
// the null hypothesis that x and y come from the same distribution.
//
// With method Auto the p-value is exact when n1*n2 <= ExactLimit (and,
// with ties, the enumeration is cheap enough: exactTiesWork):
// P = min(1, 2 min(P(U <= U1), P(U >= U1))) under the null distribution of
// U, enumerated. Without ties that is the classic distribution of U; with
// ties it is the exact conditional (permutation) distribution of the
// mid-rank sum given the tie pattern (as R's coin and exactRankTests
// packages compute it), so a few tied accuracies among 5 seeds do not
// push small samples onto the normal approximation. Otherwise (and with
// method Normal) it uses the normal approximation with mean n1 n2 / 2, the
// tie-corrected variance n1 n2 / 12 ((n+1) - sum(t^3 - t) / (n (n-1))), and
// a continuity correction of 1/2 towards the mean, as
// scipy.stats.mannwhitneyu(method="asymptotic") does. NaN values are an
// error.
func RankSum(x, y []float64, method Method) (RankSumResult, error) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return RankSumResult{}, ErrEmpty
	}
	pooled := make([]float64, 0, n1+n2)
	pooled = append(pooled, x...)
	pooled = append(pooled, y...)
	for _, v := range pooled {
		if math.IsNaN(v) {
			return RankSumResult{}, errors.New("stats: rank-sum test: NaN in a sample")
		}
	}
	ranks, tieTerm := rank(pooled)
	r1 := 0.0
	for _, r := range ranks[:n1] {
		r1 += r
	}
	u1 := r1 - float64(n1*(n1+1))/2
	res := RankSumResult{U1: u1, Ties: tieTerm > 0}
	useExact := method == Exact || (method == Auto && n1*n2 <= ExactLimit)
	if useExact && res.Ties && method == Auto {
		// The permutation distribution costs about n * n1 * n(n+1)
		// steps; beyond exactTiesWork the normal approximation is used.
		n := float64(n1 + n2)
		useExact = n*float64(min(n1, n2))*n*(n+1) <= exactTiesWork
	}
	if useExact {
		res.Method = Exact
		if res.Ties {
			res.P = exactTiesTwoSided(ranks, n1)
		} else {
			res.P = exactTwoSided(n1, n2, int(math.Round(u1)))
		}
		return res, nil
	}
	res.Method = Normal
	n := float64(n1 + n2)
	mu := float64(n1*n2) / 2
	variance := float64(n1*n2) / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	if variance <= 0 {
		res.P = 1 // every value tied: no evidence either way
		return res, nil
	}
	d := u1 - mu
	switch {
	case d > 0:
		d = math.Max(0, d-0.5)
	case d < 0:
		d = math.Min(0, d+0.5)
	}
	res.Z = d / math.Sqrt(variance)
	res.P = math.Min(1, math.Erfc(math.Abs(res.Z)/math.Sqrt2))
	return res, nil
}

// rank returns the mid-ranks (1-based, ties get their average rank) of xs
// and the tie term sum(t^3 - t) over groups of t tied values.
func rank(xs []float64) ([]float64, float64) {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case xs[a] < xs[b]:
			return -1
		case xs[a] > xs[b]:
			return 1
		}
		return 0
	})
	ranks := make([]float64, len(xs))
	tie := 0.0
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && xs[idx[j]] == xs[idx[i]] {
			j++
		}
		mid := float64(i+1+j) / 2 // average of ranks i+1 .. j
		for k := i; k < j; k++ {
			ranks[idx[k]] = mid
		}
		if t := float64(j - i); t > 1 {
			tie += t*t*t - t
		}
		i = j
	}
	return ranks, tie
}

// exactTwoSided returns the exact two-sided p-value of U1 = u for samples of
// sizes n1, n2 without ties.
func exactTwoSided(n1, n2, u int) float64 {
	counts := uCounts(n1, n2)
	total := 0.0
	for _, c := range counts {
		total += c
	}
	lo, hi := 0.0, 0.0
	for k, c := range counts {
		if k <= u {
			lo += c
		}
		if k >= u {
			hi += c
		}
	}
	return math.Min(1, 2*math.Min(lo, hi)/total)
}

// uCounts returns, for k = 0..n1*n2, the number of arrangements of n1 x's
// and n2 y's (all values distinct) whose U statistic is k, by the recurrence
// on the largest value: it is either an x, which beats all j y's
// (c(i, j, k) gets c(i-1, j, k-j)), or a y (c(i, j, k) gets c(i, j-1, k)).
// Counts are float64: beyond 2^53 they round, but the p-value is a ratio of
// sums each accurate to about 1e-16 relative, all a p-value needs.
func uCounts(n1, n2 int) []float64 {
	maxU := n1 * n2
	prev := make([][]float64, n2+1) // c(i-1, j, .)
	cur := make([][]float64, n2+1)  // c(i, j, .)
	for j := range prev {
		prev[j] = make([]float64, maxU+1)
		cur[j] = make([]float64, maxU+1)
		prev[j][0] = 1 // c(0, j, 0) = 1
	}
	for i := 1; i <= n1; i++ {
		for j := 0; j <= n2; j++ {
			row := cur[j]
			clear(row)
			for k := 0; k <= i*j; k++ {
				v := 0.0
				if k >= j {
					v += prev[j][k-j]
				}
				if j > 0 {
					v += cur[j-1][k]
				}
				row[k] = v
			}
			if j == 0 {
				row[0] = 1 // c(i, 0, 0) = 1
			}
		}
		prev, cur = cur, prev
	}
	return prev[n2]
}

// exactTiesTwoSided returns the exact two-sided p-value of the rank sum of
// the first n1 of the pooled mid-ranks under the permutation distribution:
// every choice of n1 of the n positions equally likely. Doubled mid-ranks
// are integers, so the distribution of the doubled sum is counted by
// dynamic programming over the positions (ways[k][s]: choices of k
// positions so far with doubled sum s).
func exactTiesTwoSided(ranks []float64, n1 int) float64 {
	n := len(ranks)
	if n1 > n-n1 {
		// Count the smaller sample's sums: the two-sided p-value is the
		// same (its sum is the total minus the other's).
		swapped := append(append([]float64(nil), ranks[n1:]...), ranks[:n1]...)
		return exactTiesTwoSided(swapped, n-n1)
	}
	twice := make([]int, n)
	maxSum := 0
	observed := 0
	for i, r := range ranks {
		twice[i] = int(math.Round(2 * r))
		maxSum += twice[i]
		if i < n1 {
			observed += twice[i]
		}
	}
	ways := make([][]float64, n1+1)
	for k := range ways {
		ways[k] = make([]float64, maxSum+1)
	}
	ways[0][0] = 1
	for i, r := range twice {
		for k := min(i+1, n1); k >= 1; k-- {
			from, to := ways[k-1], ways[k]
			for s := maxSum - r; s >= 0; s-- {
				if from[s] != 0 {
					to[s+r] += from[s]
				}
			}
		}
	}
	total, lo, hi := 0.0, 0.0, 0.0
	for s, c := range ways[n1] {
		total += c
		if s <= observed {
			lo += c
		}
		if s >= observed {
			hi += c
		}
	}
	return math.Min(1, 2*math.Min(lo, hi)/total)
}
