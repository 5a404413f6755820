package repocheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// outside matches machine paths and references to folders beside the
// repository. It is built from pieces so that this file does not match it.
var outside = regexp.MustCompile(strings.Join([]string{`/` + `work/`, `/` + `root/`, `/` + `farm/`, `\.\./` + `shared`}, "|"))

// root is the repository's top folder (the one holding go.mod).
func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// files lists the repository's files: the tracked ones when git knows the
// tree, else every file under root but .git.
func files(t *testing.T, dir string) []string {
	t.Helper()
	if out, err := exec.Command("git", "-C", dir, "ls-files", "-z").Output(); err == nil && len(out) > 0 {
		var fs []string
		for _, f := range bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0}) {
			fs = append(fs, string(f))
		}
		return fs
	}
	var fs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "results") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			fs = append(fs, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestNoMachinePaths(t *testing.T) {
	dir := root(t)
	fs := files(t, dir)
	if len(fs) < 50 {
		t.Fatalf("found only %d files under %s", len(fs), dir)
	}
	for _, f := range fs {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet committed
			}
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			continue // binary
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s:%d names %q, a path outside the repository: %s", f, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}

func TestPatternCatchesOffenders(t *testing.T) {
	for _, s := range []string{"see ../" + "shared/METHOD.md", "/" + "work/shared/peers/x.py", "/" + "root/.cache"} {
		if !outside.MatchString(s) {
			t.Errorf("%q not caught", s)
		}
	}
	if outside.MatchString("scripts/pytorch/run.sh, network/workers") {
		t.Error("false positive")
	}
}
