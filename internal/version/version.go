// Package version reports the ccq version and the commit it was built from.
package version

import (
	"runtime/debug"
)

// Version is the ccq release. It is part of every stage key, so bump it when a
// change alters what any stage computes.
const Version = "0.1.0-dev"

// Commit may be set at build time with
// -ldflags "-X github.com/ccq-project/ccq/internal/version.Commit=$(git rev-parse HEAD)".
var Commit = ""

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// Get returns the version information of the running binary. The commit comes
// from the linker flag if set, otherwise from the VCS stamp Go embeds in
// binaries built inside a git work tree, otherwise it is "unknown".
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
	}
	return info
}
