// Package fakeslurm is a fake Slurm for the tests of pipeline/slurm: a
// binary (the test binary itself, or cmd/fakeslurm built without the race
// detector), linked under the names sbatch, squeue, scontrol, sacct and
// scancel into a temporary folder (Options.BinDir), acts as those commands
// over a state file. Jobs run when squeue is called (one pass in
// submission order: a job whose inputs completed runs its batch script
// synchronously), so tests need no timing. Config (config.json) lets a
// test reject submissions, fill the queue, make a command hang, switch
// accounting on or off, and give jobs a fate (TIMEOUT, NODE_FAIL, ...).
package fakeslurm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// Config is config.json in the fake's folder: how the fake misbehaves.
type Config struct {
	// SbatchFail: sbatch prints this on stderr and exits 1.
	SbatchFail string `json:"sbatch_fail,omitempty"`
	// SbatchFailAfter > 0: sbatch fails with SbatchFail after this many submissions.
	SbatchFailAfter int `json:"sbatch_fail_after,omitempty"`
	// Hang lists commands that sleep for a minute (to hit timeouts); a
	// hanging sbatch first prints SbatchFail.
	Hang []string `json:"hang,omitempty"`
	// SqueueFail: squeue prints this and exits 1.
	SqueueFail string `json:"squeue_fail,omitempty"`
	// Sacct: "" (accounting disabled), "ok".
	Sacct string `json:"sacct,omitempty"`
	// PingDown makes `scontrol ping` report the controller down.
	PingDown bool `json:"ping_down,omitempty"`
	// Fate by job name or stage (array elements use their stage name):
	// TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, RUN (stays running), HOLD (stays
	// pending), HOLD<n> (pending for n passes), NOENTRY (completes without running), PURGE (runs, then the
	// controller forgets it).
	Fate map[string]string `json:"fate,omitempty"`
}

// Job is one job (or array element) in the fake's table.
type Job struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Stage   string   `json:"stage"`
	Script  string   `json:"script"`
	Args    []string `json:"args"`
	Deps    []string `json:"deps"`
	Kill    bool     `json:"kill"`
	Output  string   `json:"output"`
	Index   int      `json:"index"`
	State   string   `json:"state"`
	Reason  string   `json:"reason"`
	Exit    string   `json:"exit"`
	Start   string   `json:"start"`
	End     string   `json:"end"`
	Purged  bool     `json:"purged"`
	Held    int      `json:"held"`
	Started bool     `json:"started"`
}

// State is state.json in the fake's folder: the job table and every
// command called.
type State struct {
	Next  int      `json:"next"`
	Jobs  []*Job   `json:"jobs"`
	Calls []string `json:"calls"`
}

// Commands are the Slurm commands the fake stands in for: all those the
// executor runs.
var Commands = slurm.Commands

