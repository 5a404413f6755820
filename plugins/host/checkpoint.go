package host

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/plugins/internal/snapcodec"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

// ckptMagic starts a checkpoint. Older formats are still read:
// ckptMagicV2 lacks the first and last base fitness (read as 0), and
// ckptMagicV1 also the best validated base (its runs had no selection).
const (
	ckptMagic   = "CCQCKPT3\n"
	ckptMagicV2 = "CCQCKPT2\n"
	ckptMagicV1 = "CCQCKPT1\n"
)

// fingerprint identifies a run's problem and optimizer: a checkpoint only
// resumes the run it was written by (the budget may change).
func fingerprint(name string, p *optimizer.Problem) [32]byte {
	h := sha256.New()
	w := func(b []byte) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	i8 := func(v []int8) {
		b := make([]byte, len(v))
		for i, x := range v {
			b[i] = byte(x)
		}
		w(b)
	}
	w([]byte(name))
	i8(p.Start)
	i8(p.Lo)
	i8(p.Hi)
	i8(p.Alphabet)
	for _, l := range p.Layers {
		w([]byte(fmt.Sprintf("%s/%d/%d/%v", l.Name, l.Offset, l.Count, l.Shape)))
	}
	w([]byte(fmt.Sprintf("seed=%d lambda=%d", p.Seed, p.Lambda)))
	w(p.Params)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// encodeCheckpoint serialises a checkpoint; a SHA-256 of everything before
// it ends the record, so a damaged file is detected.
func encodeCheckpoint(fp [32]byte, st *state, snap []byte) []byte {
	e := snapcodec.NewEncoder(ckptMagic)
	e.Raw(fp[:])
	e.I64(st.gen)
	e.I64(st.evals)
	e.U64(st.batch)
	e.I64(int64(st.elapsed))
	e.Raw(st.rng)
	e.I8s(st.base)
	e.I64(st.bestGen)
	e.F64(st.bestVal)
	e.I8s(st.bestBase)
	e.F64(st.firstFit)
	e.F64(st.lastFit)
	e.Raw(snap)
	b := e.Bytes()
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// decodeCheckpoint parses and checks a checkpoint for a run with
// fingerprint fp and n variables.
func decodeCheckpoint(raw []byte, fp [32]byte, n int) (*state, []byte, error) {
	if len(raw) < len(ckptMagic)+sha256.Size {
		return nil, nil, fmt.Errorf("truncated (%d bytes)", len(raw))
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if got := sha256.Sum256(body); string(got[:]) != string(sum) {
		return nil, nil, fmt.Errorf("damaged: checksum mismatch")
	}
	magic := ckptMagic
	for _, old := range []string{ckptMagicV2, ckptMagicV1} {
		if len(body) >= len(old) && string(body[:len(old)]) == old {
			magic = old
		}
	}
	d := snapcodec.NewDecoder(body, magic)
	gotFP := d.Field("fingerprint").Raw()
	st := &state{}
	st.gen = d.Field("generation").I64()
	st.evals = d.Field("evaluations").I64()
	st.batch = d.Field("batch").U64()
	st.elapsed = time.Duration(d.Field("elapsed").I64())
	st.rng = d.Field("rng").Raw()
	st.base = d.Field("base").I8s()
	if magic != ckptMagicV1 {
		st.bestGen = d.Field("best generation").I64()
		st.bestVal = d.Field("best validation accuracy").F64()
		st.bestBase = d.Field("best base").I8s()
	}
	if magic == ckptMagic {
		st.firstFit = d.Field("first base fitness").F64()
		st.lastFit = d.Field("last base fitness").F64()
	}
	snap := d.Field("snapshot").Raw()
	if err := d.Done(); err != nil {
		return nil, nil, err
	}
	if string(gotFP) != string(fp[:]) {
		return nil, nil, fmt.Errorf("written by another run (other optimizer, problem, seed or parameters)")
	}
	if st.gen < 0 || st.evals < 0 || st.elapsed < 0 {
		return nil, nil, fmt.Errorf("negative counters")
	}
	if len(st.base) != n {
		return nil, nil, fmt.Errorf("base has %d levels, the problem %d", len(st.base), n)
	}
	if len(st.bestBase) == 0 {
		st.bestBase = nil
	} else if len(st.bestBase) != n || st.bestGen < 0 || st.bestGen > st.gen || math.IsNaN(st.bestVal) {
		return nil, nil, fmt.Errorf("best validated base: %d levels (problem %d), generation %d (run at %d), accuracy %v", len(st.bestBase), n, st.bestGen, st.gen, st.bestVal)
	}
	return st, snap, nil
}

// writeCheckpoint writes durably with package atomicfile.
func writeCheckpoint(path string, fp [32]byte, st *state, snap []byte) error {
	if err := atomicfile.Write(path, encodeCheckpoint(fp, st, snap)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// MoveCheckpointAside renames the checkpoint at path out of the way, to
// path.damaged-<UTC time>, so that a run can start over while the file stays
// in its folder for inspection. It returns the new path.
func MoveCheckpointAside(path string) (string, error) {
	aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("moving checkpoint %s aside: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return aside, nil
}
