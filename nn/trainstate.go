package nn

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ccq-project/ccq/nn/safetensors"
)

// TrainStateVersion is the version of the file format of EncodeTrainState;
// DecodeTrainState refuses other versions.
const TrainStateVersion = "1"

// Metadata keys of a training-state file.
const (
	MetaTrainState  = "ccq.train_state"  // TrainStateVersion
	metaStateJSON   = "ccq.state"        // epoch, generator and log (JSON)
	metaStateDigest = "ccq.state_sha256" // of the tensors' names, shapes and bytes
)

// Tensor name prefixes of a training-state file.
const (
	stateModel    = "model/"
	stateBest     = "best/"
	stateMomentum = "momentum"
	stateOrder    = "order"
)

// stateScalars is the JSON part of a training-state file.
type stateScalars struct {
	Epoch int      `json:"epoch"`
	RNG   string   `json:"rng"` // base64
	Log   TrainLog `json:"log"`
}

// EncodeTrainState returns s as a safetensors file: the model, the best
// model, the momentum buffer and the example order as tensors; the epoch, generator state and
// log as JSON metadata; the graph's keys (GraphMetadata), the format
// version, a SHA-256 digest of the tensors, and the caller's meta (keys
// other than ccq.* ones this package writes) as metadata.
func EncodeTrainState(s *TrainState, meta map[string]string) ([]byte, error) {
	sc, err := json.Marshal(stateScalars{Epoch: s.Epoch, RNG: base64.StdEncoding.EncodeToString(s.RNG), Log: s.Log})
	if err != nil {
		return nil, fmt.Errorf("encode training state: %w", err)
	}
	var ts []safetensors.Tensor
	for _, t := range s.Model.StateDict() {
		t.Name = stateModel + t.Name
		ts = append(ts, t)
	}
	if s.Best != nil {
		for _, t := range s.Best.StateDict() {
			t.Name = stateBest + t.Name
			ts = append(ts, t)
		}
	}
	order := make([]int64, len(s.Order))
	for i, v := range s.Order {
		order[i] = int64(v)
	}
	ts = append(ts, safetensors.F32(stateMomentum, []int{len(s.Momentum)}, s.Momentum),
		safetensors.I64(stateOrder, []int{len(order)}, order))
	md := maps.Clone(meta)
	if md == nil {
		md = map[string]string{}
	}
	maps.Copy(md, GraphMetadata(s.Model.g))
	md[MetaTrainState] = TrainStateVersion
	md[metaStateJSON] = string(sc)
	md[metaStateDigest] = tensorDigest(ts)
	b, err := safetensors.Encode(&safetensors.File{Metadata: md, Tensors: ts})
	if err != nil {
		return nil, fmt.Errorf("encode training state: %w", err)
	}
	return b, nil
}

// DecodeTrainState reads a file written by EncodeTrainState and returns the
// state and the file's metadata. A file of another format version, with
// tensors that do not match its digest, or with models that do not match
// the architecture its metadata names, is an error. Whether the state fits
// a run is for Train to check (Trainer.Resume).
func DecodeTrainState(b []byte) (*TrainState, map[string]string, error) {
	f, err := safetensors.Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("decode training state: %w", err)
	}
	md := f.Metadata
	if v := md[MetaTrainState]; v != TrainStateVersion {
		return nil, nil, fmt.Errorf("decode training state: format version %q, expected %q", v, TrainStateVersion)
	}
	if d := tensorDigest(f.Tensors); d != md[metaStateDigest] {
		return nil, nil, fmt.Errorf("decode training state: the tensors' digest is %s, the file says %q (a damaged file)", d, md[metaStateDigest])
	}
	var sc stateScalars
	if err := json.Unmarshal([]byte(md[metaStateJSON]), &sc); err != nil {
		return nil, nil, fmt.Errorf("decode training state: metadata %q: %w", metaStateJSON, err)
	}
	rng, err := base64.StdEncoding.DecodeString(sc.RNG)
	if err != nil {
		return nil, nil, fmt.Errorf("decode training state: generator state: %w", err)
	}
	g, err := GraphFromMetadata(md)
	if err != nil {
		return nil, nil, fmt.Errorf("decode training state: %w", err)
	}
	var model, best []safetensors.Tensor
	var momentum, order *safetensors.Tensor
	for i := range f.Tensors {
		t := f.Tensors[i]
		switch {
		case strings.HasPrefix(t.Name, stateModel):
			t.Name = strings.TrimPrefix(t.Name, stateModel)
			model = append(model, t)
		case strings.HasPrefix(t.Name, stateBest):
			t.Name = strings.TrimPrefix(t.Name, stateBest)
			best = append(best, t)
		case t.Name == stateMomentum:
			momentum = &f.Tensors[i]
		case t.Name == stateOrder:
			order = &f.Tensors[i]
		default:
			return nil, nil, fmt.Errorf("decode training state: unexpected tensor %q", t.Name)
		}
	}
	s := &TrainState{Epoch: sc.Epoch, RNG: rng, Log: sc.Log}
	if s.Model, err = FromFile(&safetensors.File{Tensors: model}, g); err != nil {
		return nil, nil, fmt.Errorf("decode training state: model: %w", err)
	}
	if len(best) > 0 {
		if s.Best, err = FromFile(&safetensors.File{Tensors: best}, g); err != nil {
			return nil, nil, fmt.Errorf("decode training state: best model: %w", err)
		}
	}
	if momentum == nil || order == nil {
		return nil, nil, fmt.Errorf("decode training state: no %q or no %q tensor", stateMomentum, stateOrder)
	}
	if s.Momentum, err = momentum.Float32s(); err != nil {
		return nil, nil, fmt.Errorf("decode training state: %w", err)
	}
	o, err := order.Int64s()
	if err != nil {
		return nil, nil, fmt.Errorf("decode training state: %w", err)
	}
	s.Order = make([]int, len(o))
	for i, v := range o {
		s.Order[i] = int(v) // Train checks that it is a permutation
	}
	return s, md, nil
}

// tensorDigest is the SHA-256 of the tensors' names, dtypes, shapes and
// bytes, in name order (the order of a file).
func tensorDigest(ts []safetensors.Tensor) string {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b safetensors.Tensor) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, t := range ts {
		fmt.Fprintf(h, "%q %s %v %d\n", t.Name, t.DType, t.Shape, len(t.Data))
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Close stops the worker goroutines of the state's models (see
// Model.Close); the state must not be used afterwards.
func (s *TrainState) Close() {
	if s.Model != nil {
		s.Model.Close()
	}
	if s.Best != nil {
		s.Best.Close()
	}
}
