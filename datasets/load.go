package datasets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Load fetches dataset name into the cache if needed (see Fetch), decodes
// it, carves the validation split from the official training set and
// computes the normalisation constants on what remains for training.
func Load(ctx context.Context, name string, opt Options) (*Dataset, error) {
	sp, err := lookup(name)
	if err != nil {
		return nil, err
	}
	valSize, seed := opt.ValSize, opt.SplitSeed
	if valSize == 0 {
		valSize = DefaultValSize
	}
	if valSize < 0 {
		valSize = 0
	}
	if seed == 0 {
		seed = 1
	}
	if valSize >= sp.nTrain {
		return nil, fmt.Errorf("datasets: %s: validation size %d: expected fewer than the %d official training images", sp.name, valSize, sp.nTrain)
	}

	fr, err := Fetch(ctx, name, opt)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	train, test, err := decode(ctx, sp, fr)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", sp.name, err)
	}
	d := &Dataset{
		Name: sp.name, C: sp.c, H: sp.h, W: sp.w,
		Classes:   append([]string(nil), sp.classes...),
		Train:     train,
		Test:      test,
		Source:    fr.Source,
		Files:     fr.Files,
		ValSize:   valSize,
		SplitSeed: seed,
	}
	if fr.Origin != "" {
		d.Source += " (fetched from " + fr.Origin + ")"
	}
	if valSize > 0 {
		val, err := ValidationIndices(d.Train.Labels, len(d.Classes), valSize, seed)
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: %w", sp.name, err)
		}
		d.ValIndices = val
		d.Val = carve(&d.Train, val, d.Dim())
	}
	d.Mean, d.Std = channelStats(&d.Train, d.C, d.H*d.W)
	d.norm = newNormTable(d.Mean, d.Std)
	opt.logger().Debug("dataset loaded", "dataset", sp.name, "train", d.Train.N, "val", d.Val.N, "test", d.Test.N, "seconds", time.Since(start).Seconds())
	return d, nil
}

// decode reads the official training and test sets from the fetched files.
func decode(ctx context.Context, sp *spec, fr FetchResult) (train, test Split, err error) {
	l := sp.layouts[fr.layout]
	path := func(i int) string { return filepath.Join(fr.Dir, l.files[i].name) }
	if sp.idx {
		train, err = readIDXPair(path(0), path(1), sp, sp.nTrain)
		if err != nil {
			return Split{}, Split{}, err
		}
		if err := ctx.Err(); err != nil {
			return Split{}, Split{}, err
		}
		test, err = readIDXPair(path(2), path(3), sp, sp.nTest)
		return train, test, err
	}
	if l.tar {
		f, err := os.Open(path(0))
		if err != nil {
			return Split{}, Split{}, err
		}
		defer f.Close()
		return readCIFAR10Tar(readerCtx{ctx, f}, path(0), sp.nTest)
	}
	return readCIFAR10Dir(fr.Dir, sp.nTest)
}

// readIDXPair reads an images file and a labels file of exactly n items.
func readIDXPair(images, labels string, sp *spec, n int) (Split, error) {
	fi, err := os.Open(images)
	if err != nil {
		return Split{}, err
	}
	defer fi.Close()
	pix, _, err := ReadIDXImages(fi, images, n, sp.h, sp.w, n)
	if err != nil {
		return Split{}, err
	}
	fl, err := os.Open(labels)
	if err != nil {
		return Split{}, err
	}
	defer fl.Close()
	lab, err := ReadIDXLabels(fl, labels, n, len(sp.classes), n)
	if err != nil {
		return Split{}, err
	}
	return Split{Images: pix, Labels: lab, N: n}, nil
}
