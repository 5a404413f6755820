package stats

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestMeanStd(t *testing.T) {
	xs := []float64{2, 4, 4, 4, 5, 5, 7, 9}
	if m := Mean(xs); m != 5 {
		t.Fatalf("Mean = %v, want 5", m)
	}
	// Squared deviations sum to 32; sample variance 32/7.
	if s := Std(xs); !near(s, math.Sqrt(32.0/7), 1e-15) {
		t.Fatalf("Std = %v, want sqrt(32/7)", s)
	}
	if !math.IsNaN(Mean(nil)) || !math.IsNaN(Std([]float64{1})) {
		t.Fatal("Mean(nil) and Std of one value must be NaN")
	}
}

func TestQuantileType7(t *testing.T) {
	xs := []float64{4, 1, 3, 2} // unsorted on purpose
	for _, c := range []struct{ p, want float64 }{
		{0, 1}, {0.25, 1.75}, {0.5, 2.5}, {0.75, 3.25}, {1, 4}, {0.1, 1.3},
	} {
		if got := Quantile(xs, c.p); !near(got, c.want, 1e-12) {
			t.Errorf("Quantile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if xs[0] != 4 {
		t.Fatal("Quantile sorted its input in place")
	}
	// numpy's documented example: np.median([[10, 7, 4], [3, 2, 1]]) == 3.5.
	if m := Median([]float64{10, 7, 4, 3, 2, 1}); m != 3.5 {
		t.Fatalf("Median = %v, want 3.5", m)
	}
	q1, med, q3 := Quartiles([]float64{7})
	if q1 != 7 || med != 7 || q3 != 7 {
		t.Fatalf("Quartiles of one value: %v %v %v", q1, med, q3)
	}
	if !math.IsNaN(Quantile(xs, 1.5)) || !math.IsNaN(Quantile(nil, 0.5)) {
		t.Fatal("out-of-range p or empty input must give NaN")
	}
}

func TestHolmByHand(t *testing.T) {
	// m = 4: sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06,
	// 0.04*1 = 0.04 raised to the running maximum 0.06.
	got := Holm([]float64{0.01, 0.04, 0.03, 0.005})
	want := []float64{0.03, 0.06, 0.06, 0.02}
	for i := range want {
		if !near(got[i], want[i], 1e-15) {
			t.Fatalf("Holm = %v, want %v", got, want)
		}
	}
	got = Holm([]float64{0.5, math.NaN(), 0.4})
	if got[0] != 0.8 || !math.IsNaN(got[1]) || got[2] != 0.8 {
		t.Fatalf("Holm with NaN = %v, want [0.8 NaN 0.8] (NaN outside the family)", got)
	}
	if got := Holm([]float64{0.9, 0.8}); got[0] != 1 || got[1] != 1 {
		t.Fatalf("Holm caps at 1: %v", got)
	}
}

// bruteCounts enumerates every way of choosing which of n1+n2 distinct
// ranked values belong to x, and counts U1 (pairs with x > y).
func bruteCounts(n1, n2 int) []float64 {
	n := n1 + n2
	counts := make([]float64, n1*n2+1)
	for mask := 0; mask < 1<<n; mask++ {
		bits := 0
		for m := mask; m > 0; m &= m - 1 {
			bits++
		}
		if bits != n1 {
			continue
		}
		u, ysBelow := 0, 0
		for pos := 0; pos < n; pos++ { // ascending values
			if mask&(1<<pos) != 0 {
				u += ysBelow
			} else {
				ysBelow++
			}
		}
		counts[u]++
	}
	return counts
}

func TestUCountsMatchEnumeration(t *testing.T) {
	for _, c := range [][2]int{{1, 1}, {2, 3}, {3, 2}, {4, 4}, {5, 5}, {3, 7}, {6, 4}} {
		got, want := uCounts(c[0], c[1]), bruteCounts(c[0], c[1])
		if len(got) != len(want) {
			t.Fatalf("%v: %d counts, want %d", c, len(got), len(want))
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("%v: count of U=%d is %v, want %v", c, k, got[k], want[k])
			}
		}
	}
	// n1 = n2 = 5: C(10, 5) = 252 arrangements; the lower tail by hand is
	// U=0: 1, U=1: 1, U=2: 2, U=3: 3.
	c := uCounts(5, 5)
	if c[0] != 1 || c[1] != 1 || c[2] != 2 || c[3] != 3 {
		t.Fatalf("lower tail %v", c[:4])
	}
}

// sampleWithU builds two samples without ties whose U1 is u.
func sampleWithU(n1, n2, u int) (x, y []float64) {
	// Start with all x below all y (U1 = 0) and move x's up one place at a time.
	pos := make([]int, n1) // number of y's below each x
	for k := n1 - 1; k >= 0 && u > 0; k-- {
		step := min(u, n2)
		pos[k] = step
		u -= step
	}
	for i := 0; i < n2; i++ {
		y = append(y, float64(10*i))
	}
	for k, p := range pos {
		x = append(x, float64(10*p)-5+float64(k)*0.01) // just below y[p], or above all y's when p = n2
	}
	return x, y
}

// TestExactCriticalValues checks the exact test against the published
// two-tailed critical values of U (alpha = 0.05: U <= crit is significant
// and crit+1 is not) of the standard Mann-Whitney tables.
func TestExactCriticalValues(t *testing.T) {
	for _, c := range []struct {
		n1, n2, crit int
		alpha        float64
	}{
		{5, 5, 2, 0.05}, {5, 5, 0, 0.01}, {5, 6, 3, 0.05}, {5, 7, 5, 0.05}, {5, 8, 6, 0.05},
		{5, 10, 8, 0.05}, {8, 8, 13, 0.05}, {10, 10, 23, 0.05}, {20, 20, 127, 0.05}, {10, 10, 16, 0.01},
	} {
		for _, u := range []int{c.crit, c.crit + 1} {
			x, y := sampleWithU(c.n1, c.n2, u)
			r, err := RankSum(x, y, Auto)
			if err != nil {
				t.Fatal(err)
			}
			if r.U1 != float64(u) || r.Method != Exact {
				t.Fatalf("n=%d,%d: built U=%d, test saw U1=%v method %s", c.n1, c.n2, u, r.U1, r.Method)
			}
			if sig := r.P <= c.alpha; sig != (u == c.crit) {
				t.Errorf("n=%d,%d alpha %v: U=%d gives p=%v; the table's critical value is %d", c.n1, c.n2, c.alpha, u, r.P, c.crit)
			}
		}
	}
}

// TestScipyDocumentedExample: scipy.stats.mannwhitneyu's documentation
// (males vs females ages) reports U1 = 17, exact p = 0.1111 (= 2 * 7/126)
// and asymptotic p = 0.11134688653314041.
func TestScipyDocumentedExample(t *testing.T) {
	males := []float64{19, 22, 16, 29, 24}
	females := []float64{20, 11, 17, 12}
	r, err := RankSum(males, females, Auto)
	if err != nil {
		t.Fatal(err)
	}
	if r.U1 != 17 || r.Method != Exact || !near(r.P, 14.0/126, 1e-15) {
		t.Fatalf("exact: %+v, want U1 17, p 14/126", r)
	}
	r, err = RankSum(males, females, Normal)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.P, 0.11134688653314041, 1e-12) || r.Z <= 0 {
		t.Fatalf("normal: %+v, want p 0.11134688653314041 and z > 0", r)
	}
	// Swapping the samples: U1 becomes n1 n2 - 17, same p.
	r2, _ := RankSum(females, males, Normal)
	if r2.U1 != 3 || !near(r2.P, r.P, 1e-15) || !near(r2.Z, -r.Z, 1e-15) {
		t.Fatalf("swapped: %+v vs %+v", r2, r)
	}
}

