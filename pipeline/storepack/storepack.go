// Package storepack carries store entries between machines (ccq store
// export and ccq store import): a gzip-compressed tar archive holding, for
// each entry, its folder as the store keeps it, under <kind>/<key>/.
//
// # Format
//
// Export writes the entries sorted by kind and key; each entry is its
// folder <kind>/<key>/, its manifest.json, then the files the manifest
// lists, sorted by path, each preceded by the folders it lies in. Every
// item has modification time 0 (1970-01-01), owner and group 0 without
// names, and mode 0644 (files) or 0755 (folders), so the same entries give
// the same bytes on any machine and at any time.
//
// # Import
//
// Import trusts nothing in the archive. It streams it once: every item
// must be a regular file or a folder (no links, devices, sparse files or
// other special files) at <kind>/<key>/<path> (store.SplitPath: kind and
// key valid store names, path clean and inside the entry), no file may
// exceed MaxFileBytes, and neither the uncompressed stream nor the files'
// sizes added up may exceed MaxArchiveBytes. The items of one entry must
// follow each other: an entry ends where another begins, and
// an item of an entry that already ended is refused (the entry itself is
// not changed by it). Each entry is written into a temporary folder of the
// store and put into place by store.Pending.Adopt, which accepts it only
// if its manifest parses, has the current format, names the same kind and
// key and status ok, and every file it lists is there with its size and
// SHA-256 and no other file is. A refused entry leaves nothing in the
// store; the other entries are still imported. An entry the store already
// holds (accepted by store.Lookup) is kept as it is, never replaced; a
// damaged one is replaced by a good copy. A truncated or corrupt archive
// (including a bad gzip checksum) stops the import with an error: the
// entries completed before the damage are kept, the one being read is not.
package storepack

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ccq-project/ccq/internal/digest"
	"github.com/ccq-project/ccq/pipeline/store"
)

// MaxFileBytes is the largest file Import accepts in an entry (the
// largest stage outputs, datasets and models, are far smaller).
const MaxFileBytes int64 = 16 << 30

// MaxArchiveBytes bounds the uncompressed size of an archive Import reads
// (file contents and tar headers together) and the sizes of its files
// added up, so that a small compressed archive cannot fill the disk.
const MaxArchiveBytes int64 = 256 << 30

// Gathered sorts entries to export into those the store holds and that
// pass a full check, those it does not hold and those that are damaged.
type Gathered struct {
	// Entries passed store.Lookup and Entry.Check(true); sorted by kind and key.
	Entries []*store.Entry
	// Missing are not in the store.
	Missing []store.Ref
	// Damaged are in the store but not acceptable or not matching their
	// manifest; they are never exported.
	Damaged []Damaged
}

// Damaged is an entry that failed its check, with the failure.
type Damaged struct {
	Ref store.Ref
	Err error
}

// Gather looks every ref up in st (each once) and checks the entries it
// finds fully (every file's digest, no unlisted file).
func Gather(ctx context.Context, st *store.Store, refs []store.Ref) (*Gathered, error) {
	refs = sortedRefs(refs)
	g := &Gathered{}
	for _, r := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := st.Lookup(r.Kind, r.Key)
		if err == nil {
			err = e.Check(true)
		}
		switch {
		case err == nil:
			g.Entries = append(g.Entries, e)
		case errors.Is(err, store.ErrNotFound):
			g.Missing = append(g.Missing, r)
		default:
			g.Damaged = append(g.Damaged, Damaged{Ref: r, Err: err})
		}
	}
	return g, nil
}

// sortedRefs returns refs sorted by kind and key, without duplicates.
func sortedRefs(refs []store.Ref) []store.Ref {
	out := append([]store.Ref(nil), refs...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Key < out[j].Key
	})
	n := 0
	for i, r := range out {
		if i == 0 || r != out[n-1] {
			out[n] = r
			n++
		}
	}
	return out[:n]
}

// epoch is the modification time of every item of an archive.
var epoch = time.Unix(0, 0)