// Main runs the fake command named by argv[0]; it returns the exit code.
func Main() int {
	name := filepath.Base(os.Args[0])
	dir := os.Getenv("FAKE_SLURM_DIR")
	if dir == "" {
		fmt.Fprintln(os.Stderr, name+": FAKE_SLURM_DIR not set")
		return 3
	}
	var cfg Config
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			fmt.Fprintln(os.Stderr, name+": config:", err)
			return 3
		}
	}
	if slices.Contains(cfg.Hang, name) {
		if f, err := os.OpenFile(filepath.Join(dir, "hangs"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintln(f, name)
			f.Close()
		}
		if name == "sbatch" && cfg.SbatchFail != "" {
			fmt.Fprintln(os.Stderr, cfg.SbatchFail)
		}
		time.Sleep(time.Minute)
		return 1
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer lock.Close()
	if err := lockFile(lock); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	var st State
	sp := filepath.Join(dir, "state.json")
	if b, err := os.ReadFile(sp); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	if st.Next == 0 {
		st.Next = 100
	}
	args := os.Args[1:]
	st.Calls = append(st.Calls, name+" "+strings.Join(args, " "))
	code := 0
	switch name {
	case "sbatch":
		code = fakeSbatch(&st, &cfg, args)
	case "squeue":
		code = fakeSqueue(&st, &cfg, args)
	case "scontrol":
		code = fakeScontrol(&st, &cfg, args)
	case "sacct":
		code = fakeSacct(&st, &cfg, args)
	case "scancel":
		collapse := map[string]bool{}
		for _, id := range args {
			for _, j := range st.Jobs {
				if (j.ID == id || strings.HasPrefix(j.ID, id+"_")) && !fakeFinal(j.State) {
					j.State, j.Reason, j.End = "CANCELLED", "None", fakeNow()
					if base, _, ok := strings.Cut(j.ID, "_"); ok && j.Start == "" {
						collapse[base] = true
					}
				}
			}
		}
		// Like Slurm, array elements cancelled before they were split off
		// leave one record under the bare array job id.
		for base := range collapse {
			kept := st.Jobs[:0]
			for _, j := range st.Jobs {
				if strings.HasPrefix(j.ID, base+"_") && j.Start == "" && j.State == "CANCELLED" {
					continue
				}
				kept = append(kept, j)
			}
			st.Jobs = append(kept, &Job{ID: base, Name: "array", State: "CANCELLED", Reason: "Resources", Start: fakeNow(), End: fakeNow(), Index: -1})
		}
	}
	b, _ := json.Marshal(&st)
	if err := os.WriteFile(sp, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return code
}

func fakeNow() string { return time.Now().Format("2006-01-02T15:04:05") }

func fakeFinal(s string) bool { return s != "PENDING" && s != "RUNNING" }

func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func fakeSbatch(st *State, cfg *Config, args []string) int {
	submitted := 0
	for _, c := range st.Calls[:len(st.Calls)-1] {
		if strings.HasPrefix(c, "sbatch ") {
			submitted++
		}
	}
	if cfg.SbatchFail != "" && submitted >= cfg.SbatchFailAfter {
		fmt.Fprintln(os.Stderr, cfg.SbatchFail)
		return 1
	}
	if !slices.Contains(args, "--parsable") {
		fmt.Fprintln(os.Stderr, "fake sbatch: expected --parsable")
		return 2
	}
	script, err := readAllStdin()
	if err != nil || !strings.HasPrefix(script, "#!/bin/sh") {
		fmt.Fprintln(os.Stderr, "fake sbatch: no script on stdin")
		return 2
	}
	var deps []string
	if d := flagValue(args, "--dependency"); d != "" {
		rest, ok := strings.CutPrefix(d, "afterok:")
		if !ok {
			fmt.Fprintln(os.Stderr, "fake sbatch: only afterok dependencies")
			return 2
		}
		deps = strings.Split(rest, ":")
		for _, id := range deps {
			if Find(st, id) == nil {
				fmt.Fprintln(os.Stderr, "sbatch: error: Batch job submission failed: Job dependency problem")
				return 1
			}
		}
	}
	id := strconv.Itoa(st.Next)
	st.Next++
	base := Job{Name: flagValue(args, "--job-name"), Script: script, Args: args, Deps: deps,
		Kill: slices.Contains(args, "--kill-on-invalid-dep=yes"), Output: flagValue(args, "--output"),
		State: "PENDING", Reason: "None", Index: -1}
	if base.Name == "" || base.Output == "" {
		fmt.Fprintln(os.Stderr, "fake sbatch: --job-name and --output are required")
		return 2
	}
	if arr := flagValue(args, "--array"); arr != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(arr, "0-"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake sbatch: --array=0-N expected")
			return 2
		}
		stages := arrayStages(script)
		for i := 0; i <= n; i++ {
			j := base
			j.ID, j.Index = id+"_"+strconv.Itoa(i), i
			if i < len(stages) {
				j.Stage = stages[i]
			}
			st.Jobs = append(st.Jobs, &j)
		}
	} else {
		j := base
		j.ID, j.Stage = id, base.Name
		st.Jobs = append(st.Jobs, &j)
	}
	fmt.Println(id + ";fakecluster")
	return 0
}

// arrayStages reads the stage names from an array script's case lines.
func arrayStages(script string) []string {
	var out []string
	for _, l := range strings.Split(script, "\n") {
		if i := strings.LastIndex(l, ";; # "); i >= 0 {
			out = append(out, l[i+len(";; # "):])
		}
	}
	return out
}

func readAllStdin() (string, error) {
	b, err := io.ReadAll(os.Stdin)
	return string(b), err
}

// Find returns the job with this id (an array element falls back to its
// array's bare record, as Slurm keeps it after cancelling pending elements).
func Find(st *State, id string) *Job {
	for _, j := range st.Jobs {
		if j.ID == id {
			return j
		}
	}
	if base, _, ok := strings.Cut(id, "_"); ok {
		return Find(st, base)
	}
	return nil
}

// fakeTick runs one scheduling pass.
func fakeTick(st *State, cfg *Config) {
	for _, j := range st.Jobs {
		if j.State != "PENDING" {
			continue
		}
		fate := cfg.Fate[j.Stage]
		if fate == "HOLD" {
			continue
		}
		if n, ok := strings.CutPrefix(fate, "HOLD"); ok {
			if k, _ := strconv.Atoi(n); j.Held < k {
				j.Held++
				continue
			}
		}
		ready, never := true, false
		for _, d := range j.Deps {
			dj := Find(st, d)
			switch {
			case dj == nil || dj.State == "COMPLETED":
			case dj.State == "PENDING" || dj.State == "RUNNING":
				ready = false
			default:
				never = true
			}
		}
		if never {
			if j.Kill {
				j.State, j.Reason, j.Start, j.End = "CANCELLED", "DependencyNeverSatisfied", fakeNow(), fakeNow()
			} else {
				j.Reason = "DependencyNeverSatisfied"
			}
			continue
		}
		if !ready {
			j.Reason = "Dependency"
			continue
		}
		j.Start, j.Reason = fakeNow(), "None"
		switch fate {
		case "RUN":
			j.State = "RUNNING"
			continue
		case "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY":
			j.State, j.End = fate, fakeNow()
			j.Reason = map[string]string{"TIMEOUT": "TimeLimit", "NODE_FAIL": "NodeDown", "OUT_OF_MEMORY": "OutOfMemory"}[fate]
			continue
		case "NOENTRY":
			j.State, j.End, j.Exit = "COMPLETED", fakeNow(), "0:0"
			continue
		}
		out := j.Output
		out = strings.ReplaceAll(out, "%A", strings.Split(j.ID, "_")[0])
		out = strings.ReplaceAll(out, "%a", strconv.Itoa(j.Index))
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			j.State, j.Reason, j.Exit, j.End = "FAILED", "NonZeroExitCode", "1:0", fakeNow()
			continue
		}
		cmd := exec.Command("/bin/sh", "-c", j.Script)
		cmd.Env = append(os.Environ(), "SLURM_JOB_ID="+j.ID, "SLURM_ARRAY_TASK_ID="+strconv.Itoa(j.Index))
		cmd.Stdout, cmd.Stderr = f, f
		err = cmd.Run()
		f.Close()
		j.End = fakeNow()
		if err != nil {
			j.State, j.Reason, j.Exit = "FAILED", "NonZeroExitCode", "1:0"
		} else {
			j.State, j.Exit = "COMPLETED", "0:0"
		}
		if fate == "PURGE" {
			j.Purged = true
		}
	}
}

