package slurm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
)

// JobsFormat is the version of jobs.json.
const JobsFormat = 1

// JobsFileName is the name of the jobs file in a results folder.
const JobsFileName = "jobs.json"

// JobsFile is <results>/jobs.json: the Slurm jobs of the last submission
// from a results folder, kept up to date while a ccq process watches them.
// `ccq status` and `ccq cancel` read it; a later `ccq run` adopts jobs
// still queued or running for the same stage and key.
type JobsFile struct {
	Format int `json:"format"`
	// Submitted is when the submission began; Updated the last write.
	Submitted time.Time `json:"submitted"`
	Updated   time.Time `json:"updated"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	// Detached is true when the submitting ccq returned at once.
	Detached bool `json:"detached,omitempty"`
	// Store is the store's root folder (where finished stages appear).
	Store string `json:"store"`
	// Binary is the ccq executable the jobs run.
	Binary string `json:"binary"`
	// SlurmConf is $SLURM_CONF at submission, used by status and cancel
	// when their environment has none.
	SlurmConf string `json:"slurm_conf,omitempty"`
	// TimeLimit is the --time given to every job ("" for the default).
	TimeLimit string       `json:"time_limit,omitempty"`
	Jobs      []*JobRecord `json:"jobs"`
}

// JobRecord is one stage's job.
type JobRecord struct {
	Stage string `json:"stage"`
	Kind  string `json:"kind"`
	Key   string `json:"key"`
	// JobID is "123" or, for a stage in a job array, "123_4". Empty when
	// the stage was never submitted (skipped before, or submission failed).
	JobID string `json:"job_id,omitempty"`
	// After are the stages of this submission the job waits for (afterok).
	After    []string `json:"after,omitempty"`
	TaskFile string   `json:"task_file,omitempty"`
	Log      string   `json:"log,omitempty"`
	// CPUs is the job's --cpus-per-task.
	CPUs      int       `json:"cpus,omitempty"`
	Submitted time.Time `json:"submitted,omitzero"`
	// Replace is true for a forced stage (--rerun, --force): an entry
	// older than the job does not count as its result.
	Replace bool `json:"replace,omitempty"`
	// Adopted is true for a job submitted by an earlier ccq run and
	// adopted by this one.
	Adopted bool `json:"adopted,omitempty"`
	// Orphan is true for a job of an earlier submission that this one did
	// not adopt; it is not waited for, but `ccq cancel` cancels it.
	Orphan bool `json:"orphan,omitempty"`
	// Slurm is the last state Slurm reported.
	Slurm *JobState `json:"slurm,omitempty"`
	// Status is the stage's state: pending, running, done, failed,
	// skipped or cancelled.
	Status pipeline.Status `json:"status"`
	// Error explains failed, skipped and cancelled states.
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Entry is the store entry of a done stage.
	Entry string `json:"entry,omitempty"`
}

// JobsPath is the jobs file of a results folder.
func JobsPath(resultsDir string) string { return filepath.Join(resultsDir, JobsFileName) }

// ErrNoJobs reports a results folder without a jobs file (never run with
// the Slurm executor).
var ErrNoJobs = errors.New("no jobs.json: this results folder was not run with the Slurm executor")

// ReadJobs reads the jobs file of a results folder.
func ReadJobs(resultsDir string) (*JobsFile, error) {
	p := JobsPath(resultsDir)
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", resultsDir, ErrNoJobs)
		}
		return nil, fmt.Errorf("jobs file: %w", err)
	}
	return parseJobs(p, b)
}

func parseJobs(path string, b []byte) (*JobsFile, error) {
	var jf JobsFile
	if err := json.Unmarshal(b, &jf); err != nil {
		return nil, fmt.Errorf("jobs file %s: %w", path, err)
	}
	if jf.Format != JobsFormat {
		return nil, fmt.Errorf("jobs file %s: format %d, this ccq reads %d", path, jf.Format, JobsFormat)
	}
	seen := map[string]bool{}
	for i, r := range jf.Jobs {
		if r == nil || r.Stage == "" || r.Kind == "" || r.Key == "" {
			return nil, fmt.Errorf("jobs file %s: job %d: stage, kind and key are required", path, i+1)
		}
		if r.JobID != "" && !jobIDRe.MatchString(r.JobID) {
			return nil, fmt.Errorf("jobs file %s: job %d (%s): job_id %q: expected 123 or 123_4", path, i+1, r.Stage, r.JobID)
		}
		if !r.Orphan {
			if seen[r.Stage] {
				return nil, fmt.Errorf("jobs file %s: stage %s listed twice", path, r.Stage)
			}
			seen[r.Stage] = true
		}
		switch r.Status {
		case pipeline.StatusPending, pipeline.StatusRunning, pipeline.StatusDone, pipeline.StatusFailed,
			pipeline.StatusSkipped, pipeline.StatusCancelled:
		default:
			return nil, fmt.Errorf("jobs file %s: job %d (%s): status %q: expected pending, running, done, failed, skipped or cancelled", path, i+1, r.Stage, r.Status)
		}
	}
	for i, r := range jf.Jobs {
		for _, a := range r.After {
			if !seen[a] {
				return nil, fmt.Errorf("jobs file %s: job %d (%s): waits for %s, which is not in the file", path, i+1, r.Stage, a)
			}
		}
	}
	return &jf, nil
}

// write saves jf atomically into the results folder.
func (jf *JobsFile) write(resultsDir string) error {
	jf.Format = JobsFormat
	jf.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(jf, "", " ")
	if err != nil {
		return fmt.Errorf("jobs file: %w", err)
	}
	return store.WriteFileAtomic(JobsPath(resultsDir), append(b, '\n'), false)
}
