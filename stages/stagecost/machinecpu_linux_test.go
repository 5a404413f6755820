package stagecost

import (
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	cpu, d, ok := parseProcStatCPU("cpu3 100 20 30 5000 40 5 6 7 0 0")
	if want := (100 + 20 + 30 + 5 + 6 + 7) * 10 * time.Millisecond; !ok || cpu != 3 || d != want {
		t.Errorf("got cpu %d %v %v, want 3 %v", cpu, d, ok, want)
	}
	if cpu, _, ok := parseProcStatCPU("cpu  1 2 3 4 5 6 7 8"); !ok || cpu != -1 {
		t.Errorf("aggregate line: cpu %d ok %v, want -1 true", cpu, ok)
	}
	for _, bad := range []string{"", "intr 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 x 3 4 5 6 7 8", "cpux 1 2 3 4 5 6 7 8",
		"cpu99999999 1 2 3 4 5 6 7 8", "cpu 18446744073709551615 1 1 1 1 1 1 1"} {
		if _, _, ok := parseProcStatCPU(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	if d, n, ok := machineCPU(); !ok || d <= 0 || n < 1 {
		t.Errorf("machine CPU on this Linux: %v on %d CPUs, %v", d, n, ok)
	}
}

func FuzzParseProcStatCPU(f *testing.F) {
	f.Add("cpu  100 20 30 5000 40 5 6 7 0 0")
	f.Add("cpu1 100 20 30 5000 40 5 6 7 0 0")
	f.Add("cpu 18446744073709551615 1 1 1 1 1 1 1")
	f.Fuzz(func(t *testing.T, line string) {
		cpu, d, ok := parseProcStatCPU(line)
		if ok && (d < 0 || d%(10*time.Millisecond) != 0 || cpu < -1) {
			t.Errorf("%q: cpu %d, %v is not a count of 10 ms ticks", line, cpu, d)
		}
		if !ok && (d != 0 || cpu != 0) {
			t.Errorf("%q: refused but gave cpu %d, %v", line, cpu, d)
		}
	})
}
