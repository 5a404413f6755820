package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ccq-project/ccq/internal/atomicfile"
)

// File names inside runs/<experiment>/.
const (
	RunsFile        = "runs.parquet"
	StagesFile      = "stages.parquet"
	GenerationsDir  = "generations"
	ProvenanceFile  = "provenance.json"
	ExperimentCopy  = "experiment.toml"
	ReportMarkdown  = "report.md"
	ReportHTML      = "report.html"
	ReportTablesDir = "tables"
	ReportPlotsDir  = "plots"
)

// Provenance says who produced an experiment's results, where and how: the
// pipeline writes it to provenance.json at the start of a run (Status
// "running") and again at the end.
type Provenance struct {
	Experiment string `json:"experiment"`
	// ExperimentFile is the path of the experiment file as given to ccq run.
	ExperimentFile string `json:"experiment_file,omitempty"`
	// ExperimentSHA256 is the digest of the experiment file's bytes.
	ExperimentSHA256 string `json:"experiment_sha256,omitempty"`
	// ExperimentCommit is the git commit of the work tree holding the
	// experiment file, empty when it is in none.
	ExperimentCommit string `json:"experiment_commit,omitempty"`
	// ExperimentModified is true when that work tree had changes not
	// committed (the experiment file or any other).
	ExperimentModified bool   `json:"experiment_modified,omitempty"`
	CCQVersion         string `json:"ccq_version"`
	// CCQCommit is the commit ccq was built from, "unknown" if neither the
	// build nor git could tell; CCQModified says its source tree had changes
	// not committed.
	CCQCommit   string `json:"ccq_commit,omitempty"`
	CCQModified bool   `json:"ccq_modified,omitempty"`
	// CCQCommitFrom is "build" (linker flag or Go's VCS stamp) or "git"
	// (asked at run time, for binaries built by `go run`).
	CCQCommitFrom string `json:"ccq_commit_from,omitempty"`
	GoVersion     string `json:"go_version,omitempty"`
	// Command is the command line as typed: `go run`'s temporary binary
	// is named "ccq".
	Command  []string  `json:"command,omitempty"`
	Machine  Machine   `json:"machine"`
	Executor string    `json:"executor,omitempty"`
	Started  time.Time `json:"started"`
	// Ended is zero while the run goes on.
	Ended time.Time `json:"ended,omitzero"`
	// WallTime is the run's total wall time in seconds.
	WallTime float64 `json:"wall_time_s"`
	// Status is "running", "ok" or "failed".
	Status      string `json:"status"`
	Stages      int    `json:"stages"`
	CacheHits   int    `json:"cache_hits"`
	StagesRun   int    `json:"stages_run"`
	StageFailed int    `json:"stages_failed"`
	// Only are the `ccq run --only` patterns and StagesSelected the number
	// of stages they selected (the others were cached or not run); empty
	// for a run of every stage.
	Only           []string `json:"only,omitempty"`
	StagesSelected int      `json:"stages_selected,omitempty"`
}

// Machine describes the computer a run used.
type Machine struct {
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	// MemoryBytes is the total memory, 0 if unknown.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// CurrentMachine describes the machine this process runs on (CPU model and
// memory from /proc on Linux, empty elsewhere).
func CurrentMachine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					m.MemoryBytes = kb * 1024
				}
			}
		}
	}
	return m
}

// WriteProvenance writes p as indented JSON to path atomically.
func WriteProvenance(path string, p Provenance) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return WriteFileAtomic(path, append(b, '\n'))
}

// ReadProvenance reads a provenance.json file.
func ReadProvenance(path string) (Provenance, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Provenance{}, fmt.Errorf("reading %s: %w", path, err)
	}
	p, err := ParseProvenance(b)
	if err != nil {
		return Provenance{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return p, nil
}

// ParseProvenance decodes provenance JSON, rejecting unknown fields.
func ParseProvenance(b []byte) (Provenance, error) {
	var p Provenance
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return Provenance{}, fmt.Errorf("line %d: %w", line, err)
		}
		return Provenance{}, err
	}
	return p, nil
}

// WriteFileAtomic writes data to path durably with package atomicfile.
func WriteFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data)
}
