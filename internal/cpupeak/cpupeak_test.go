package cpupeak

import (
	"context"
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	loops := Available()
	if len(loops) == 0 {
		t.Skip("no peak loop on this CPU")
	}
	for _, l := range loops {
		r, err := Measure(context.Background(), l, 2, 5*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: %v", l.Name, err)
		}
		if r.Loop != l.Name || r.Threads != 2 {
			t.Errorf("%s: result names %q with %d threads", l.Name, r.Loop, r.Threads)
		}
		if !(r.InstrPerSec > 0) || r.MACPerSec != r.InstrPerSec*float64(l.MACsPerInstr) {
			t.Errorf("%s: %g instr/s, %g MAC/s: want a positive rate times %d", l.Name, r.InstrPerSec, r.MACPerSec, l.MACsPerInstr)
		}
		if r.TotalMACPerSec < 2*r.MACPerSec*(1-1e-12) {
			t.Errorf("%s: total %g below twice the slowest thread's %g", l.Name, r.TotalMACPerSec, r.MACPerSec)
		}
	}
}

func TestMeasureRefuses(t *testing.T) {
	l := Loop{Name: "count", MACsPerInstr: 1, run: func(int) {}}
	if _, err := Measure(context.Background(), l, 0, time.Millisecond); err == nil {
		t.Error("0 threads: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Measure(ctx, l, 1, time.Millisecond); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestMeasureRunsEnoughIterations(t *testing.T) {
	var calls, last int
	l := Loop{Name: "count", MACsPerInstr: 1, run: func(n int) {
		calls++
		last = n
	}}
	if _, err := Measure(context.Background(), l, 1, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if calls < 2 || last < 1 {
		t.Errorf("%d calls, last with %d iterations: want a calibration run, then a timed one of at least 1", calls, last)
	}
}
