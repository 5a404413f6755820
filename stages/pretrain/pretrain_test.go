package pretrain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/internal/stagetest"
	"github.com/ccq-project/ccq/stages/stageio"
)

// stageLog records the stage's log lines and cancels the run after the
// line "epoch done" of epoch stopAfter (0: never), which the stage writes
// after the epoch's checkpoint.
type stageLog struct {
	mu        sync.Mutex
	lines     []string
	stopAfter int
	cancel    context.CancelFunc
}

func (l *stageLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *stageLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *stageLog) WithGroup(string) slog.Handler            { return l }
func (l *stageLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	epoch := int64(0)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		if a.Key == "epoch" && a.Value.Kind() == slog.KindInt64 {
			epoch = a.Value.Int64()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, b.String())
	if r.Message == "epoch done" && epoch == int64(l.stopAfter) && l.cancel != nil {
		l.cancel()
	}
	return nil
}

// has reports whether a line contains all of parts.
func (l *stageLog) has(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// fixture is MNIST and its dataset input of the layout the dataset stage
// leaves.
type fixture struct {
	d      *datasets.Dataset
	inputs map[string]*pipeline.Input
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	d, in, _ := stagetest.MNISTLeNet5(t)
	return fixture{d: d, inputs: map[string]*pipeline.Input{"dataset": in}}
}

// outcome is what a pretrain entry holds: the model file's bytes and the
// training log.
type outcome struct {
	model []byte
	log   withdata.RunLog
	slog  *stageLog
}

// run runs the stage (three epochs of an MLP on 256 MNIST images, with
// momentum, warm-up, a cosine schedule and random crops) into a fresh
// output folder with checkpoint folder ckpt, cancelling after epoch
// stopAfter (0: never). extra overrides parameters.
func (f fixture) run(t *testing.T, ckpt string, resumed bool, stopAfter int, extra map[string]any) (outcome, error) {
	t.Helper()
	pm := map[string]any{"model": "mlp", "epochs": 3, "train_limit": 256, "batch_size": 32, "lr": 0.05,
		"momentum": 0.9, "weight_decay": 5e-4, "warmup_epochs": 1, "augment": "crop", "seed": 3}
	maps.Copy(pm, extra)
	params, err := pipeline.NewParams(pm)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &stageLog{stopAfter: stopAfter, cancel: cancel}
	out := t.TempDir()
	sc := &pipeline.StageContext{Name: "pretrain", Kind: "pretrain", Key: "k", Params: params, Inputs: f.inputs,
		OutDir: out, CheckpointDir: ckpt, Resumed: resumed, Threads: 2, Log: slog.New(l)}
	o := outcome{slog: l}
	p, err := decode(params)
	if err != nil {
		t.Fatal(err)
	}
	// Run after loading the dataset (loaded once for all runs: decoding
	// MNIST costs more than this training).
	if err := run(ctx, sc, p, f.d); err != nil {
		return o, err
	}
	if o.model, err = os.ReadFile(filepath.Join(out, stageio.ModelFile)); err != nil {
		t.Fatal(err)
	}
	if err := stageio.ReadJSON(out, "train.log.json", &o.log); err != nil {
		t.Fatal(err)
	}
	return o, nil
}

// withoutTimes is the log with wall times, throughputs, the output path
// and the resumption points cleared.
func withoutTimes(l withdata.RunLog) withdata.RunLog {
	c := l
	tl := *l.TrainLog
	tl.Seconds, tl.ResumedAt = 0, nil
	tl.Epochs = slices.Clone(tl.Epochs)
	for i := range tl.Epochs {
		tl.Epochs[i].Seconds, tl.Epochs[i].ImagesPerSec = 0, 0
	}
	c.TrainLog, c.Out = &tl, ""
	return c
}

// same fails unless got is want's model and log (times aside).
func same(t *testing.T, what string, got, want outcome) {
	t.Helper()
	if !bytes.Equal(got.model, want.model) {
		t.Errorf("%s: model.safetensors differs from the uninterrupted run's", what)
	}
	if g, w := withoutTimes(got.log), withoutTimes(want.log); !reflect.DeepEqual(g, w) {
		t.Errorf("%s: train.log.json differs from the uninterrupted run's (times aside):\n got %+v\nwant %+v", what, *g.TrainLog, *w.TrainLog)
	}
}

// TestResumeIsExact: the stage interrupted after epoch 1 and run again
// continues at epoch 2 and leaves the same model bytes and log (times
// aside) as the run in one go; a damaged checkpoint, one the trainer
// refuses and one of other parameters are ignored with a log line, and the
// stage trains from epoch 1 to the same result.
func TestResumeIsExact(t *testing.T) {
	f := newFixture(t)
	want, err := f.run(t, filepath.Join(t.TempDir(), "ckpt"), false, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.log.Epochs) != 3 || len(want.log.ResumedAt) != 0 {
		t.Fatalf("uninterrupted run: %d epochs, resumed at %v", len(want.log.Epochs), want.log.ResumedAt)
	}

	// After epoch 1, and after the last epoch (during the test-set
	// evaluation: no epoch is left, the model must come from the state).
	var state []byte
	for _, k := range []int{1, 3} {
		ckpt := filepath.Join(t.TempDir(), "ckpt")
		if _, err := f.run(t, ckpt, false, k, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("run interrupted after epoch %d: error %v, want context.Canceled", k, err)
		}
		b, err := os.ReadFile(filepath.Join(ckpt, CheckpointFile))
		if err != nil {
			t.Fatalf("no checkpoint after the interruption: %v", err)
		}
		if k == 1 {
			state = b
		}
		got, err := f.run(t, ckpt, true, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		same(t, fmt.Sprintf("resumed after epoch %d", k), got, want)
		msg := fmt.Sprintf("resumed at epoch %d", k+1)
		if !slices.Equal(got.log.ResumedAt, []int{k + 1}) || !got.slog.has(msg) {
			t.Errorf("resumed run: train.log.json resumed_at %v, log lines %q; want [%d] and %q", got.log.ResumedAt, got.slog.lines, k+1, msg)
		}
	}

	// A flipped byte in the middle of the weights.
	damaged := filepath.Join(t.TempDir(), "ckpt")
	bad := slices.Clone(state)
	bad[len(bad)/2] ^= 1
	writeState(t, damaged, bad)
	got, err := f.run(t, damaged, true, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "damaged checkpoint", got, want)
	if len(got.log.ResumedAt) != 0 || !got.slog.has("ignoring the checkpoint", "digest") {
		t.Errorf("damaged checkpoint: resumed at %v, log %q", got.log.ResumedAt, got.slog.lines)
	}

	// The stage's key matches, but the state is of another training set
	// size: the trainer refuses it.
	s, md, err := nn.DecodeTrainState(state)
	if err != nil {
		t.Fatal(err)
	}
	s.Log.TrainN = 255
	b, err := nn.EncodeTrainState(s, md)
	if err != nil {
		t.Fatal(err)
	}
	refused := filepath.Join(t.TempDir(), "ckpt")
	writeState(t, refused, b)
	got, err = f.run(t, refused, true, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "refused checkpoint", got, want)
	if len(got.log.ResumedAt) != 0 || !got.slog.has("ignoring the checkpoint", "255 examples") || got.slog.has("resumed at") {
		t.Errorf("refused checkpoint: resumed at %v, log %q", got.log.ResumedAt, got.slog.lines)
	}

	// The interrupted run's checkpoint under other parameters.
	other := filepath.Join(t.TempDir(), "ckpt")
	writeState(t, other, state)
	got, err = f.run(t, other, true, 0, map[string]any{"lr": 0.02})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.log.ResumedAt) != 0 || len(got.log.Epochs) != 3 || got.log.Config.LR != 0.02 ||
		!got.slog.has("ignoring the checkpoint", "other parameters") {
		t.Errorf("checkpoint of other parameters: resumed at %v, %d epochs, lr %v, log %q",
			got.log.ResumedAt, len(got.log.Epochs), got.log.Config.LR, got.slog.lines)
	}
}

func writeState(t *testing.T, dir string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CheckpointFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
