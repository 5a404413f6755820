package pipeline

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/ccq-project/ccq/pipeline/store"
)

// Settings are run-wide values a stage may need. None of them enters a key.
type Settings struct {
	// Experiment is the experiment's name.
	Experiment string `json:"experiment"`
	// DataDir is the dataset cache folder (--data-dir, $CCQ_DATA).
	DataDir string `json:"data_dir"`
	// ResultsDir is the experiment's results folder, runs/<experiment>.
	ResultsDir string `json:"results_dir"`
	// BaseDir is the folder of the experiment file (relative paths start there).
	BaseDir string `json:"base_dir"`
}

// Input is a finished input entry of a stage.
type Input struct {
	// Stage is the name of the stage that produced it in this experiment.
	Stage string
	// Entry holds the folder (Entry.Dir, Entry.Path(rel)) and manifest.
	*store.Entry
}

// StageContext is everything a running stage gets besides its context.
// The pipeline builds it; a Kind's Run reads it and writes into OutDir.
type StageContext struct {
	// Name is the stage's name, for example "evolve/ccea-w4-s1".
	Name string
	// Kind is the stage's kind name and Key its store key.
	Kind string
	Key  string
	// Params are the canonical parameters; decode them with Decode.
	Params Params
	// Inputs are the finished input entries by input name.
	Inputs map[string]*Input
	// Files maps external input files to absolute paths; their digests were
	// checked when the run was planned.
	Files map[string]string
	// Hints are machine-local values that are not part of the key.
	Hints map[string]string
	// OutDir is an empty temporary folder. Everything written there
	// becomes the store entry when Run returns nil (renamed into place,
	// with digests in the manifest); it is deleted when Run fails.
	// The name manifest.json at its top is reserved.
	OutDir string
	// CheckpointDir is a folder that survives a failed, interrupted or
	// killed run of the same key, so a later run can continue from it. It
	// is deleted once the entry is committed. It does not exist until the
	// stage creates it (os.MkdirAll); write checkpoints atomically
	// (store.WriteFileAtomic).
	CheckpointDir string
	// Resumed is true when CheckpointDir held files at the start.
	Resumed bool
	// Log writes to the stage's log file (runs/<experiment>/logs/<name>.log),
	// created on the first line; runs of the same stage append to it.
	Log *slog.Logger
	// LogPath is that file's path.
	LogPath string
	// Threads is the number of CPU threads the stage may use.
	Threads int
	// Settings are run-wide values (dataset cache, results folder, experiment name).
	Settings Settings

	progress func(fraction float64, msg string)
	mu       sync.Mutex
	meta     map[string]any
}

// Decode decodes the parameters into v (usually a pointer to the kind's
// parameter struct), rejecting unknown keys; see Params.Decode.
func (sc *StageContext) Decode(v any) error { return sc.Params.Decode(v) }

// Input returns the input entry with this name or an error naming the stage.
func (sc *StageContext) Input(name string) (*Input, error) {
	in, ok := sc.Inputs[name]
	if !ok {
		return nil, fmt.Errorf("stage %s: no input named %q", sc.Name, name)
	}
	return in, nil
}

// Progress reports the fraction done (0..1) and a short message. It is
// cheap (throttled downstream) and safe from any goroutine.
func (sc *StageContext) Progress(fraction float64, msg string) {
	if sc.progress != nil {
		if fraction < 0 {
			fraction = 0
		} else if fraction > 1 {
			fraction = 1
		}
		sc.progress(fraction, msg)
	}
}

// SetMeta records a small JSON-encodable fact in the entry's manifest
// (for example "test_accuracy"). Safe from any goroutine.
func (sc *StageContext) SetMeta(key string, v any) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.meta == nil {
		sc.meta = map[string]any{}
	}
	sc.meta[key] = v
}

func (sc *StageContext) metaCopy() map[string]any {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.meta) == 0 {
		return nil
	}
	out := make(map[string]any, len(sc.meta))
	for k, v := range sc.meta {
		out[k] = v
	}
	return out
}
