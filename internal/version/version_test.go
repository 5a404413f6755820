package version

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ccq-project/ccq/internal/gitinfo"
)

func TestGetReportsVersionAndCommit(t *testing.T) {
	info := Get()
	if info.Version != Version {
		t.Fatalf("Version = %q, want %q", info.Version, Version)
	}
	if info.Commit == "" {
		t.Fatal("Commit is empty; want a revision or \"unknown\"")
	}
	Commit = "abc123"
	defer func() { Commit = "" }()
	if got := Get(); got.Commit != "abc123" || got.CommitFrom != FromBuild {
		t.Fatalf("with linker flag: %+v, want commit abc123 from %q", got, FromBuild)
	}
	if got := Resolve(context.Background()); got.Commit != "abc123" {
		t.Fatalf("Resolve with linker flag: commit %q, want abc123", got.Commit)
	}
}

// Test binaries carry no VCS stamp, like `go run` builds: Resolve asks git in
// the source tree.
func TestResolveAsksGitInTheSourceTree(t *testing.T) {
	if Get().CommitFrom != "" {
		t.Skip("this test binary carries a commit")
	}
	src := sourceDir()
	if src == "" {
		t.Skip("built with -trimpath")
	}
	want, err := gitinfo.Describe(context.Background(), src)
	if err != nil {
		t.Skipf("the source is not in a git work tree: %v", err)
	}
	got := Resolve(context.Background())
	if got.Commit != want.Commit || got.Modified != want.Modified || got.CommitFrom != FromGit {
		t.Fatalf("Resolve = %+v, want commit %s modified %v from %q", got, want.Commit, want.Modified, FromGit)
	}
}

// Without the source tree, Resolve takes the commit of a given folder only
// when its work tree is ccq's module.
func TestResolveOnlyTrustsTheSameModule(t *testing.T) {
	if Get().CommitFrom != "" {
		t.Skip("this test binary carries a commit")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	saved := sourceDir
	sourceDir = func() string { return "" }
	defer func() { sourceDir = saved }()

	other := gitRepo(t, "module example.org/other\n")
	if got := Resolve(context.Background(), other); got.Commit != "unknown" || got.CommitFrom != "" {
		t.Errorf("another module's work tree: %+v, want commit unknown", got)
	}
	same := gitRepo(t, "module "+mainModule()+"\n\ngo 1.26\n")
	want, err := gitinfo.Describe(context.Background(), same)
	if err != nil {
		t.Fatal(err)
	}
	got := Resolve(context.Background(), filepath.Join(same, "experiments"), other)
	if got.Commit != want.Commit || got.CommitFrom != FromGit || got.Modified {
		t.Errorf("ccq's own work tree: %+v, want commit %s from %q, not modified", got, want.Commit, FromGit)
	}
}

// gitRepo makes a git repository with a committed go.mod and an experiments
// folder and returns its path.
func gitRepo(t *testing.T, gomod string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "experiments"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "experiments", "x.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "first"}} {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}
