package slurm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// JobState is what Slurm says about one job (or one element of a job
// array) at one moment.
type JobState struct {
	// ID is "123", or "123_4" for element 4 of array job 123.
	ID string `json:"id"`
	// State is Slurm's base state: PENDING, RUNNING, COMPLETED, FAILED,
	// TIMEOUT, CANCELLED, NODE_FAIL, OUT_OF_MEMORY, ...
	State string `json:"state"`
	// Reason is Slurm's reason for the state (None, Priority, Resources,
	// Dependency, DependencyNeverSatisfied, NonZeroExitCode, TimeLimit...).
	Reason string `json:"reason,omitempty"`
	// ExitCode is "status:signal" when known ("1:0", "0:9").
	ExitCode string    `json:"exit_code,omitempty"`
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
}

// squeueFormat is the -o format parseSqueue reads.
const squeueFormat = "%i|%T|%r|%S|%e"

// sacctFields is the -o field list parseSacct reads.
const sacctFields = "JobID,State,ExitCode,Start,End"

// slurmTimeLayout is how Slurm prints times (in the controller's local time).
const slurmTimeLayout = "2006-01-02T15:04:05"

// parseSlurmTime reads a Slurm time; "", "N/A", "Unknown", "None" give zero.
func parseSlurmTime(s string) time.Time {
	t, err := time.ParseInLocation(slurmTimeLayout, strings.TrimSpace(s), time.Local)
	if err != nil {
		return time.Time{}
	}
	return t
}

var jobIDRe = regexp.MustCompile(`^[0-9]+(_[0-9]+)?$`)

// parseSubmit reads `sbatch --parsable` output: "123" or "123;cluster".
func parseSubmit(out string) (string, error) {
	s := strings.TrimSpace(out)
	// Warnings may come before the id on stdout; the id is the last line.
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	if s == "" || len(s) > 20 || !jobIDRe.MatchString(s) || strings.Contains(s, "_") {
		return "", fmt.Errorf("sbatch --parsable printed %q: expected a job id", strings.TrimSpace(out))
	}
	return s, nil
}

// baseState drops decorations: "CANCELLED by 0" -> "CANCELLED", "FAILED+" -> "FAILED".
func baseState(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " +"); i >= 0 {
		s = s[:i]
	}
	return strings.ToUpper(s)
}

var stateRe = regexp.MustCompile(`^[A-Z_]+$`)

// parseSqueue reads `squeue -h -o '%i|%T|%r|%S|%e'` output. Pending array
// ranges ("123_[4-9]") are expanded when the range is small.
func parseSqueue(out string) ([]JobState, error) {
	var states []JobState
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 5 {
			return nil, fmt.Errorf("squeue output line %d %q: expected 5 fields separated by '|' (id|state|reason|start|end), got %d", n+1, clip(line), len(f))
		}
		st := JobState{State: baseState(f[1]), Reason: strings.TrimSpace(f[2]), Start: parseSlurmTime(f[3]), End: parseSlurmTime(f[4])}
		if !stateRe.MatchString(st.State) {
			return nil, fmt.Errorf("squeue output line %d %q: job state %q is not a Slurm state", n+1, clip(line), f[1])
		}
		ids, err := expandJobID(strings.TrimSpace(f[0]))
		if err != nil {
			return nil, fmt.Errorf("squeue output line %d %q: %w", n+1, clip(line), err)
		}
		for _, id := range ids {
			s := st
			s.ID = id
			states = append(states, s)
		}
	}
	return states, nil
}

// maxExpand bounds the expansion of an array range such as 123_[0-999].
const maxExpand = 100000

var arrayRangeRe = regexp.MustCompile(`^([0-9]+)_\[([0-9,\-%]+)\]$`)

// expandJobID expands "123_[1-3,7]" into its elements; other ids are
// returned as they are after checking them.
func expandJobID(id string) ([]string, error) {
	if jobIDRe.MatchString(id) {
		return []string{id}, nil
	}
	m := arrayRangeRe.FindStringSubmatch(id)
	if m == nil {
		return nil, fmt.Errorf("job id %q: expected 123, 123_4 or 123_[4-9]", id)
	}
	spec := m[2]
	if i := strings.IndexByte(spec, '%'); i >= 0 { // "0-9%2": the throttle
		spec = spec[:i]
	}
	var out []string
	for _, part := range strings.Split(spec, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if ok {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("job id %q: bad array range %q", id, part)
		}
		if len(out)+b-a+1 > maxExpand {
			return nil, fmt.Errorf("job id %q: array range too large", id)
		}
		for i := a; i <= b; i++ {
			out = append(out, m[1]+"_"+strconv.Itoa(i))
		}
	}
	return out, nil
}

// parseScontrol reads `scontrol -o show job` output: one line per job of
// space-separated Key=Value fields (a value may contain spaces: a word
// without '=' continues the previous value).
func parseScontrol(out string) ([]JobState, error) {
	var states []JobState
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := map[string]string{}
		last := ""
		for _, w := range strings.Fields(line) {
			k, v, ok := strings.Cut(w, "=")
			if !ok || k == "" {
				if last != "" {
					f[last] += " " + w
				}
				continue
			}
			f[k] = v
			last = k
		}
		id := f["JobId"]
		if id == "" || !jobIDRe.MatchString(id) {
			return nil, fmt.Errorf("scontrol output line %d: no JobId=<number> field in %q", n+1, clip(line))
		}
		if aj, at := f["ArrayJobId"], f["ArrayTaskId"]; aj != "" && at != "" {
			ids, err := expandJobID(aj + "_" + wrapRange(at))
			if err != nil {
				return nil, fmt.Errorf("scontrol output line %d: %w", n+1, err)
			}
			for _, i := range ids {
				states = append(states, scontrolState(i, f))
			}
			continue
		}
		states = append(states, scontrolState(id, f))
	}
	return states, nil
}