// Export writes entries (checked by Gather, or otherwise known good) to w
// as a gzip-compressed tar archive in the format of the package doc. It
// copies each file's content while hashing it and fails, naming the file,
// when the content no longer matches the manifest (a file changed since
// it was checked). w receives the whole archive only on success; the
// caller writes it to a temporary name (package atomicfile).
func Export(ctx context.Context, entries []*store.Entry, w io.Writer) error {
	sorted := append([]*store.Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i].Manifest, sorted[j].Manifest
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Key < b.Key
	})
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	var last store.Ref
	for i, e := range sorted {
		ref := store.Ref{Kind: e.Manifest.Kind, Key: e.Manifest.Key}
		if i > 0 && ref == last {
			continue
		}
		last = ref
		if err := exportEntry(ctx, tw, ref, e); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("storepack: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("storepack: %w", err)
	}
	return nil
}

// exportEntry writes one entry: its folder, its manifest, then its files.
func exportEntry(ctx context.Context, tw *tar.Writer, ref store.Ref, e *store.Entry) error {
	prefix := ref.String()
	if err := writeDir(tw, prefix); err != nil {
		return err
	}
	if err := exportFile(ctx, tw, e, prefix, store.ManifestName, -1, ""); err != nil {
		return err
	}
	outs := append([]store.Output(nil), e.Manifest.Outputs...)
	sort.Slice(outs, func(i, j int) bool { return outs[i].Path < outs[j].Path })
	dirs := map[string]bool{}
	for _, o := range outs {
		// The folders a file lies in come before it, each once.
		var parents []string
		for d := path.Dir(o.Path); d != "."; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if !dirs[parents[i]] {
				dirs[parents[i]] = true
				if err := writeDir(tw, prefix+"/"+parents[i]); err != nil {
					return err
				}
			}
		}
		if err := exportFile(ctx, tw, e, prefix, o.Path, o.Size, o.SHA256); err != nil {
			return err
		}
	}
	return nil
}

func writeDir(tw *tar.Writer, name string) error {
	h := &tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: epoch}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("storepack: %s: %w", name, err)
	}
	return nil
}

// exportFile writes the file rel of entry e. size < 0 takes the file's
// size as found (the manifest); otherwise the file must have that size and
// the SHA-256 sum.
func exportFile(ctx context.Context, tw *tar.Writer, e *store.Entry, prefix, rel string, size int64, sum string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := e.Path(rel)
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("storepack: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storepack: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("storepack: %s is not a regular file", p)
	}
	if size < 0 {
		size = fi.Size()
	} else if fi.Size() != size {
		return fmt.Errorf("storepack: %s has %d bytes, the manifest says %d (changed since it was checked)", p, fi.Size(), size)
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: prefix + "/" + rel, Size: size, Mode: 0o644, ModTime: epoch}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("storepack: %s: %w", h.Name, err)
	}
	hs := digest.NewHasher()
	if _, err := io.CopyN(io.MultiWriter(tw, hs), f, size); err != nil {
		return fmt.Errorf("storepack: copying %s: %w", p, err)
	}
	if sum != "" && hs.Hex() != sum {
		return fmt.Errorf("storepack: %s has SHA-256 %s, the manifest says %s (changed since it was checked)", p, hs.Hex(), sum)
	}
	return nil
}

// Summary is what Import did with the entries of an archive.
type Summary struct {
	// Imported entries were adopted into the store.
	Imported []store.Ref
	// Present entries were already accepted in the store and kept.
	Present []store.Ref
	// Refused lists the entries (and stray items) not imported, and why.
	Refused []Refusal
}

// Refusal is an entry or item of an archive that Import refused.
type Refusal struct {
	// Archive is the archive's name as given to Import.
	Archive string `json:"archive"`
	// Entry is "<kind>/<key>", or "" for an item outside any valid entry.
	Entry string `json:"entry,omitempty"`
	// Item is the archive path of the offending item, when one item is at fault.
	Item string `json:"item,omitempty"`
	// Reason says what is wrong and what was expected.
	Reason string `json:"reason"`
}

func (r Refusal) String() string {
	if r.Entry == "" {
		return fmt.Sprintf("archive %s: item %q refused: %s", r.Archive, r.Item, r.Reason)
	}
	return fmt.Sprintf("archive %s: entry %s refused: %s", r.Archive, r.Entry, r.Reason)
}

