package gitinfo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// newRepo makes a git repository with one commit in a temporary folder and
// returns its path and the commit's hash.
func newRepo(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "a.toml"), []byte("name = \"a\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "a.toml")
	run("commit", "-q", "-m", "first")
	head := run("rev-parse", "HEAD")
	return dir, head[:40]
}

func TestDescribeCleanAndModified(t *testing.T) {
	dir, head := newRepo(t)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := Describe(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	if st.Commit != head || st.Modified {
		t.Errorf("clean tree: %+v, want commit %s, not modified", st, head)
	}
	if real, _ := filepath.EvalSymlinks(dir); st.Root != real && st.Root != dir {
		t.Errorf("root %q, want %q", st.Root, dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.toml"), []byte("name = \"b\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = Describe(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Commit != head || !st.Modified {
		t.Errorf("changed file: %+v, want commit %s, modified", st, head)
	}
}

func TestDescribeUntrackedIsModified(t *testing.T) {
	dir, _ := newRepo(t)
	if err := os.WriteFile(filepath.Join(dir, "new.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Describe(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Modified {
		t.Error("an untracked file does not make the tree modified")
	}
}

func TestDescribeOutsideWorkTree(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	_, err := Describe(context.Background(), dir)
	if !errors.Is(err, ErrNoWorkTree) {
		t.Fatalf("err = %v, want ErrNoWorkTree", err)
	}
}

// TestDescribeLeavesIndexAlone checks that Describe does not rewrite the
// repository's index (git status refreshes stale stat data in it under
// index.lock, a lock that a git killed by Timeout would leave behind and
// that then blocks the user's next commit).
func TestDescribeLeavesIndexAlone(t *testing.T) {
	dir, _ := newRepo(t)
	// Same content, new modification time: the index's stat data is stale.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "a.toml"), later, later); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, ".git", "index")
	before, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Describe(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Modified {
		t.Errorf("only the modification time changed, Describe says modified: %+v", st)
	}
	after, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("Describe rewrote .git/index (git status took its optional lock)")
	}
}
