package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// NewPluginLogHandler returns a slog handler for code running inside a
// plugin process: it writes hclog-style JSON lines ("@level", "@message",
// "@timestamp") to the process's original standard error, which the host
// reads and re-emits through its own slog logger at each line's level.
func NewPluginLogHandler(level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(stderr, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				lv, _ := a.Value.Any().(slog.Level)
				return slog.String("@level", hclogLevelName(lv))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
}

func hclogLevelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// lineRing keeps the last lines written to its writers (the plugin's raw
// stderr and its gRPC-forwarded stdout and stderr), rendering hclog JSON
// lines as "LEVEL message key=value ...".
type lineRing struct {
	mu      sync.Mutex
	max     int
	lines   []string
	writers []*lineWriter
	panic   string // the first "panic: " or "fatal error: " line seen
}

func newLineRing(n int) *lineRing { return &lineRing{max: n} }

const maxLineLen = 2000

// writer returns a new writer feeding the ring; lines are prefixed.
func (r *lineRing) writer(prefix string) *lineWriter {
	w := &lineWriter{r: r, prefix: prefix}
	r.mu.Lock()
	r.writers = append(r.writers, w)
	r.mu.Unlock()
	return w
}

// lineWriter splits one stream into lines for a lineRing.
type lineWriter struct {
	r       *lineRing
	prefix  string
	partial bytes.Buffer // guarded by r.mu
}

// Write implements io.Writer; go-plugin writes each stderr line and its
// newline in separate calls.
func (w *lineWriter) Write(p []byte) (int, error) {
	r := w.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range p {
		if b == '\n' {
			r.push(w.prefix + w.partial.String())
			w.partial.Reset()
			continue
		}
		if w.partial.Len() < maxLineLen {
			w.partial.WriteByte(b)
		}
	}
	return len(p), nil
}

func (r *lineRing) push(line string) {
	line = renderLogLine(line)
	if strings.TrimSpace(line) == "" {
		return
	}
	if r.panic == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
		r.panic = line
	}
	if len(r.lines) == r.max {
		copy(r.lines, r.lines[1:])
		r.lines = r.lines[:r.max-1]
	}
	r.lines = append(r.lines, line)
}

// Lines returns a copy of the kept lines, oldest first, followed by any
// unterminated last lines. A panic's first line is kept even when the
// goroutine dump after it pushed it out.
func (r *lineRing) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.lines...)
	for _, w := range r.writers {
		if w.partial.Len() > 0 {
			out = append(out, w.prefix+renderLogLine(w.partial.String()))
		}
	}
	if len(out) > r.max {
		out = out[len(out)-r.max:]
	}
	if r.panic != "" && !slices.Contains(out, r.panic) {
		out = append([]string{r.panic, "..."}, out...)
	}
	return out
}

// renderLogLine turns an hclog JSON line into readable text; other lines
// are returned unchanged.
func renderLogLine(line string) string {
	if !strings.HasPrefix(line, "{") {
		return line
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return line
	}
	msg, ok := m["@message"].(string)
	if !ok {
		return line
	}
	lv, _ := m["@level"].(string)
	var keys []string
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var sb strings.Builder
	sb.WriteString(strings.ToUpper(lv))
	sb.WriteString(" ")
	sb.WriteString(msg)
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s=%v", k, m[k])
	}
	return sb.String()
}

// slogHCLog is an hclog.Logger that forwards to a slog.Logger. go-plugin
// logs its own events and re-emits the plugin's log lines through it.
type slogHCLog struct {
	l     *slog.Logger
	name  string
	args  []any
	onMsg func(msg string, args []any) bool // observes every entry; true drops it
}

var _ hclog.Logger = (*slogHCLog)(nil)

func toSlogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *slogHCLog) Log(level hclog.Level, msg string, args ...any) {
	if h.onMsg != nil && h.onMsg(msg, args) {
		return
	}
	// go-plugin reports every normal plugin exit at info: that is routine.
	if msg == "plugin process exited" && level == hclog.Info {
		level = hclog.Debug
	}
	lv := toSlogLevel(level)
	ctx := context.Background()
	if !h.l.Enabled(ctx, lv) {
		return
	}
	all := append(append([]any{}, h.args...), args...)
	if h.name != "" {
		all = append([]any{"logger", h.name}, all...)
	}
	h.l.Log(ctx, lv, msg, all...)
}

func (h *slogHCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHCLog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHCLog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *slogHCLog) IsTrace() bool                 { return h.l.Enabled(context.Background(), slog.LevelDebug-4) }
func (h *slogHCLog) IsDebug() bool                 { return h.l.Enabled(context.Background(), slog.LevelDebug) }
func (h *slogHCLog) IsInfo() bool                  { return h.l.Enabled(context.Background(), slog.LevelInfo) }
func (h *slogHCLog) IsWarn() bool                  { return h.l.Enabled(context.Background(), slog.LevelWarn) }
func (h *slogHCLog) IsError() bool                 { return h.l.Enabled(context.Background(), slog.LevelError) }
func (h *slogHCLog) ImpliedArgs() []any            { return h.args }
func (h *slogHCLog) Name() string                  { return h.name }

func (h *slogHCLog) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any{}, h.args...), args...)
	return &c
}

func (h *slogHCLog) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *slogHCLog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel is a no-op: the slog handler decides.
func (h *slogHCLog) SetLevel(hclog.Level) {}

// GetLevel returns Trace so that go-plugin forwards every plugin line; the
// slog handler filters.
func (h *slogHCLog) GetLevel() hclog.Level { return hclog.Trace }

func (h *slogHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *slogHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		h.Info(strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