// Import reads the gzip-compressed tar archive r (named name in messages)
// into st, as the package doc says. It returns what it did with each
// entry; the error is about the archive as a whole (not gzip, truncated,
// corrupt, over MaxArchiveBytes), a failure of the store's folder (a full
// disk) or ctx's, and names the archive. Even with an error, the summary
// holds the entries imported before it.
func Import(ctx context.Context, st *store.Store, r io.Reader, name string) (*Summary, error) {
	im := &importer{ctx: ctx, st: st, name: name, sum: &Summary{}, seen: map[store.Ref]bool{}, refused: map[store.Ref]bool{}}
	err := im.run(r)
	if im.cur != nil && im.cur.p != nil {
		_ = im.cur.p.Abort()
	}
	if err != nil {
		return im.sum, fmt.Errorf("archive %s: %w", name, err)
	}
	return im.sum, nil
}

// importer is the state of one Import.
type importer struct {
	ctx  context.Context
	st   *store.Store
	name string
	sum  *Summary
	// cur is the entry being read, nil before the first.
	cur *current
	// seen holds every entry begun so far, refused those refused.
	seen, refused map[store.Ref]bool
	// content is the sum of the sizes of the files read so far.
	content int64
}

// current is the entry being read: p is its temporary folder, nil when
// its items are skipped (present, refused or out of place).
type current struct {
	ref store.Ref
	p   *store.Pending
}

// archiveError is a read error of the archive (as opposed to the store's).
type archiveError struct{ err error }

func (e *archiveError) Error() string { return e.err.Error() }
func (e *archiveError) Unwrap() error { return e.err }

// limitedReader reads at most n bytes and then fails, and stops when ctx is done.
type limitedReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	if l.n <= 0 {
		return 0, fmt.Errorf("more than %d bytes uncompressed (the limit, MaxArchiveBytes)", MaxArchiveBytes)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func (im *importer) run(r io.Reader) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzip-compressed tar archive: %w", err)
	}
	defer gz.Close()
	data := &limitedReader{ctx: im.ctx, r: gz, n: MaxArchiveBytes}
	tr := tar.NewReader(data)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// Read on to the end of the gzip stream, so that its checksum
			// and length are checked before the last entry is adopted.
			if _, err := io.Copy(io.Discard, data); err != nil {
				return im.corrupt(err)
			}
			return im.finish()
		}
		if err != nil {
			if cerr := im.ctx.Err(); cerr != nil {
				return cerr
			}
			return im.corrupt(err)
		}
		if err := im.item(h, tr); err != nil {
			var ae *archiveError
			if errors.As(err, &ae) {
				return im.corrupt(ae.err)
			}
			return err
		}
	}
}

// corrupt describes a read error of the archive and where it happened.
func (im *importer) corrupt(err error) error {
	if cerr := im.ctx.Err(); cerr != nil {
		return cerr
	}
	where := "before its first entry"
	if im.cur != nil {
		where = "in entry " + im.cur.ref.String() + " (not imported)"
	}
	return fmt.Errorf("truncated or corrupt %s: %w", where, err)
}

// item handles one header of the archive.
func (im *importer) item(h *tar.Header, tr io.Reader) error {
	name := h.Name
	if h.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 2 || store.CheckSegment(parts[0]) != nil || store.CheckSegment(parts[1]) != nil {
		im.refuse(Refusal{Item: h.Name, Reason: "not in an entry folder <kind>/<key>/ with valid store names"})
		return nil
	}
	ref := store.Ref{Kind: parts[0], Key: parts[1]}
	if im.cur == nil || im.cur.ref != ref {
		if err := im.finish(); err != nil {
			return err
		}
		if im.seen[ref] {
			// Items of an entry that already ended: skipped (and
			// reported, unless the entry was refused already).
			im.cur = &current{ref: ref}
			if im.refused[ref] {
				return nil
			}
			im.refuse(Refusal{Entry: ref.String(), Item: h.Name, Reason: fmt.Sprintf(
				"item %s comes after items of other entries (the items of an entry must follow each other); the item was left out", h.Name)})
			return nil
		}
		if err := im.begin(ref); err != nil {
			return err
		}
	}
	if im.cur.p == nil {
		return nil
	}
	_, _, rel, err := store.SplitPath(name)
	if err != nil {
		return im.refuseCur(h.Name, strings.TrimPrefix(err.Error(), "store: "))
	}
	dst := filepath.Join(im.cur.p.Dir(), filepath.FromSlash(rel))
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return im.refuseCur(h.Name, fmt.Sprintf("folder %s: %v", rel, err))
		}
		return nil
	case tar.TypeReg:
		if rel == "" {
			return im.refuseCur(h.Name, "a file where the entry folder should be")
		}
		if sparse(h) {
			// Its holes would be read as zeros that the archive does
			// not hold, past MaxArchiveBytes.
			return im.refuseCur(h.Name, fmt.Sprintf("%s is a sparse file; only regular files and folders are allowed", h.Name))
		}
		if h.Size > MaxFileBytes {
			return im.refuseCur(h.Name, fmt.Sprintf("file %s: %d bytes, more than the limit of %d (MaxFileBytes)", rel, h.Size, MaxFileBytes))
		}
		if im.content += h.Size; im.content > MaxArchiveBytes {
			return fmt.Errorf("files of more than %d bytes in all (the limit, MaxArchiveBytes); entry %s not imported", MaxArchiveBytes, im.cur.ref)
		}
		return im.writeFile(h.Name, rel, dst, tr)
	default:
		return im.refuseCur(h.Name, fmt.Sprintf("%s is %s; only regular files and folders are allowed", h.Name, typeName(h.Typeflag)))
	}
}

