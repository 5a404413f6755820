package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/ccq-project/ccq/internal/gitinfo"
	"github.com/ccq-project/ccq/internal/version"
)

// programName is what the command line of a `go run` binary is recorded as.
const programName = "ccq"

// typedCommand returns the command line as the user typed it: args (os.Args)
// unchanged, except that the temporary binary `go run` builds
// (.../go-build.../exe/ccq) is named "ccq", so that provenance records
// "ccq run experiments/quickstart.toml" and not a path that no longer exists.
func typedCommand(args []string) []string {
	if len(args) == 0 {
		return nil
	}
	out := append([]string(nil), args...)
	if isGoRunBinary(args[0]) {
		out[0] = programName
	}
	return out
}

// isGoRunBinary reports whether path is a binary `go run` built: it lives in
// an exe folder under a go-build temporary folder.
func isGoRunBinary(path string) bool {
	path = filepath.ToSlash(path)
	if !strings.Contains(path, "/") {
		return false
	}
	parts := strings.Split(path, "/")
	if len(parts) < 3 || parts[len(parts)-2] != "exe" {
		return false
	}
	for _, p := range parts[:len(parts)-2] {
		if strings.HasPrefix(p, "go-build") {
			return true
		}
	}
	return false
}

// sourceState is where an experiment and the ccq running it come from: the
// ccq version and commit (asked from git at run time when the binary has no
// VCS stamp) and the git state of the experiment file's work tree.
type sourceState struct {
	CCQ        version.Info
	Experiment gitinfo.State
}

// describeSources finds the sourceState of experimentFile. A folder outside
// any git work tree leaves the experiment's commit empty.
func describeSources(ctx context.Context, experimentFile string) sourceState {
	dir := filepath.Dir(experimentFile)
	st, err := gitinfo.Describe(ctx, dir)
	if err != nil {
		slog.Debug("experiment file not in a git work tree", "file", experimentFile, "err", err)
	}
	return sourceState{CCQ: version.Resolve(ctx, dir), Experiment: st}
}
