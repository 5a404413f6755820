// Package gitinfo asks git, at run time, which commit a folder's work tree
// is at and whether it has changes that are not committed. ccq records this
// in a run's provenance for the experiment file and, when the binary carries
// no VCS stamp (`go run`), for the ccq source tree.
package gitinfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Timeout bounds each git command; a slow or hanging git leaves the state
// unknown instead of holding up a run.
const Timeout = 5 * time.Second

// ErrNoWorkTree is returned when the folder is not inside a git work tree or
// git is not installed.
var ErrNoWorkTree = errors.New("not in a git work tree (or git not installed)")

// State is a work tree's commit and dirty flag.
type State struct {
	// Root is the work tree's top-level folder.
	Root string
	// Commit is the full hash of HEAD.
	Commit string
	// Modified is true when `git status --porcelain` lists anything:
	// changed, staged, deleted or untracked files (ignored files do not
	// count), as the VCS stamp of `go build` does.
	Modified bool
}

// Describe returns the state of the git work tree that holds dir. It returns
// an error wrapping ErrNoWorkTree when there is none.
func Describe(ctx context.Context, dir string) (State, error) {
	out, err := git(ctx, dir, "rev-parse", "--show-toplevel", "HEAD")
	if err != nil {
		return State{}, fmt.Errorf("git in %s: %w", dir, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] == "" || len(lines[1]) < 40 {
		return State{}, fmt.Errorf("git in %s: unexpected rev-parse output %q", dir, out)
	}
	st := State{Root: lines[0], Commit: lines[1]}
	status, err := git(ctx, st.Root, "status", "--porcelain")
	if err != nil {
		return State{}, fmt.Errorf("git in %s: %w", st.Root, err)
	}
	st.Modified = strings.TrimSpace(status) != ""
	return st, nil
}

// git runs git with args in dir and returns its standard output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	// --no-optional-locks: git status would otherwise refresh the index
	// under index.lock, which a git killed at the timeout leaves behind.
	cmd := exec.CommandContext(ctx, "git", append([]string{"--no-optional-locks", "-C", dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.Is(err, exec.ErrNotFound) || errors.As(err, &ee) {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = err.Error()
			}
			return "", fmt.Errorf("%w: %s", ErrNoWorkTree, msg)
		}
		return "", err
	}
	return stdout.String(), nil
}
