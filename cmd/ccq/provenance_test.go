package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTypedCommandNamesGoRunBinaryCCQ(t *testing.T) {
	cases := []struct {
		args, want []string
	}{
		{[]string{"/tmp/go-build2837465/b001/exe/ccq", "run", "experiments/quickstart.toml"},
			[]string{"ccq", "run", "experiments/quickstart.toml"}},
		{[]string{"/var/tmp/x/go-build123/b001/exe/ccq", "run", "a.toml", "--set", "pretrain.epochs=1"},
			[]string{"ccq", "run", "a.toml", "--set", "pretrain.epochs=1"}},
		// What the user typed stays as typed.
		{[]string{"./ccq", "run", "a.toml"}, []string{"./ccq", "run", "a.toml"}},
		{[]string{"ccq", "run", "a.toml"}, []string{"ccq", "run", "a.toml"}},
		{[]string{"/usr/local/bin/ccq", "plan", "a.toml"}, []string{"/usr/local/bin/ccq", "plan", "a.toml"}},
		{[]string{"/home/u/exe/ccq"}, []string{"/home/u/exe/ccq"}},
		{nil, nil},
	}
	for _, c := range cases {
		if got := typedCommand(c.args); !slices.Equal(got, c.want) {
			t.Errorf("typedCommand(%q) = %q, want %q", c.args, got, c.want)
		}
	}
	args := []string{"/tmp/go-build1/b001/exe/ccq", "run"}
	typedCommand(args)
	if args[0] != "/tmp/go-build1/b001/exe/ccq" {
		t.Error("typedCommand changed its argument")
	}
}

// An experiment file in a git work tree gets that tree's commit and dirty
// flag; one outside any gets none, and the run goes on.
func TestDescribeSourcesExperimentCommit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	outside := filepath.Join(dir, "outside.toml")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if src := describeSources(context.Background(), outside); src.Experiment.Commit != "" {
		t.Errorf("outside a work tree: commit %q", src.Experiment.Commit)
	}
	repo := filepath.Join(dir, "repo")
	file := filepath.Join(repo, "experiments", "x.toml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("name = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var head string
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "x"}, {"rev-parse", "HEAD"}} {
		out, err := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		head = strings.TrimSpace(string(out))
	}
	src := describeSources(context.Background(), file)
	if src.Experiment.Commit != head || src.Experiment.Modified {
		t.Errorf("clean tree: %+v, want commit %s", src.Experiment, head)
	}
	if src.CCQ.Version == "" || src.CCQ.Commit == "" {
		t.Errorf("ccq version %+v", src.CCQ)
	}
	if err := os.WriteFile(file, []byte("name = \"y\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if src := describeSources(context.Background(), file); !src.Experiment.Modified {
		t.Error("an edited experiment file does not mark the tree modified")
	}
}