// TestNormalWithTiesByHand: x = 1 2 2 3, y = 2 3 4 5. Mid-ranks 1; 3 3 3;
// 5.5 5.5; 7; 8 give R1 = 12.5, U1 = 2.5; tie term (27-3)+(8-2) = 30;
// variance 16/12 (9 - 30/56) = 11.2857142857; z = (2.5 - 8 + 0.5)/sqrt(var)
// = -1.48835139; p = erfc(|z|/sqrt 2) = 0.1366582477.
func TestNormalWithTiesByHand(t *testing.T) {
	r, err := RankSum([]float64{1, 2, 2, 3}, []float64{2, 3, 4, 5}, Normal)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Ties || r.Method != Normal || r.U1 != 2.5 {
		t.Fatalf("%+v: want ties, normal method, U1 2.5", r)
	}
	if !near(r.Z, -1.4883513944689681, 1e-12) || !near(r.P, 0.13665824773814753, 1e-12) {
		t.Fatalf("z %v p %v", r.Z, r.P)
	}
}

// bruteExact enumerates every choice of len(x) of the pooled positions and
// returns 2 min(P(R <= r1), P(R >= r1)) for the mid-rank sum R.
func bruteExact(x, y []float64) float64 {
	pooled := append(append([]float64(nil), x...), y...)
	ranks, _ := rank(pooled)
	n, n1 := len(pooled), len(x)
	r1 := 0.0
	for _, r := range ranks[:n1] {
		r1 += r
	}
	lo, hi, total := 0, 0, 0
	for mask := 0; mask < 1<<n; mask++ {
		if bits.OnesCount(uint(mask)) != n1 {
			continue
		}
		s := 0.0
		for i := 0; i < n; i++ {
			if mask&(1<<i) != 0 {
				s += ranks[i]
			}
		}
		total++
		if s <= r1+1e-9 {
			lo++
		}
		if s >= r1-1e-9 {
			hi++
		}
	}
	return math.Min(1, 2*float64(min(lo, hi))/float64(total))
}

