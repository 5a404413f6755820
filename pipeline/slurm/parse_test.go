package slurm

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/progress"
)

func TestParseSubmit(t *testing.T) {
	good := map[string]string{"123\n": "123", "77;cluster\n": "77", "sbatch: warning: x\n42\n": "42"}
	for in, want := range good {
		got, err := parseSubmit(in)
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "\n", "Submitted batch job 12", "12_3", "abc;x", "-1"} {
		if got, err := parseSubmit(in); err == nil {
			t.Errorf("%q: accepted as %q", in, got)
		}
	}
}

func TestParseSqueue(t *testing.T) {
	out := `1|COMPLETED|None|2026-11-27T05:21:58|2026-11-27T05:21:59
2_0|PENDING|Dependency|N/A|N/A
7_[3-5,9]|PENDING|Priority|N/A|N/A
3|CANCELLED by 0|DependencyNeverSatisfied|2026-11-27T05:23:55|2026-11-27T05:23:55
`
	sts, err := parseSqueue(out)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range sts {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []string{"1", "2_0", "7_3", "7_4", "7_5", "7_9", "3"}) {
		t.Errorf("ids %q", ids)
	}
	want := time.Date(2026, 11, 27, 5, 21, 58, 0, time.Local)
	if !sts[0].Start.Equal(want) || sts[0].End.Sub(sts[0].Start) != time.Second || !sts[1].Start.IsZero() {
		t.Errorf("times %v %v %v", sts[0].Start, sts[0].End, sts[1].Start)
	}
	if sts[6].State != "CANCELLED" || sts[6].Reason != "DependencyNeverSatisfied" || sts[2].Reason != "Priority" {
		t.Errorf("states %+v", sts)
	}
	for in, want := range map[string]string{
		"1|RUNNING|None|x\n":             "line 1",
		"ok|RUNNING|None|x|y\n":          `job id "ok"`,
		"1|RUNNING|None|x|y\n2|r-u-n|||": `line 2`,
		"5_[9-3]|PENDING|None|x|y":       "bad array range",
		"5_[0-999999]|PENDING|None|x|y":  "too large",
	} {
		if _, err := parseSqueue(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
}

func TestParseScontrol(t *testing.T) {
	out := `JobId=5 ArrayJobId=2 ArrayTaskId=1 JobName=arr UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=1:0 StartTime=2026-11-27T05:23:54 EndTime=2026-11-27T05:23:55 AllocNode:Sid=localhost:18368 CPUs/Task=1
JobId=9 JobName=x y JobState=PENDING Reason=(ReqNodeNotAvail, UnavailableNodes:vm) ExitCode=0:0 StartTime=Unknown
JobId=11 ArrayJobId=11 ArrayTaskId=4-6 JobState=PENDING Reason=Priority
`
	sts, err := parseScontrol(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 5 || sts[0].ID != "2_1" || sts[0].State != "FAILED" || sts[0].ExitCode != "1:0" || sts[0].End.Sub(sts[0].Start) != time.Second {
		t.Fatalf("%+v", sts)
	}
	if sts[1].ID != "9" || sts[1].Reason != "(ReqNodeNotAvail, UnavailableNodes:vm)" || !sts[1].Start.IsZero() {
		t.Errorf("%+v", sts[1])
	}
	if sts[2].ID != "11_4" || sts[4].ID != "11_6" {
		t.Errorf("%+v", sts[2:])
	}
	if _, err := parseScontrol("JobName=x JobState=RUNNING\n"); err == nil || !strings.Contains(err.Error(), "no JobId") {
		t.Errorf("err %v", err)
	}
}

func TestParseSacct(t *testing.T) {
	out := "12|COMPLETED|0:0|2026-11-27T05:21:58|2026-11-27T05:21:59\n13_2|CANCELLED by 0|0:15|Unknown|2026-11-27T05:22:00\n13.batch|CANCELLED|0:15|x|y\n"
	sts, err := parseSacct(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || sts[1].ID != "13_2" || sts[1].State != "CANCELLED" || sts[1].ExitCode != "0:15" || !sts[1].Start.IsZero() {
		t.Errorf("%+v", sts)
	}
	if _, err := parseSacct("12|COMPLETED\n"); err == nil || !strings.Contains(err.Error(), "expected 5 fields") {
		t.Errorf("err %v", err)
	}
}

func TestClassify(t *testing.T) {
	for s, want := range map[string]stateClass{
		"PENDING": classActive, "RUNNING": classActive, "COMPLETING": classActive, "REQUEUED": classActive, "NEWSTATE": classActive,
		"COMPLETED": classCompleted, "CANCELLED": classCancelled, "FAILED": classFailed, "TIMEOUT": classFailed,
		"NODE_FAIL": classFailed, "OUT_OF_MEMORY": classFailed, "PREEMPTED": classFailed, "BOOT_FAIL": classFailed,
	} {
		if got := classify(s); got != want {
			t.Errorf("%s: %v, want %v", s, got, want)
		}
	}
}

func TestCheckTimeAndOptions(t *testing.T) {
	for _, s := range []string{"30", "30:00", "1:00:00", "2-0", "2-12:30", "1-00:00:00", "UNLIMITED", "infinite"} {
		if err := CheckTime(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "1h", "-1", "1:2:3:4", "1-", "one"} {
		if err := CheckTime(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	bad := Options{Partition: "gpu long", Account: "-x", Time: "1h", CPUsPerStage: -1, Args: []string{"mem=8G", "--array=0-3", "--dependency=afterany:1"},
		Env: []string{"NOEQUALS"}, Binary: "relative/ccq", MaxArray: -2}
	err := bad.Check()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{`partition "gpu long"`, `account "-x"`, `time limit "1h"`, "cpus per stage -1", `"mem=8G"`, "ccq sets --array itself",
		"ccq sets --dependency itself", `"NOEQUALS"`, "absolute path", "max array -2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	good := Options{Partition: "debug", Account: "lab-1", Time: "2-00:00:00", CPUsPerStage: 4, Args: []string{"--mem=8G", "--qos=long"}}
	if err := good.Check(); err != nil {
		t.Error(err)
	}
	if _, err := New(bad); err == nil || !strings.HasPrefix(err.Error(), "slurm executor: ") {
		t.Errorf("New: %v", err)
	}
}

func TestShQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"plain", "with space", "it's", `"$HOME" $(false) ; \ '' *`} {
		out, err := exec.Command(sh, "-c", "printf %s "+shQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("%q came back as %q (%v)", s, out, err)
		}
	}
}

func TestCopyBinary(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "ccq")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p1, err := copyBinary(src, filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p1)
	if err != nil || fi.Mode()&0o111 == 0 || !strings.HasPrefix(filepath.Base(p1), "ccq-") {
		t.Fatalf("%s: %v %v", p1, err, fi)
	}
	// The same binary is not copied again; another one gets its own name.
	p2, err := copyBinary(src, filepath.Join(dir, "bin"))
	if err != nil || p2 != p1 {
		t.Errorf("second copy %s %v", p2, err)
	}
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho changed\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p3, err := copyBinary(src, filepath.Join(dir, "bin"))
	if err != nil || p3 == p1 {
		t.Errorf("changed binary %s %v", p3, err)
	}
	if b, _ := os.ReadFile(p1); string(b) != "#!/bin/sh\necho hi\n" {
		t.Errorf("first copy changed: %q", b)
	}
	if _, err := copyBinary(filepath.Join(dir, "missing"), dir); err == nil {
		t.Error("missing binary accepted")
	}
}

func TestLastError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	log := "time=x level=ERROR msg=boom\nccq: stage a: first (log: /x)\nmore\nccq: stage a: the loss exploded (log: /r/logs/a.log)\nslurmstepd: done\n"
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := lastError(p); got != "stage a: the loss exploded" {
		t.Errorf("got %q", got)
	}
	if got := lastError(filepath.Join(t.TempDir(), "none")); got != "" {
		t.Errorf("missing log: %q", got)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "C=3"}, []string{"B=9", "D=4"})
	if !slices.Equal(got, []string{"A=1", "C=3", "B=9", "D=4"}) {
		t.Errorf("%q", got)
	}
	if envValue(got, "B") != "9" || envValue(got, "Z") != "" {
		t.Error("envValue")
	}
}

// FuzzParseOutputs feeds arbitrary text to every parser of Slurm command
// output: none may panic, and what they accept must be well formed.
func FuzzParseOutputs(f *testing.F) {
	f.Add("1|COMPLETED|None|2026-11-27T05:21:58|2026-11-27T05:21:59\n7_[3-5,9%2]|PENDING|Priority|N/A|N/A\n")
	f.Add("JobId=5 ArrayJobId=2 ArrayTaskId=1-3 JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0\n")
	f.Add("12|CANCELLED by 0|0:15|Unknown|2026-11-27T05:22:00\n")
	f.Add("123;cluster\n")
	f.Add("1-00:00:00")
	f.Fuzz(func(t *testing.T, s string) {
		for name, parse := range map[string]func(string) ([]JobState, error){"squeue": parseSqueue, "scontrol": parseScontrol, "sacct": parseSacct} {
			sts, err := parse(s)
			if err != nil {
				continue
			}
			if len(sts) > maxExpand*len(s) {
				t.Fatalf("%s: %d states from %d bytes", name, len(sts), len(s))
			}
			for _, st := range sts {
				if !jobIDRe.MatchString(st.ID) {
					t.Fatalf("%s: bad id %q from %q", name, st.ID, s)
				}
				if name != "scontrol" && !stateRe.MatchString(st.State) {
					t.Fatalf("%s: bad state %q from %q", name, st.State, s)
				}
			}
		}
		if id, err := parseSubmit(s); err == nil && (id == "" || strings.Trim(id, "0123456789") != "") {
			t.Fatalf("submit id %q from %q", id, s)
		}
		_ = CheckTime(s)
		_ = checkName("partition", s)
	})
}

// FuzzJobsFile feeds arbitrary bytes to the jobs file reader.
func FuzzJobsFile(f *testing.F) {
	f.Add([]byte(`{"format":1,"jobs":[{"stage":"a","kind":"touch","key":"k","job_id":"12_3","status":"pending"},{"stage":"b","kind":"touch","key":"k2","after":["a"],"status":"done"}]}`))
	f.Add([]byte(`{"format":1,"jobs":[null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		jf, err := parseJobs("jobs.json", b)
		if err != nil {
			return
		}
		for _, r := range jf.Jobs {
			if r.JobID != "" && !jobIDRe.MatchString(r.JobID) {
				t.Fatalf("job id %q accepted", r.JobID)
			}
		}
	})
}

// TestLastProgress reads progress lines as `ccq stage exec` writes them
// (pipeline/progress's plain reporter), so a change of that format shows here.
func TestLastProgress(t *testing.T) {
	var b strings.Builder
	rep := progress.NewPlain(&b, time.Nanosecond)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	rep.Observe(pipeline.Event{Time: t0, Type: pipeline.EventStarted, Stage: "evolve/w2-s1"})
	rep.Observe(pipeline.Event{Time: t0.Add(time.Second), Type: pipeline.EventProgress, Stage: "evolve/w2-s1", Fraction: 0.25, Message: "generation 25/100"})
	rep.Observe(pipeline.Event{Time: t0.Add(2 * time.Second), Type: pipeline.EventProgress, Stage: "other", Fraction: 0.9})
	rep.Observe(pipeline.Event{Time: t0.Add(3 * time.Second), Type: pipeline.EventProgress, Stage: "evolve/w2-s1", Fraction: 0.5})
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("time=x level=INFO msg=hello\n"+b.String()+"some other line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, msg, ok := lastProgress(p, "evolve/w2-s1")
	if !ok || f != 0.5 || msg != "" {
		t.Errorf("got %v %q %v from\n%s", f, msg, ok, b.String())
	}
	rep.Observe(pipeline.Event{Time: t0.Add(4 * time.Second), Type: pipeline.EventProgress, Stage: "evolve/w2-s1", Fraction: 0.75, Message: "generation 75/100"})
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, msg, ok = lastProgress(p, "evolve/w2-s1"); !ok || f != 0.75 || msg != "generation 75/100" {
		t.Errorf("got %v %q %v", f, msg, ok)
	}
	if _, _, ok := lastProgress(p, "nobody"); ok {
		t.Error("progress of an unknown stage")
	}
}
