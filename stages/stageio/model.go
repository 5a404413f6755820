package stageio

import (
	"fmt"
	"math/rand/v2"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/pipeline"
)

// ModelFile is the model every model-producing stage writes (safetensors:
// float32 for pretrain, k-bit levels and scales for quantize and evolve).
const ModelFile = "model.safetensors"

// ModelRecordFile describes ModelFile for later stages.
const ModelRecordFile = "model.json"

// ModelRecord says what a model-producing stage made; the evaluate stage
// turns it into a row of runs.parquet.
type ModelRecord struct {
	// RunID identifies the run across tables: the stage name's last part
	// ("float", "rtn-w4-tensor-a32", "ccea-w4-s1").
	RunID string `json:"run_id"`
	// Kind is "float", "baseline" or "optimizer".
	Kind string `json:"kind"`
	// Method is "float", the quantizer's name or the optimizer's label.
	Method string `json:"method"`
	// Parameters are the method's parameters (JSON object).
	Parameters  map[string]any `json:"parameters,omitempty"`
	Dataset     string         `json:"dataset"`
	Model       string         `json:"model"`
	Bits        int            `json:"bits"`
	ActBits     int            `json:"act_bits"`
	Granularity string         `json:"granularity,omitempty"`
	Seed        int64          `json:"seed"`
	// StartMethod is the run id of an optimizer's start model.
	StartMethod     string  `json:"start_method,omitempty"`
	Evaluations     int64   `json:"evaluations,omitempty"`
	WallTime        float64 `json:"wall_time_s"`
	UsedFPGradients bool    `json:"used_fp_gradients"`
}

// RunID is the last element of a stage name ("evolve/ccea-w4-s1" gives
// "ccea-w4-s1"); the pretrain stage's run is "float".
func RunID(stageName string) string {
	for i := len(stageName) - 1; i >= 0; i-- {
		if stageName[i] == '/' {
			return stageName[i+1:]
		}
	}
	return stageName
}

// ReadModelRecord reads the model record of the stage's input named name.
func ReadModelRecord(sc *pipeline.StageContext, name string) (*ModelRecord, string, error) {
	in, err := sc.Input(name)
	if err != nil {
		return nil, "", err
	}
	var rec ModelRecord
	if err := ReadJSON(in.Dir, ModelRecordFile, &rec); err != nil {
		return nil, "", fmt.Errorf("stage %s: input %s: %w", sc.Name, name, err)
	}
	return &rec, in.Path(ModelFile), nil
}

// Batch is a normalised set of images with labels.
type Batch struct {
	X      []float32
	Labels []uint8
	N      int
}

// SplitBatch normalises the images idx of split s (all of them when idx is
// nil) into one batch.
func SplitBatch(d *datasets.Dataset, s *datasets.Split, idx []int) Batch {
	if idx == nil {
		idx = make([]int, s.N)
		for i := range idx {
			idx[i] = i
		}
	}
	b := Batch{X: make([]float32, len(idx)*d.C*d.H*d.W), Labels: make([]uint8, len(idx)), N: len(idx)}
	d.Normalize(s, idx, b.X)
	for i, j := range idx {
		b.Labels[i] = s.Labels[j]
	}
	return b
}

// CalibrationIndices picks n training images at random with a fixed seed
// (the same images for every stage that calibrates with the same n).
func CalibrationIndices(total, n int, seed uint64) []int {
	if n > total {
		n = total
	}
	r := rand.New(rand.NewPCG(seed, 0x63616c6962)) // "calib"
	return r.Perm(total)[:n]
}
