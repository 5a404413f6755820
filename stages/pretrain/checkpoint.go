package pretrain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/pipeline"
)

// CheckpointFile is the training state the stage keeps in its checkpoint
// folder after every epoch (nn.EncodeTrainState), to continue an
// interrupted run with the next epoch.
const CheckpointFile = "train-state.safetensors"

// metaCheckpointKey is the metadata key of the digest (checkpointKey)
// that ties a checkpoint to the stage's parameters and inputs.
const metaCheckpointKey = "ccq.pretrain_checkpoint"

// checkpointKey identifies what a checkpoint continues: the stage kind's
// version, the stage's key (parameters, inputs, files) and its canonical
// parameters (for contexts without a key, such as tests).
func checkpointKey(sc *pipeline.StageContext) string {
	h := sha256.New()
	fmt.Fprintf(h, "pretrain %s\x00%s\x00%s", Kind{}.Version(), sc.Key, sc.Params.JSON())
	return hex.EncodeToString(h.Sum(nil))
}

// loadCheckpoint returns the training state of sc's checkpoint folder, or
// nil, with the reason, when there is none it may continue from: no file,
// a damaged file, or one of other parameters. Whether the state fits the
// run in detail (recipe, data, thread count, architecture) the trainer
// checks again.
func loadCheckpoint(sc *pipeline.StageContext) (*nn.TrainState, string) {
	path := filepath.Join(sc.CheckpointDir, CheckpointFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "no training state in the checkpoint folder"
	}
	if err != nil {
		return nil, err.Error()
	}
	s, md, err := nn.DecodeTrainState(b)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", path, err)
	}
	if md[metaCheckpointKey] != checkpointKey(sc) {
		s.Close()
		return nil, fmt.Sprintf("%s: the state is of other parameters or inputs", path)
	}
	return s, ""
}

// saveCheckpoint writes s to sc's checkpoint folder atomically.
func saveCheckpoint(sc *pipeline.StageContext, s *nn.TrainState) error {
	b, err := nn.EncodeTrainState(s, map[string]string{metaCheckpointKey: checkpointKey(sc)})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(sc.CheckpointDir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return atomicfile.Write(filepath.Join(sc.CheckpointDir, CheckpointFile), b)
}
