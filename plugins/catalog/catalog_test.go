package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/rpc"
)

func TestMain(m *testing.M) {
	ServeIfAsked()
	os.Exit(m.Run())
}

// pluginDir makes a plugin directory with a working external plugin (a
// script re-executing this test binary as mutation-ea), a broken one, and
// files that are not plugins.
func pluginDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	exe, _ := os.Executable()
	write := func(name, body string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(FilePrefix+"ext", fmt.Sprintf("#!/bin/sh\n%s=mutation-ea exec %q -test.run='^$'\n", EnvServeBuiltin, exe), 0o755)
	write(FilePrefix+"broken", "#!/bin/sh\necho not a plugin\n", 0o755)
	write(FilePrefix+"noexec", "#!/bin/sh\n", 0o644)
	write("README", "not a plugin\n", 0o755)
	return dir
}

func TestResolve(t *testing.T) {
	dir := pluginDir(t)
	r := &Resolver{Dirs: []string{t.TempDir(), dir}, Builtin: TestBinarySpec}
	s, err := r.Resolve(Ref{Plugin: "ccea"})
	if err != nil || s.Source != "builtin" || s.Name != "ccea" {
		t.Fatalf("builtin: %+v, %v", s, err)
	}
	if _, err := r.Resolve(Ref{Plugin: "ccea", SHA256: "00"}); err == nil || !strings.Contains(err.Error(), "built in") {
		t.Errorf("sha on builtin: %v", err)
	}
	s, err = r.Resolve(Ref{Plugin: "ext", SHA256: "ab"})
	if err != nil || s.Path != filepath.Join(dir, FilePrefix+"ext") || s.SHA256 != "ab" || s.Source != PathEnv {
		t.Fatalf("on path: %+v, %v", s, err)
	}
	s, err = r.Resolve(Ref{Plugin: filepath.Join(dir, FilePrefix+"ext")})
	if err != nil || s.Name != "ext" || s.Source != "path" {
		t.Fatalf("by path: %+v, %v", s, err)
	}
	for _, bad := range []string{"", "nothere", "noexec", dir + "/" + FilePrefix + "noexec", dir} {
		if _, err := r.Resolve(Ref{Plugin: bad}); err == nil {
			t.Errorf("%q resolved", bad)
		}
	}
	if _, err := r.Resolve(Ref{Plugin: "nothere"}); !strings.Contains(err.Error(), PathEnv) {
		t.Errorf("message does not mention %s: %v", PathEnv, err)
	}
}

func TestListAndOpen(t *testing.T) {
	dir := pluginDir(t)
	r := &Resolver{Dirs: []string{dir}, Builtin: TestBinarySpec}
	ctx := context.Background()
	entries := r.List(ctx, rpc.Options{})
	byName := map[string]Entry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	for _, n := range builtin.Names() {
		if e, ok := byName[n]; !ok || e.Source != "builtin" || len(e.Params) == 0 || e.Version == "" {
			t.Errorf("builtin %s: %+v", n, e)
		}
	}
	ext := byName["ext"]
	if ext.Error != "" || ext.Source != PathEnv || ext.Version == "" || len(ext.SHA256) != 64 || !strings.Contains(ext.Description, `"mutation-ea"`) {
		t.Errorf("ext: %+v", ext)
	}
	if b := byName["broken"]; !strings.Contains(b.Error, "not a plugin") {
		t.Errorf("broken: %+v", b)
	}
	if _, ok := byName["noexec"]; ok {
		t.Error("non-executable file listed")
	}
	if len(entries) != len(builtin.Names())+2 {
		t.Errorf("%d entries", len(entries))
	}
	for _, ref := range []Ref{{Plugin: "eda"}, {Plugin: "ext", SHA256: ext.SHA256}} {
		p, err := r.Open(ctx, ref, rpc.Options{})
		if err != nil {
			t.Fatalf("open %v: %v", ref, err)
		}
		info, err := p.Info(ctx)
		p.Close()
		if err != nil || info.Version == "" {
			t.Fatalf("info of %v: %+v %v", ref, info, err)
		}
	}
	if _, err := r.Open(ctx, Ref{Plugin: "ext", SHA256: strings.Repeat("0", 64)}, rpc.Options{}); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("wrong pin: %v", err)
	}
}
