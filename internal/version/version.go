// Package version reports the ccq version and the commit it was built from.
package version

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/ccq-project/ccq/internal/gitinfo"
)

// Version is the ccq release. It is part of every stage key, so bump it when a
// change alters what any stage computes.
const Version = "0.1.0-dev"

// Module is ccq's module path, used when the build information lacks it.
const Module = "github.com/ccq-project/ccq"

// Commit may be set at build time with
// -ldflags "-X github.com/ccq-project/ccq/internal/version.Commit=$(git rev-parse HEAD)".
var Commit = ""

// Where a commit came from (Info.CommitFrom).
const (
	// FromBuild: the linker flag or the VCS stamp Go embeds in binaries built
	// inside a git work tree.
	FromBuild = "build"
	// FromGit: asked at run time from git in the ccq source tree, for
	// binaries built without a VCS stamp (`go run`).
	FromGit = "git"
)

// Info describes the running binary.
type Info struct {
	Version string `json:"version"`
	// Commit is the git commit of the source, "unknown" when neither the
	// build nor git at run time could tell.
	Commit string `json:"commit"`
	// Modified is true when the source tree had changes not committed.
	Modified bool `json:"modified"`
	// CommitFrom is FromBuild, FromGit or empty (unknown).
	CommitFrom string `json:"commit_from,omitempty"`
	GoVersion  string `json:"go_version"`
}

// Get returns the version information of the running binary. The commit comes
// from the linker flag if set, otherwise from the VCS stamp Go embeds in
// binaries built inside a git work tree, otherwise it is "unknown" (Resolve
// also asks git).
func Get() Info {
	info := Info{Version: Version, Commit: Commit}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.GoVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	} else {
		info.CommitFrom = FromBuild
	}
	return info
}

// Resolve returns Get(), and when the binary carries no commit (`go run`
// builds without a VCS stamp) asks git at run time: first in the folder the
// binary was compiled from, when that still exists, then in each of dirs (for
// example the experiment file's folder). A work tree counts only if its
// go.mod declares the module this binary was built from, so the commit of an
// unrelated repository is never taken for ccq's.
func Resolve(ctx context.Context, dirs ...string) Info {
	info := Get()
	if info.CommitFrom != "" {
		return info
	}
	module := mainModule()
	var candidates []string
	if src := sourceDir(); src != "" {
		candidates = append(candidates, src)
	}
	candidates = append(candidates, dirs...)
	for _, dir := range candidates {
		st, err := gitinfo.Describe(ctx, dir)
		if err != nil || modulePath(filepath.Join(st.Root, "go.mod")) != module {
			continue
		}
		info.Commit, info.Modified, info.CommitFrom = st.Commit, st.Modified, FromGit
		return info
	}
	return info
}

// mainModule is the module path of the running binary's main package.
func mainModule() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path != "" {
		return bi.Main.Path
	}
	return Module
}

// sourceDir is the folder this package was compiled from, if any (a
// variable so that tests can leave it out).
var sourceDir = compiledDir

// compiledDir is the folder this package was compiled from, if the binary
// records an absolute path (no -trimpath) that still exists.
func compiledDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	dir := filepath.Dir(file)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return ""
	}
	return dir
}

// modulePath returns the module path a go.mod file declares, "" if the file
// cannot be read or declares none.
func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
