package pipeline_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
)

func FuzzParseParams(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[1.5,"x",{"c":null}],"d":true}`))
	f.Add([]byte(`{"big":12345678901234567890,"neg":-0.0,"exp":1e300}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := pipeline.ParseParams(b)
		if err != nil {
			return
		}
		// Canonical form is a fixed point.
		q, err := pipeline.ParseParams(p.JSON())
		if err != nil {
			t.Fatalf("canonical form does not parse: %s: %v", p.JSON(), err)
		}
		if !p.Equal(q) {
			t.Fatalf("not a fixed point: %s -> %s", p.JSON(), q.JSON())
		}
	})
}

func FuzzReadTaskFile(f *testing.F) {
	f.Add([]byte(`{"format":1,"name":"a/b","kind":"k","key":"x","store":"/s","params":{"a":1}}`))
	f.Add([]byte(`{"format":1,"name":"../x","kind":"k","key":"x","store":"/s"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "task.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		task, err := pipeline.ReadTaskFile(p)
		if err != nil {
			return
		}
		if pipeline.CheckName(task.Name) != nil || task.Kind == "" || task.Key == "" || task.Store == "" {
			t.Fatalf("accepted %+v", task)
		}
	})
}