// wrapRange turns scontrol's "4-9" into "[4-9]" (a single "4" stays).
func wrapRange(s string) string {
	if strings.ContainsAny(s, "-,") {
		return "[" + s + "]"
	}
	return s
}

func scontrolState(id string, f map[string]string) JobState {
	return JobState{ID: id, State: baseState(f["JobState"]), Reason: f["Reason"], ExitCode: f["ExitCode"],
		Start: parseSlurmTime(f["StartTime"]), End: parseSlurmTime(f["EndTime"])}
}

// parseSacct reads `sacct -n -P -X -o JobID,State,ExitCode,Start,End`.
func parseSacct(out string) ([]JobState, error) {
	var states []JobState
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 5 {
			return nil, fmt.Errorf("sacct output line %d %q: expected 5 fields separated by '|' (%s), got %d", n+1, clip(line), sacctFields, len(f))
		}
		ids, err := expandJobID(strings.TrimSpace(f[0]))
		if err != nil {
			// Job steps ("123.batch") are excluded by -X; skip anything else odd.
			continue
		}
		st := JobState{State: baseState(f[1]), ExitCode: strings.TrimSpace(f[2]), Start: parseSlurmTime(f[3]), End: parseSlurmTime(f[4])}
		if !stateRe.MatchString(st.State) {
			return nil, fmt.Errorf("sacct output line %d %q: job state %q is not a Slurm state", n+1, clip(line), f[1])
		}
		for _, id := range ids {
			s := st
			s.ID = id
			states = append(states, s)
		}
	}
	return states, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// Job state classes.
type stateClass int

const (
	classActive    stateClass = iota // pending, running, completing, requeued...
	classCompleted                   // COMPLETED: look for the store entry
	classFailed                      // the job failed or was killed by the scheduler
	classCancelled                   // CANCELLED
)

// classify maps a Slurm base state to a class. Unknown states count as
// active (the next poll looks again).
func classify(state string) stateClass {
	switch state {
	case "COMPLETED":
		return classCompleted
	case "CANCELLED", "REVOKED":
		return classCancelled
	case "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT":
		return classFailed
	}
	return classActive
}

// failureText explains a failed state.
func failureText(id string, st JobState, timeLimit string) string {
	code := ""
	if st.ExitCode != "" && st.ExitCode != "0:0" {
		code = " (exit code " + st.ExitCode + ")"
	}
	switch st.State {
	case "FAILED":
		return fmt.Sprintf("slurm job %s failed%s", id, code)
	case "TIMEOUT":
		lim := ""
		if timeLimit != "" {
			lim = " (--time " + timeLimit + ")"
		}
		return fmt.Sprintf("slurm job %s was killed at its time limit%s (TIMEOUT); run again to continue from its checkpoint, with a longer time if needed", id, lim)
	case "NODE_FAIL":
		return fmt.Sprintf("slurm job %s was lost with its node (NODE_FAIL); run again to continue from its checkpoint", id)
	case "OUT_OF_MEMORY":
		return fmt.Sprintf("slurm job %s ran out of memory (OUT_OF_MEMORY); ask for more memory (args = [\"--mem=...\"])", id)
	case "BOOT_FAIL":
		return fmt.Sprintf("slurm job %s could not start: its node failed to boot (BOOT_FAIL); run again", id)
	case "DEADLINE":
		return fmt.Sprintf("slurm job %s reached its deadline (DEADLINE)", id)
	case "PREEMPTED":
		return fmt.Sprintf("slurm job %s was preempted by the scheduler (PREEMPTED); run again to continue from its checkpoint", id)
	}
	return fmt.Sprintf("slurm job %s ended in state %s%s", id, st.State, code)
}

var timeLimitRe = regexp.MustCompile(`^([0-9]+|[0-9]+:[0-9]{1,2}|[0-9]+:[0-9]{1,2}:[0-9]{1,2}|[0-9]+-[0-9]+|[0-9]+-[0-9]+:[0-9]{1,2}|[0-9]+-[0-9]+:[0-9]{1,2}:[0-9]{1,2}|UNLIMITED|INFINITE|unlimited|infinite)$`)

// CheckTime checks a Slurm time limit: "minutes", "minutes:seconds",
// "hours:minutes:seconds", "days-hours", "days-hours:minutes",
// "days-hours:minutes:seconds" or "UNLIMITED".
func CheckTime(s string) error {
	if !timeLimitRe.MatchString(s) {
		return fmt.Errorf("time limit %q: expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED", s)
	}
	return nil
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.,+\-]*$`)

// checkName checks a partition, account or QOS name.
func checkName(what, s string) error {
	if len(s) > 200 || !nameRe.MatchString(s) {
		return fmt.Errorf("%s %q: expected letters, digits, '_', '-', '.', ',' or '+'", what, s)
	}
	return nil
}
