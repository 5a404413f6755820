// Package atomicfile is ccq's one way to write a file: to a temporary file
// in the target's folder, fsynced, renamed over the target, and the folder
// fsynced, so that a reader sees the old content or the whole new one,
// never part of a file, also after a crash. Every writer of outputs,
// checkpoints, logs and state files goes through it.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Options change how a file is written; the zero value is the durable
// default (mode 0644, fsync of the file and its folder).
type Options struct {
	// Perm is the file mode (default 0644).
	Perm os.FileMode
	// NoSync skips both fsyncs: the write stays atomic (rename) but a
	// crash may lose it. Only for state files rewritten every few seconds
	// (progress, status), whose loss costs nothing.
	NoSync bool
}

// Write writes data to path durably (see the package doc).
func Write(path string, data []byte) error {
	return WriteWith(path, Options{}, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteUnsynced writes data to path atomically without fsync (Options.NoSync).
func WriteUnsynced(path string, data []byte) error {
	return WriteWith(path, Options{NoSync: true}, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith streams the content fn writes into a temporary file and puts
// it at path as Write does. Nothing is left behind when fn or a step fails;
// errors name path (fn's error is wrapped, so errors.Is still finds it).
func WriteWith(path string, o Options, fn func(w io.Writer) error) error {
	f, err := Create(path, o)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

// File is a file being written: a temporary file next to its target that
// Commit puts in place, for writers that stream or check what they wrote
// (by Name) before keeping it.
type File struct {
	*os.File
	path string
	o    Options
}

// Create starts writing path.
func Create(path string, o Options) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if o.Perm == 0 {
		o.Perm = 0o644
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	f := &File{File: tmp, path: path, o: o}
	if err := tmp.Chmod(o.Perm); err != nil {
		f.Abort()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return f, nil
}

// Abort closes and removes the temporary file; the target is untouched.
func (f *File) Abort() {
	f.File.Close()
	os.Remove(f.File.Name())
}

// Commit fsyncs and closes the temporary file, renames it over the target
// and fsyncs the folder (no fsyncs with Options.NoSync). On error nothing
// is left behind.
func (f *File) Commit() error {
	name := f.File.Name()
	if !f.o.NoSync {
		if err := f.File.Sync(); err != nil {
			f.Abort()
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	if err := f.File.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	if err := os.Rename(name, f.path); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	if f.o.NoSync {
		return nil
	}
	return SyncDir(filepath.Dir(f.path))
}

// SyncDir fsyncs a folder, making renames and new entries in it durable
// (a file system that cannot sync folders, os.ErrInvalid, is not an error).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing folder %s: %w", dir, err)
	}
	return nil
}