// typeName describes a tar item type.
func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "a symbolic link"
	case tar.TypeLink:
		return "a hard link"
	case tar.TypeGNUSparse:
		return "a sparse file"
	case tar.TypeChar, tar.TypeBlock:
		return "a device"
	case tar.TypeFifo:
		return "a named pipe"
	default:
		return fmt.Sprintf("of tar type %q", t)
	}
}

// sparse reports whether h is a sparse file in the PAX format (the tar
// reader gives it as a regular file; an old GNU sparse file keeps its type).
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// begin starts entry ref: skipped when the store already holds it,
// otherwise read into a temporary folder.
func (im *importer) begin(ref store.Ref) error {
	im.seen[ref] = true
	im.cur = &current{ref: ref}
	if _, err := im.st.Lookup(ref.Kind, ref.Key); err == nil {
		im.sum.Present = append(im.sum.Present, ref)
		return nil
	}
	p, err := im.st.Begin(ref.Kind, ref.Key)
	if err != nil {
		return err
	}
	im.cur.p = p
	return nil
}

// writeFile copies the content of item name into dst, a new file.
func (im *importer) writeFile(name, rel, dst string, tr io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return im.refuseCur(name, fmt.Sprintf("file %s: %v", rel, err))
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return im.refuseCur(name, fmt.Sprintf("file %s appears twice", rel))
	}
	if err != nil {
		return im.refuseCur(name, fmt.Sprintf("file %s: %v", rel, err))
	}
	_, err = io.Copy(f, readErrors{tr})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		var ae *archiveError
		if errors.As(err, &ae) {
			return err
		}
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}

// readErrors marks the errors of reading r as archive errors.
type readErrors struct{ r io.Reader }

func (r readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = &archiveError{err}
	}
	return n, err
}

// finish ends the current entry: adopts it if it is being read.
func (im *importer) finish() error {
	c := im.cur
	if c == nil || c.p == nil {
		return nil
	}
	p := c.p
	c.p = nil
	// (Adopt removes the temporary folder when it fails.)
	_, kept, err := p.Adopt()
	switch {
	case err == nil && kept:
		im.sum.Present = append(im.sum.Present, c.ref)
	case err == nil:
		im.sum.Imported = append(im.sum.Imported, c.ref)
	case errors.Is(err, store.ErrCorrupt):
		var de *store.DamageError
		reason := err.Error()
		if errors.As(err, &de) {
			reason = fmt.Sprintf("file %s: %s", de.File, de.Problem)
		}
		im.refuse(Refusal{Entry: c.ref.String(), Reason: reason})
	default:
		return err
	}
	return nil
}

// refuse records a refusal.
func (im *importer) refuse(r Refusal) {
	r.Archive = im.name
	if r.Entry != "" {
		im.refused[im.cur.ref] = true
	}
	im.sum.Refused = append(im.sum.Refused, r)
}

// refuseCur refuses the current entry because of item name: its
// temporary folder is removed and its other items are skipped.
func (im *importer) refuseCur(name, reason string) error {
	c := im.cur
	if err := c.p.Abort(); err != nil {
		return err
	}
	c.p = nil
	im.refuse(Refusal{Entry: c.ref.String(), Item: name, Reason: reason})
	return nil
}
