package nn

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/ccq-project/ccq/nn/safetensors"
)

// resumeRun is a small ResNet-20 training run with every kind of training
// state: momentum (Nesterov), batch-norm statistics, augmentation and
// shuffling, warm-up and a cosine schedule, and a validation set that
// selects the best epoch.
type resumeRun struct {
	g          Graph
	train, val *Slice
	cfg        TrainConfig
}

func newResumeRun(t *testing.T) resumeRun {
	t.Helper()
	s := Shape{3, 8, 8}
	g, err := BuildGraph("resnet20", s, 3)
	if err != nil {
		t.Fatal(err)
	}
	return resumeRun{g: g, train: blobs(3, 60, 3, s, 2), val: blobs(4, 30, 3, s, 2),
		cfg: TrainConfig{Epochs: 3, BatchSize: 16, LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4,
			Schedule: ScheduleCosine, WarmupEpochs: 1, Augment: AugmentCropFlip, Seed: 7}}
}

// result is what a training run leaves: the final model's state dict, the
// last model OnBest was given, and the log.
type result struct {
	final, best []byte
	log         *TrainLog
}

// run trains from seed (or resume), cancelling after epoch stopAfter
// (0: never); every epoch's OnCheckpoint state is encoded into *states.
func (r resumeRun) run(t *testing.T, seed uint64, resume *TrainState, stopAfter int, states *[][]byte) (result, error) {
	t.Helper()
	m, err := NewModel(r.g, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.SetThreads(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var res result
	tr := &Trainer{Model: m, Config: r.cfg, Resume: resume,
		OnBest: func(b *Model, _ EpochLog) error { res.best = stateBytes(t, b); return nil },
		OnCheckpoint: func(s *TrainState) error {
			b, err := EncodeTrainState(s, map[string]string{"test.key": "k"})
			if states != nil {
				*states = append(*states, b)
			}
			return err
		},
		OnEpoch: func(l *TrainLog) {
			if len(l.Epochs) > 0 && l.Epochs[len(l.Epochs)-1].Epoch == stopAfter {
				cancel()
			}
		}}
	res.log, err = tr.Train(ctx, r.train, r.val)
	res.final = stateBytes(t, m)
	return res, err
}

func stateBytes(t *testing.T, m *Model) []byte {
	b, err := safetensors.Encode(&safetensors.File{Tensors: m.StateDict()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withoutTimes is l with wall times, throughputs and resumption points
// cleared.
func withoutTimes(l *TrainLog) TrainLog {
	c := *l
	c.Seconds, c.ResumedAt = 0, nil
	c.Epochs = slices.Clone(l.Epochs)
	for i := range c.Epochs {
		c.Epochs[i].Seconds, c.Epochs[i].ImagesPerSec = 0, 0
	}
	return c
}

// TestTrainResumeIsExact: a run interrupted after epoch k and resumed from
// its encoded state ends with the same model bytes, the same best model
// and the same log (times aside) as the run trained in one go.
func TestTrainResumeIsExact(t *testing.T) {
	r := newResumeRun(t)
	want, err := r.run(t, 4, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.log.BestEpoch == r.cfg.Epochs {
		t.Fatal("the last epoch is the best, so resuming would not exercise the restored best model: change the fixture")
	}
	for _, k := range []int{1, 2} {
		var states [][]byte
		_, err := r.run(t, 4, nil, k, &states)
		if !errors.Is(err, context.Canceled) || len(states) != k {
			t.Fatalf("k=%d: first session: error %v and %d states, want context.Canceled and %d", k, err, len(states), k)
		}
		s, md, err := DecodeTrainState(states[k-1])
		if err != nil {
			t.Fatal(err)
		}
		if md["test.key"] != "k" || s.Epoch != k {
			t.Fatalf("k=%d: decoded state at epoch %d with metadata %v", k, s.Epoch, md)
		}
		// Another seed: everything must come from the state.
		got, err := r.run(t, 99, s, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.final, want.final) {
			t.Errorf("k=%d: the resumed run's final model differs from the uninterrupted run's", k)
		}
		if !bytes.Equal(got.best, want.best) {
			t.Errorf("k=%d: the last model given to OnBest differs", k)
		}
		if !slices.Equal(got.log.ResumedAt, []int{k + 1}) {
			t.Errorf("k=%d: log says resumed at %v, want [%d]", k, got.log.ResumedAt, k+1)
		}
		if g, w := withoutTimes(got.log), withoutTimes(want.log); !reflect.DeepEqual(g, w) {
			t.Errorf("k=%d: logs differ:\n got %+v\nwant %+v", k, g, w)
		}
	}
}

// TestTrainResumeMismatch: a state of another run is refused with
// ErrStateMismatch before anything is trained or called back.
func TestTrainResumeMismatch(t *testing.T) {
	r := newResumeRun(t)
	r.cfg.Epochs = 2
	var states [][]byte
	if _, err := r.run(t, 4, nil, 1, &states); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	decode := func() *TrainState {
		s, _, err := DecodeTrainState(states[0])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	other := func(change func(*resumeRun)) resumeRun {
		o := r
		change(&o)
		return o
	}
	for name, o := range map[string]resumeRun{
		"learning rate": other(func(o *resumeRun) { o.cfg.LR = 0.2 }),
		"seed":          other(func(o *resumeRun) { o.cfg.Seed = 8 }),
		"data":          other(func(o *resumeRun) { o.train = blobs(3, 50, 3, o.train.Shape, 2) }),
		"no validation": other(func(o *resumeRun) { o.val = nil }),
		"classes": other(func(o *resumeRun) {
			o.g, _ = BuildGraph("resnet20", o.train.Shape, 4)
			o.train = blobs(3, 60, 4, o.train.Shape, 2)
			o.val = blobs(4, 30, 4, o.train.Shape, 2)
		}),
	} {
		calls := 0
		m, _ := NewModel(o.g, 1)
		m.SetThreads(2)
		tr := &Trainer{Model: m, Config: o.cfg, Resume: decode(),
			OnBest:   func(*Model, EpochLog) error { calls++; return nil },
			Progress: func(Progress) { calls++ }}
		var val Source
		if o.val != nil {
			val = o.val
		}
		if _, err := tr.Train(context.Background(), o.train, val); !errors.Is(err, ErrStateMismatch) || calls != 0 {
			t.Errorf("%s: error %v after %d callbacks, want ErrStateMismatch and none", name, err, calls)
		}
	}
	m, _ := NewModel(r.g, 1)
	m.SetThreads(1)
	tr := &Trainer{Model: m, Config: r.cfg, Resume: decode()}
	if _, err := tr.Train(context.Background(), r.train, r.val); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("other thread count: error %v, want ErrStateMismatch", err)
	}
}

// TestDecodeTrainStateRefusesDamage: a flipped byte anywhere, a truncated
// file and another format version are errors, never a state.
func TestDecodeTrainStateRefusesDamage(t *testing.T) {
	r := newResumeRun(t)
	r.cfg.Epochs = 1
	var states [][]byte
	if _, err := r.run(t, 4, nil, 0, &states); err != nil {
		t.Fatal(err)
	}
	b := states[0]
	if _, _, err := DecodeTrainState(b); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{len(b) - 1, len(b) / 2, len(b) - 4*1000} {
		d := slices.Clone(b)
		d[at] ^= 0x10
		if _, _, err := DecodeTrainState(d); err == nil {
			t.Errorf("a flipped bit at byte %d of %d went unnoticed", at, len(b))
		}
	}
	if _, _, err := DecodeTrainState(b[:len(b)-8]); err == nil {
		t.Error("a truncated state decoded")
	}
	f, err := safetensors.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	f.Metadata[MetaTrainState] = "0"
	old, err := safetensors.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodeTrainState(old); err == nil {
		t.Error("a state of format version 0 decoded")
	}
}

// FuzzDecodeTrainState feeds mutated training-state files to the decoder:
// it must return a state or an error, never panic or allocate without
// bound. The seeds hold the metadata of a state (version, digest, epoch,
// generator, log, graph) and no tensors, so the fuzzer works on what only
// this decoder parses; the tensors go through FromFile (FuzzLoadModel).
func FuzzDecodeTrainState(f *testing.F) {
	for _, md := range []map[string]string{
		GraphMetadata(Graph{Arch: "mlp", Input: Shape{1, 4, 4}, Classes: 2}),
		GraphMetadata(Graph{Arch: "resnet20", Input: Shape{3, 4096, 4096}, Classes: 10}),
	} {
		md[MetaTrainState] = TrainStateVersion
		md[metaStateJSON] = `{"epoch":1,"rng":"cGNnOgAAAAAAAAABAAAAAAAAAAI=","log":{"config":{"epochs":2,"batch_size":16},"threads":2,"train_n":2,"epochs":[{"epoch":1}],"best_epoch":1}}`
		md[metaStateDigest] = tensorDigest(nil)
		b, err := safetensors.Encode(&safetensors.File{Metadata: md})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _, err := DecodeTrainState(data)
		if err != nil {
			return
		}
		if s.Model == nil || s.Momentum == nil || s.Order == nil {
			t.Errorf("decoded a state without a model, momentum or example order")
		}
		s.Close()
	})
}
