package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCancelWithoutJobs covers `ccq cancel` on folders with nothing to
// cancel (the scancel path is tested with a fake Slurm in pipeline/slurm
// and on a real cluster by its end-to-end test).
func TestCancelWithoutJobs(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCCQ(t, "cancel", dir); err == nil || !strings.Contains(err.Error(), "not run with the Slurm executor") {
		t.Errorf("folder without jobs.json: %v", err)
	}
	jobs := `{"format":1,"submitted":"2026-01-02T03:04:05Z","store":"/nowhere","jobs":[
 {"stage":"a","kind":"touch","key":"k1","job_id":"12","status":"done"},
 {"stage":"b","kind":"touch","key":"k2","job_id":"13_0","after":["a"],"status":"failed"}]}`
	if err := os.WriteFile(filepath.Join(dir, "jobs.json"), []byte(jobs), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCCQ(t, "cancel", dir)
	if err != nil || !strings.Contains(out, "no job to cancel (2 stages of the last submission already finished)") {
		t.Errorf("all finished: %v\n%s", err, out)
	}
	out, err = runCCQ(t, "cancel", "--json", dir)
	var rep struct {
		Cancelled []string `json:"cancelled"`
		Finished  int      `json:"finished"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Cancelled) != 0 || rep.Finished != 2 {
		t.Errorf("--json: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "jobs.json"), []byte(`{"format":1,"jobs":[{"stage":"a"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCCQ(t, "cancel", dir); err == nil || !strings.Contains(err.Error(), "jobs.json") {
		t.Errorf("bad jobs.json: %v", err)
	}
}