// TestExactWithTies: with ties, Auto (small samples) and Exact use the
// exact permutation distribution of the mid-rank sum; checked against
// brute-force enumeration, and complete separation of 5 vs 5 runs keeps
// its exact p = 2/252 even when runs tie within a sample (as accuracies
// of different seeds often do).
func TestExactWithTies(t *testing.T) {
	cases := [][2][]float64{
		{{1, 2, 2, 3}, {2, 3, 4, 5}},
		{{98.57, 98.57, 98.6, 98.5, 98.6}, {60.1, 55.2, 71.3, 52.8, 62.5}},
		{{1, 1, 2, 2, 3, 3}, {2, 2, 3, 4}},
		{{5, 5, 5}, {5, 5, 6, 6}},
		{{1, 2, 2, 3, 3, 4, 7}, {2, 3}}, // the larger sample first
	}
	for _, c := range cases {
		want := bruteExact(c[0], c[1])
		for _, m := range []Method{Auto, Exact} {
			r, err := RankSum(c[0], c[1], m)
			if err != nil || !r.Ties || r.Method != Exact || !near(r.P, want, 1e-12) {
				t.Errorf("%v vs %v (%q): %+v %v, want exact p %v", c[0], c[1], m, r, err, want)
			}
		}
	}
	if r, _ := RankSum(cases[1][0], cases[1][1], Auto); !near(r.P, 2.0/252, 1e-15) {
		t.Errorf("complete separation with ties: p %v, want 2/252", r.P)
	}
}

func TestRankSumEdgeCases(t *testing.T) {
	if _, err := RankSum(nil, []float64{1}, Auto); err != ErrEmpty {
		t.Fatalf("empty: %v", err)
	}
	if _, err := RankSum([]float64{math.NaN()}, []float64{1}, Auto); err == nil {
		t.Fatal("NaN accepted")
	}
	r, err := RankSum([]float64{3, 3, 3}, []float64{3, 3}, Auto)
	if err != nil || r.P != 1 {
		t.Fatalf("all tied: %+v %v, want p = 1", r, err)
	}
	r, _ = RankSum([]float64{1}, []float64{2}, Auto)
	if r.P != 1 {
		t.Fatalf("one vs one: p = %v, want 1", r.P)
	}
}

// TestExactAndNormalAgreeForLargerSamples: for n1 = n2 = 30 without ties
// the two methods must be close (the normal approximation is good there).
func TestExactAndNormalAgreeForLargerSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 5; trial++ {
		x := make([]float64, 30)
		y := make([]float64, 30)
		for i := range x {
			x[i] = rng.NormFloat64() + 0.5
			y[i] = rng.NormFloat64()
		}
		e, _ := RankSum(x, y, Exact)
		n, _ := RankSum(x, y, Normal)
		if e.Method != Exact || n.Method != Normal || !near(e.P, n.P, 0.01) {
			t.Fatalf("exact %v vs normal %v", e.P, n.P)
		}
	}
}

func FuzzRankSum(f *testing.F) {
	f.Add(3.0, 1.0, 4.0, 1.0, 5.0, 9.0, uint8(3))
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g float64, split uint8) {
		vals := []float64{a, b, c, d, e, g}
		k := 1 + int(split)%5
		r, err := RankSum(vals[:k], vals[k:], Auto)
		if err != nil {
			return
		}
		if !(r.P >= 0 && r.P <= 1) || r.U1 < 0 || r.U1 > float64(k*(6-k)) {
			t.Fatalf("%v split %d: %+v", vals, k, r)
		}
	})
}
