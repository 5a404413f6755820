package datasets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatusBeforeAndAfterFetch(t *testing.T) {
	ti := newTinyIDX(t, "tiny")
	opt := quiet(t)
	st, err := Status("tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cached || st.Dir != filepath.Join(opt.CacheDir, "tiny") || !strings.Contains(st.Advice, "ccq data fetch tiny") {
		t.Errorf("empty cache: %+v", st)
	}
	if _, err := os.Stat(st.Dir); !os.IsNotExist(err) {
		t.Errorf("Status created %s", st.Dir)
	}

	src := t.TempDir()
	ti.writeGz(t, filepath.Join(src, "tiny"))
	opt.Dir = src
	if _, err := Fetch(context.Background(), "tiny", opt); err != nil {
		t.Fatal(err)
	}
	st, err = Status("tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Cached || st.Advice != "" || len(st.Missing) != 0 {
		t.Errorf("after fetch: %+v", st)
	}

	// One file gone: not cached, and the missing file is named.
	if err := os.Remove(filepath.Join(st.Dir, "t10k-labels-idx1-ubyte.gz")); err != nil {
		t.Fatal(err)
	}
	st, err = Status("tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cached || len(st.Missing) != 1 || !strings.HasPrefix(st.Missing[0], "t10k-labels") {
		t.Errorf("one file missing: %+v", st)
	}

	if _, err := Status("nope", opt); err == nil {
		t.Error("unknown dataset: no error")
	}
}

func TestStatusUnreadableCache(t *testing.T) {
	newTinyIDX(t, "tiny")
	opt := quiet(t)
	// A directory where a file belongs.
	if err := os.MkdirAll(filepath.Join(opt.CacheDir, "tiny", "train-images-idx3-ubyte.gz"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := Status("tiny", opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cached || !strings.Contains(st.Problem, "not a regular file") || !strings.Contains(st.Advice, "cannot be read") {
		t.Errorf("unreadable cache: %+v", st)
	}
}
