package stagecost

import (
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	d, ok := parseProcStatCPU("cpu  100 20 30 5000 40 5 6 7 0 0")
	if want := (100 + 20 + 30 + 5 + 6 + 7) * 10 * time.Millisecond; !ok || d != want {
		t.Errorf("got %v %v, want %v", d, ok, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 x 3 4 5 6 7 8", "cpu 18446744073709551615 1 1 1 1 1 1 1"} {
		if _, ok := parseProcStatCPU(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	if d, ok := machineCPU(); !ok || d <= 0 {
		t.Errorf("machine CPU on this Linux: %v %v", d, ok)
	}
}

func FuzzParseProcStatCPU(f *testing.F) {
	f.Add("cpu  100 20 30 5000 40 5 6 7 0 0")
	f.Add("cpu 18446744073709551615 1 1 1 1 1 1 1")
	f.Fuzz(func(t *testing.T, line string) {
		d, ok := parseProcStatCPU(line)
		if ok && (d < 0 || d%(10*time.Millisecond) != 0) {
			t.Errorf("%q: %v is not a count of 10 ms ticks", line, d)
		}
		if !ok && d != 0 {
			t.Errorf("%q: refused but gave %v", line, d)
		}
	})
}
