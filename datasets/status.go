package datasets

import (
	"fmt"
	"path/filepath"
)

// CacheStatus says whether a dataset is in the cache.
type CacheStatus struct {
	Name string `json:"name"`
	// Dir is the dataset's folder in the cache.
	Dir string `json:"dir"`
	// Cached is true when every file of one of the dataset's layouts is
	// present. Their digests are not checked here (ccq checks them when it
	// reads the files).
	Cached bool `json:"cached"`
	// Missing lists the files not found, when some are present.
	Missing []string `json:"missing,omitempty"`
	// Problem says why the cache cannot be read, when it cannot (a
	// directory where a file belongs, permissions).
	Problem string `json:"problem,omitempty"`
	// Advice says how to get the files when they are not cached.
	Advice string `json:"advice,omitempty"`
}

// Status reports whether dataset name is in the cache Options select,
// without reading, copying or downloading anything.
func Status(name string, opt Options) (CacheStatus, error) {
	sp, err := lookup(name)
	if err != nil {
		return CacheStatus{}, err
	}
	root, err := CacheRoot(opt)
	if err != nil {
		return CacheStatus{}, err
	}
	f := &fetcher{sp: sp, opt: opt, dst: filepath.Join(root, sp.name)}
	st := CacheStatus{Name: sp.name, Dir: f.dst}
	_, present, missing, complete, problem := f.scan(f.dst)
	st.Cached = complete
	if problem != nil {
		st.Problem = problem.Error()
		st.Advice = fmt.Sprintf("the cache %s cannot be read: fix or remove it, or pass --data-dir (or set CCQ_DATA) to use another folder", f.dst)
		return st, nil
	}
	if !complete {
		if len(present) > 0 {
			st.Missing = missing
		}
		st.Advice = fmt.Sprintf("run `ccq data fetch %s` (it tries the local copies and then downloads); if that fails: %s",
			sp.name, sp.advice(f.mirrors(), f.dst))
	}
	return st, nil
}
