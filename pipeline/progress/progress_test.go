package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
)

func events() []pipeline.Event {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	return []pipeline.Event{
		{Time: at(0), Type: pipeline.EventRunStart, Total: 3},
		{Time: at(0), Type: pipeline.EventStarted, Stage: "quantize/rtn-w4", Threads: 2},
		{Time: at(1), Type: pipeline.EventProgress, Stage: "quantize/rtn-w4", Fraction: 0.1, Message: "a"},
		{Time: at(5), Type: pipeline.EventProgress, Stage: "quantize/rtn-w4", Fraction: 0.5, Message: "b"},
		{Time: at(12), Type: pipeline.EventProgress, Stage: "quantize/rtn-w4", Fraction: 0.9, Message: "c"},
		{Time: at(13), Type: pipeline.EventFinished, Stage: "quantize/rtn-w4", Status: pipeline.StatusDone},
		{Time: at(13), Type: pipeline.EventStarted, Stage: "evolve/x"},
		{Time: at(14), Type: pipeline.EventFinished, Stage: "evolve/x", Status: pipeline.StatusFailed, Error: "boom\nmore", LogPath: "/r/logs/evolve/x.log"},
		{Time: at(14), Type: pipeline.EventFinished, Stage: "evaluate/x", Status: pipeline.StatusSkipped, Error: "input evolve/x failed"},
		{Time: at(14), Type: pipeline.EventRunEnd},
	}
}

func TestPlainThrottlesAndNamesLogs(t *testing.T) {
	var b bytes.Buffer
	r := NewPlain(&b, 10*time.Second)
	for _, e := range events() {
		r.Observe(e)
	}
	r.Close()
	want := `03:04:05 3 stages to run
03:04:05 start quantize/rtn-w4 (2 threads)
03:04:17       quantize/rtn-w4  90%: c
03:04:18 done  quantize/rtn-w4 [1/3]
03:04:18 start evolve/x
03:04:19 FAIL  evolve/x [2/3]: boom ...
         log: /r/logs/evolve/x.log
03:04:19 skipped evaluate/x [3/3]: input evolve/x failed
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// syncBuffer is a bytes.Buffer safe for mpb's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBarsRenderAndClose(t *testing.T) {
	var b syncBuffer
	r := NewBars(&b, true)
	for _, e := range events() {
		r.Observe(e)
	}
	r.Close()
	r.Close() // idempotent
	out := b.String()
	if !strings.Contains(out, "FAIL evolve/x: boom") || !strings.Contains(out, "/r/logs/evolve/x.log") {
		t.Fatalf("failure line missing from bars output:\n%q", out)
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "bars", "plain", "none"} {
		if _, err := ParseMode(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseMode("fancy"); err == nil {
		t.Error("accepted fancy")
	}
}
