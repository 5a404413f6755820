package quant

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestLevelRange(t *testing.T) {
	for bits, want := range map[int][2]int{1: {-1, 1}, 2: {-1, 1}, 3: {-3, 3}, 4: {-7, 7}, 8: {-127, 127}} {
		lo, hi := LevelRange(bits)
		if lo != want[0] || hi != want[1] {
			t.Errorf("LevelRange(%d) = %d, %d; want %v", bits, lo, hi, want)
		}
	}
	if ValidLevel(1, 0) || !ValidLevel(1, -1) || !ValidLevel(2, 0) || ValidLevel(4, 8) || ValidLevel(4, -8) {
		t.Error("ValidLevel wrong at the range edges")
	}
	if NumLevels(1) != 2 || NumLevels(4) != 15 {
		t.Error("NumLevels")
	}
	for _, b := range []int{0, 9, -1} {
		if CheckBits(b) == nil {
			t.Errorf("CheckBits(%d) accepted", b)
		}
	}
}

func TestQuantizeWeight(t *testing.T) {
	cases := []struct {
		w, s float32
		bits int
		want int8
	}{
		{0.5, 1, 4, 0}, {1.5, 1, 4, 2}, {2.5, 1, 4, 2}, {-2.5, 1, 4, -2}, {2.6, 1, 4, 3},
		{100, 1, 4, 7}, {-100, 1, 4, -7}, {0.3, 0.1, 3, 3}, {-0.2, 1, 1, -1}, {0, 1, 1, 1}, {0.4, 1, 2, 0}, {0.6, 1, 2, 1},
	}
	for _, c := range cases {
		if got := QuantizeWeight(c.w, c.s, c.bits); got != c.want {
			t.Errorf("QuantizeWeight(%g, %g, %d) = %d, want %d", c.w, c.s, c.bits, got, c.want)
		}
	}
}

func TestPackRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for bits := 1; bits <= 8; bits++ {
		lo, hi := LevelRange(bits)
		for _, n := range []int{0, 1, 7, 8, 9, 1001} {
			lv := make([]int8, n)
			for i := range lv {
				lv[i] = int8(lo + rng.IntN(hi-lo+1))
				if bits == 1 && lv[i] == 0 {
					lv[i] = 1
				}
			}
			p, err := Pack(lv, bits)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != PackedBytes(n, bits) {
				t.Fatalf("%d bits, %d levels: %d bytes", bits, n, len(p))
			}
			back, err := Unpack(p, n, bits)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back, lv) {
				t.Fatalf("%d bits: round trip changed levels", bits)
			}
		}
	}
	if _, err := Pack([]int8{8}, 4); err == nil || !strings.Contains(err.Error(), "outside the 4-bit range") {
		t.Errorf("Pack of an out-of-range level: %v", err)
	}
	if _, err := Unpack([]byte{0xff}, 2, 4); err == nil {
		t.Error("Unpack accepted code 15 at 4 bits")
	}
}
