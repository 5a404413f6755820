package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/internal/cpupeak"
)

func TestBenchPeak(t *testing.T) {
	if len(cpupeak.Available()) == 0 {
		t.Skip("no peak loop on this CPU")
	}
	out, err := runCCQ(t, "bench", "peak", "--seconds", "0.005", "--threads", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res []cpupeak.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not a JSON list of results: %v\n%s", err, out)
	}
	if want := 2 * len(cpupeak.Available()); len(res) != want {
		t.Fatalf("%d results, want %d (every loop on 1 and on 2 threads)", len(res), want)
	}
	for _, r := range res {
		if !(r.MACPerSec > 0) {
			t.Errorf("%s on %d threads: %g MAC/s", r.Loop, r.Threads, r.MACPerSec)
		}
	}
}

func TestBenchPeakRefuses(t *testing.T) {
	for _, args := range [][]string{{"--threads", "0"}, {"--seconds", "0"}} {
		_, err := runCCQ(t, append([]string{"bench", "peak"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: error %v, want one naming %s", args, err, args[0])
		}
	}
}
