// Package progress shows a pipeline run to a person: mpb bars on a
// terminal (one per running stage and one overall), throttled plain lines
// otherwise, or nothing. Each display is a pipeline.Observer.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Mode selects a display: "auto" (bars on a terminal, else plain), "bars",
// "plain" or "none".
type Mode string

// Modes.
const (
	Auto  Mode = "auto"
	Bars  Mode = "bars"
	Plain Mode = "plain"
	None  Mode = "none"
)

// ParseMode checks a --progress value.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Auto, Bars, Plain, None:
		return Mode(s), nil
	}
	return "", fmt.Errorf("--progress %q: expected auto, bars, plain or none", s)
}

// Reporter is a display of a run. Close flushes it and must be called once
// the run is over.
type Reporter interface {
	pipeline.Observer
	Close()
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New returns the display for mode writing to f (usually os.Stderr).
func New(mode Mode, f *os.File) Reporter {
	if mode == Auto {
		mode = Plain
		if IsTerminal(f) {
			mode = Bars
		}
	}
	switch mode {
	case Bars:
		return NewBars(f, true)
	case Plain:
		return NewPlain(f, 10*time.Second)
	}
	return nop{}
}

type nop struct{}

func (nop) Observe(pipeline.Event) {}
func (nop) Close()                 {}

// PlainReporter writes one line per stage start and end, and progress
// lines at most every Every per stage.
type PlainReporter struct {
	mu       sync.Mutex
	w        io.Writer
	every    time.Duration
	total    int
	finished int
	last     map[string]time.Time
	now      func() time.Time
}

// NewPlain returns a plain display writing to w, with progress lines at
// most every `every` per stage (0: never).
func NewPlain(w io.Writer, every time.Duration) *PlainReporter {
	return &PlainReporter{w: w, every: every, last: map[string]time.Time{}, now: time.Now}
}

func (r *PlainReporter) printf(t time.Time, format string, args ...any) {
	fmt.Fprintf(r.w, t.Format("15:04:05")+" "+format+"\n", args...)
}

// Observe implements pipeline.Observer.
func (r *PlainReporter) Observe(e pipeline.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := e.Time
	if t.IsZero() {
		t = r.now()
	}
	switch e.Type {
	case pipeline.EventRunStart:
		r.total = e.Total
		if e.Total > 0 {
			r.printf(t, "%d stages to run", e.Total)
		}
	case pipeline.EventStarted:
		r.last[e.Stage] = t
		extra := ""
		if e.Threads > 1 {
			extra = fmt.Sprintf(" (%d threads)", e.Threads)
		}
		r.printf(t, "start %s%s", e.Stage, extra)
	case pipeline.EventProgress:
		if r.every <= 0 || t.Sub(r.last[e.Stage]) < r.every {
			return
		}
		r.last[e.Stage] = t
		msg := ""
		if e.Message != "" {
			msg = ": " + e.Message
		}
		r.printf(t, "      %s %3.0f%%%s", e.Stage, 100*e.Fraction, msg)
	case pipeline.EventFinished:
		delete(r.last, e.Stage)
		r.finished++
		switch e.Status {
		case pipeline.StatusDone:
			r.printf(t, "done  %s [%d/%d]", e.Stage, r.finished, r.total)
		case pipeline.StatusFailed:
			r.printf(t, "FAIL  %s [%d/%d]: %s\n         log: %s", e.Stage, r.finished, r.total, firstLine(e.Error), e.LogPath)
		default:
			r.printf(t, "%-5s %s [%d/%d]: %s", e.Status, e.Stage, r.finished, r.total, e.Error)
		}
	}
}

// Close implements Reporter.
func (r *PlainReporter) Close() {}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// BarsReporter draws mpb bars: one overall bar and one per running stage.
type BarsReporter struct {
	mu      sync.Mutex
	p       *mpb.Progress
	overall *mpb.Bar
	bars    map[string]*stageBar
	lines   chan string
	wg      sync.WaitGroup
	closed  bool
}

const barScale = 1000

type stageBar struct {
	b   *mpb.Bar
	mu  sync.Mutex
	msg string
}

func (s *stageBar) message(decor.Statistics) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msg
}

// NewBars returns a bar display on w; tty forces terminal rendering.
func NewBars(w io.Writer, tty bool) *BarsReporter {
	opts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(200 * time.Millisecond)}
	if tty {
		opts = append(opts, mpb.ForceTTY(), mpb.WithAutoRefresh())
	}
	r := &BarsReporter{p: mpb.New(opts...), bars: map[string]*stageBar{}, lines: make(chan string, 256)}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for l := range r.lines {
			_, _ = r.p.Write([]byte(l + "\n"))
		}
	}()
	return r
}

// Observe implements pipeline.Observer.
func (r *BarsReporter) Observe(e pipeline.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	switch e.Type {
	case pipeline.EventRunStart:
		if e.Total == 0 {
			return
		}
		r.overall = r.p.AddBar(int64(e.Total), mpb.BarPriority(1<<30),
			mpb.PrependDecorators(decor.Name("overall", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d stages", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace)))
	case pipeline.EventStarted:
		sb := &stageBar{}
		sb.b = r.p.AddBar(barScale,
			mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(decor.Name(e.Stage, decor.WCSyncSpaceR), decor.Percentage(decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Any(sb.message)))
		r.bars[e.Stage] = sb
	case pipeline.EventProgress:
		if sb := r.bars[e.Stage]; sb != nil {
			sb.mu.Lock()
			sb.msg = e.Message
			sb.mu.Unlock()
			sb.b.SetCurrent(int64(e.Fraction * barScale))
		}
	case pipeline.EventFinished:
		if sb := r.bars[e.Stage]; sb != nil {
			if e.Status == pipeline.StatusDone {
				sb.b.SetCurrent(barScale)
			} else {
				sb.b.Abort(true)
			}
			delete(r.bars, e.Stage)
		}
		if r.overall != nil {
			r.overall.Increment()
		}
		switch e.Status {
		case pipeline.StatusFailed:
			r.lines <- fmt.Sprintf("FAIL %s: %s\n     log: %s", e.Stage, firstLine(e.Error), e.LogPath)
		case pipeline.StatusSkipped:
			r.lines <- fmt.Sprintf("skipped %s: %s", e.Stage, e.Error)
		}
	case pipeline.EventRunEnd:
		for n, sb := range r.bars {
			sb.b.Abort(true)
			delete(r.bars, n)
		}
		if r.overall != nil && !r.overall.Completed() {
			r.overall.Abort(false)
		}
	}
}

// Close stops drawing.
func (r *BarsReporter) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	for _, sb := range r.bars {
		sb.b.Abort(true)
	}
	if r.overall != nil && !r.overall.Completed() {
		r.overall.Abort(false)
	}
	close(r.lines)
	r.mu.Unlock()
	r.wg.Wait()
	r.p.Wait()
}