func fakeWanted(st *State, args []string) []*Job {
	i := slices.Index(args, "-j")
	if i < 0 || i+1 >= len(args) {
		return st.Jobs
	}
	var out []*Job
	for _, id := range strings.Split(args[i+1], ",") {
		for _, j := range st.Jobs {
			if (j.ID == id || strings.HasPrefix(j.ID, id+"_")) && !j.Purged {
				out = append(out, j)
			}
		}
	}
	return out
}

func fakeSqueue(st *State, cfg *Config, args []string) int {
	if cfg.SqueueFail != "" {
		fmt.Fprintln(os.Stderr, cfg.SqueueFail)
		return 1
	}
	fakeTick(st, cfg)
	js := fakeWanted(st, args)
	if len(js) == 0 {
		fmt.Fprintln(os.Stderr, "slurm_load_jobs error: Invalid job id specified")
		return 1
	}
	for _, j := range js {
		fmt.Printf("%s|%s|%s|%s|%s\n", j.ID, j.State, j.Reason, or(j.Start, "N/A"), or(j.End, "N/A"))
	}
	return 0
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func fakeScontrol(st *State, cfg *Config, args []string) int {
	if len(args) > 0 && args[0] == "ping" {
		if cfg.PingDown {
			fmt.Println("Slurmctld(primary) at fake is DOWN")
			return 1
		}
		fmt.Println("Slurmctld(primary) at fake is UP")
		return 0
	}
	if len(args) == 4 && args[0] == "-o" && args[1] == "show" && args[2] == "job" {
		j := Find(st, args[3])
		if j == nil || j.Purged {
			fmt.Fprintln(os.Stderr, "slurm_load_jobs error: Invalid job id specified")
			return 1
		}
		base, idx, _ := strings.Cut(j.ID, "_")
		arr := ""
		if idx != "" {
			arr = " ArrayJobId=" + base + " ArrayTaskId=" + idx
		}
		fmt.Printf("JobId=%s%s JobName=%s JobState=%s Reason=%s ExitCode=%s StartTime=%s EndTime=%s\n",
			base, arr, j.Name, j.State, j.Reason, or(j.Exit, "0:0"), or(j.Start, "Unknown"), or(j.End, "Unknown"))
		return 0
	}
	fmt.Fprintln(os.Stderr, "fake scontrol: unsupported", args)
	return 2
}

func fakeSacct(st *State, cfg *Config, args []string) int {
	if cfg.Sacct != "ok" {
		fmt.Fprintln(os.Stderr, "Slurm accounting storage is disabled")
		return 1
	}
	i := slices.Index(args, "-j")
	for _, id := range strings.Split(args[i+1], ",") {
		for _, j := range st.Jobs {
			if j.ID == id || strings.HasPrefix(j.ID, id+"_") {
				fmt.Printf("%s|%s|%s|%s|%s\n", j.ID, j.State, or(j.Exit, "0:0"), or(j.Start, "Unknown"), or(j.End, "Unknown"))
			}
		}
	}
	return 0
}

// Registry holds the kinds the tests' stages use, in this process and
// in the re-executed `stage exec`.
func Registry() *pipeline.Registry {
	reg := &pipeline.Registry{}
	reg.MustRegister(testkinds.Touch{})
	reg.MustRegister(testkinds.Fail{})
	reg.MustRegister(testkinds.Steps{})
	reg.MustRegister(testkinds.Block{})
	return reg
}

// StageExec is `ccq stage exec FILE` over the test kinds.
func StageExec(file string) int {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	t, err := pipeline.ReadTaskFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ccq:", err)
		return 1
	}
	e, err := pipeline.Exec(ctx, t, pipeline.ExecOptions{Registry: Registry()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccq: %v (log: %s)\n", err, t.LogPath)
		return 1
	}
	fmt.Println(e.Dir)
	return 0
}
