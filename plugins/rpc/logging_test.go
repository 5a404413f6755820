package rpc

import (
	"fmt"
	"strings"
	"testing"
)

func TestLineRing(t *testing.T) {
	r := newLineRing(3)
	w := r.writer("")
	o := r.writer("stdout: ")
	fmt.Fprint(w, "panic: boom")
	fmt.Fprint(w, "\n")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(w, "frame %d\n", i)
	}
	fmt.Fprint(o, "half a line")
	fmt.Fprint(w, `{"@level":"warn","@message":"careful","@timestamp":"2026-01-01T00:00:00.000000Z","k":1}`+"\n")
	got := strings.Join(r.Lines(), "|")
	want := "panic: boom|...|frame 4|WARN careful k=1|stdout: half a line"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	long := strings.Repeat("x", 3*maxLineLen)
	fmt.Fprintln(w, long)
	if l := r.Lines(); len(l[len(l)-2]) != maxLineLen {
		t.Fatalf("long line kept at %d bytes", len(l[len(l)-2]))
	}
}

func TestRenderLogLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":                        "plain text",
		"{not json":                         "{not json",
		`{"a":1}`:                           `{"a":1}`,
		`{"@message":"m","@level":"error"}`: "ERROR m",
	} {
		if got := renderLogLine(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
