package version

import "testing"

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
	if got := Get().Commit; got != "abc123" {
		t.Fatalf("Commit with linker flag = %q, want abc123", got)
	}
}
