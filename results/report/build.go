// Package report builds ccq's experiment report from the result tables of
// runs/<experiment>/: the main table per (dataset, model) with
// significance marks, ablation tables, convergence plots and provenance,
// written as report.md, a self-contained report.html, tables/*.csv and
// plots/*.svg|png. It also renders the main table for a terminal and
// compares two experiments cell by cell.
package report

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/results"
)

// Options tunes Build.
type Options struct {
	// Reference is the method the significance marks compare against
	// (default "ccea").
	Reference string
	// Alpha is the significance level after Holm correction (default 0.05).
	Alpha float64
	// Pairs, when set, replace Reference: the marks test each pair's first
	// method against its second (see TableOptions.Pairs).
	Pairs []Pair
	// Partial marks the report as partial even when the files do not say so
	// (the pipeline sets it when it builds a report while stages still run).
	Partial bool
	// NoPNG skips the PNG copies of the plots (SVG is always written).
	NoPNG bool
	// Now is the clock for the "built at" line (default time.Now).
	Now func() time.Time
	// BuiltBy is the ccq named in the "report built by" line (default
	// version.Resolve: this binary, its commit asked from git).
	BuiltBy *version.Info
	// Logger receives progress messages (default slog.Default()).
	Logger *slog.Logger
}

// Summary tells what Build found and wrote.
type Summary struct {
	Dir string `json:"dir"`
	// Files are the paths written, relative to Dir.
	Files []string `json:"files"`
	// Partial is set when the experiment is still running or incomplete;
	// PartialReasons says why.
	Partial        bool     `json:"partial"`
	PartialReasons []string `json:"partial_reasons,omitempty"`
	Runs           int      `json:"runs"`
	FailedRuns     int      `json:"failed_runs"`
	EvolveRuns     int      `json:"evolve_runs"`
	Generations    int      `json:"generations"`
	Stages         int      `json:"stages"`
	Figures        int      `json:"figures"`
	MainTables     []Table  `json:"main_tables"`
	Ablations      []Table  `json:"ablations,omitempty"`
	// GapTables give each optimizer row's share of the gap between its
	// start and the float model that it closed.
	GapTables []Table  `json:"gap_tables,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Data is everything read from a results folder.
type Data struct {
	Dir        string
	Runs       []results.RunRow
	HaveRuns   bool
	Stages     []results.StageRow
	HaveStages bool
	Curves     []results.Curve
	Provenance *results.Provenance
	Experiment []byte // the experiment file copy, nil if absent
}

// Load reads a results folder: runs.parquet, generations/, stages.parquet,
// provenance.json and experiment.toml, each optional (a missing one is
// recorded, a corrupt one is an error naming the file).
func Load(ctx context.Context, dir string) (*Data, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("results folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("results folder %s: not a folder", dir)
	}
	d := &Data{Dir: dir}
	if p := filepath.Join(dir, results.RunsFile); fileExists(p) {
		if d.Runs, err = results.ReadRuns(p); err != nil {
			return nil, err
		}
		d.HaveRuns = true
	}
	if p := filepath.Join(dir, results.StagesFile); fileExists(p) {
		if d.Stages, err = results.ReadStages(p); err != nil {
			return nil, err
		}
		d.HaveStages = true
	}
	if p := filepath.Join(dir, results.ProvenanceFile); fileExists(p) {
		pv, err := results.ReadProvenance(p)
		if err != nil {
			return nil, err
		}
		d.Provenance = &pv
	}
	if p := filepath.Join(dir, results.ExperimentCopy); fileExists(p) {
		if d.Experiment, err = os.ReadFile(p); err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
	}
	if d.Curves, err = results.LoadCurves(ctx, filepath.Join(dir, results.GenerationsDir)); err != nil {
		return nil, err
	}
	return d, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Build reads the results folder dir and writes the report into it:
// report.md, report.html, tables/*.csv and plots/*.svg (and *.png unless
// opts.NoPNG). Every file is written to a temporary name and renamed.
func Build(ctx context.Context, dir string, opts Options) (Summary, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Reference == "" {
		opts.Reference = "ccea"
	}
	if opts.Alpha == 0 {
		opts.Alpha = 0.05
	}
	d, err := Load(ctx, dir)
	if err != nil {
		return Summary{}, err
	}
	r := analyse(d, opts)
	if opts.BuiltBy != nil {
		r.builtBy = *opts.BuiltBy
	} else {
		r.builtBy = version.Resolve(ctx)
	}
	if err := r.write(ctx, opts); err != nil {
		return r.sum, err
	}
	opts.Logger.Info("report written", "dir", dir, "tables", len(r.sum.MainTables)+len(r.sum.Ablations),
		"figures", r.sum.Figures, "partial", r.sum.Partial)
	return r.sum, nil
}

// built is an analysed experiment ready to be written.
type built struct {
	d       *Data
	sum     Summary
	convs   []Convergence
	sweeps  []Sweep
	builtAt time.Time
	// builtBy is the ccq that builds the report (its commit asked from git
	// when the binary has none).
	builtBy version.Info
}

func analyse(d *Data, opts Options) *built {
	b := &built{d: d, builtAt: opts.Now()}
	s := &b.sum
	s.Dir = d.Dir
	s.Runs = len(d.Runs)
	s.Stages = len(d.Stages)
	s.EvolveRuns = len(d.Curves)
	for _, c := range d.Curves {
		s.Generations += len(c.Generation)
	}
	for _, r := range d.Runs {
		if r.Status != results.StatusOK {
			s.FailedRuns++
		}
	}
	s.MainTables = MainTables(d.Runs, TableOptions{Reference: opts.Reference, Alpha: opts.Alpha, Pairs: opts.Pairs})
	s.Ablations = AblationTables(d.Runs)
	s.GapTables = GapTables(d.Runs)
	b.convs = Convergences(d.Curves)
	b.sweeps = Sweeps(s.Ablations)
	s.Figures = len(b.convs) + len(b.sweeps)

	// Partial or incomplete?
	if opts.Partial {
		s.PartialReasons = append(s.PartialReasons, "the report was built while the experiment was running")
	}
	if d.Provenance != nil && d.Provenance.Status == results.StatusRunning {
		s.PartialReasons = append(s.PartialReasons, "provenance.json says the run is still going")
	}
	if !d.HaveRuns {
		s.PartialReasons = append(s.PartialReasons, "runs.parquet is missing: no evaluated model yet")
	}
	counts := map[string]int{}
	for _, st := range d.Stages {
		counts[st.Status]++
	}
	if n := counts[results.StatusRunning] + counts[results.StatusPending]; n > 0 {
		s.PartialReasons = append(s.PartialReasons, fmt.Sprintf("%d of %d stages have not finished (%d running, %d pending)",
			n, len(d.Stages), counts[results.StatusRunning], counts[results.StatusPending]))
	}
	if n := counts[results.StatusFailed] + counts[results.StatusSkipped]; n > 0 {
		s.PartialReasons = append(s.PartialReasons, fmt.Sprintf("%d stages failed and %d were skipped", counts[results.StatusFailed], counts[results.StatusSkipped]))
	}
	if n := counts[results.StatusUnselected]; n > 0 {
		why := fmt.Sprintf("--only: %d of %d stages were not selected and are not in the store", n, len(d.Stages))
		if pv := d.Provenance; pv != nil && len(pv.Only) > 0 {
			why = fmt.Sprintf("--only: %d of %d stages selected (%s); %d stages outside the selection are not in the store",
				pv.StagesSelected, len(d.Stages), strings.Join(pv.Only, ", "), n)
		}
		s.PartialReasons = append(s.PartialReasons, why+" and did not run (a run without --only completes them)")
	}
	if !d.HaveStages && d.Provenance == nil {
		s.Warnings = append(s.Warnings, "no stages.parquet or provenance.json: completeness and provenance unknown")
	}
	if d.HaveRuns {
		evolved := 0
		for _, r := range d.Runs {
			if r.Kind == results.KindOptimizer {
				evolved++
			}
		}
		if len(d.Curves) > evolved {
			s.PartialReasons = append(s.PartialReasons, fmt.Sprintf("%d evolve runs have generations but only %d evolved models are evaluated",
				len(d.Curves), evolved))
		}
	}
	s.Partial = len(s.PartialReasons) > 0
	return b
}

// write renders every output file.
func (b *built) write(ctx context.Context, opts Options) error {
	dir := b.d.Dir
	for _, sub := range []string{results.ReportTablesDir, results.ReportPlotsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	put := func(rel string, data []byte) error {
		if err := results.WriteFileAtomic(filepath.Join(dir, rel), data); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		b.sum.Files = append(b.sum.Files, rel)
		return nil
	}
	// Tables as CSV.
	for _, t := range append(append(append([]Table{}, b.sum.MainTables...), b.sum.GapTables...), b.sum.Ablations...) {
		var buf bytes.Buffer
		if err := t.CSV(&buf); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := put(filepath.Join(results.ReportTablesDir, tableFileName(&t)+".csv"), buf.Bytes()); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := runsCSV(&buf, b.d.Runs); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := put(filepath.Join(results.ReportTablesDir, "runs.csv"), buf.Bytes()); err != nil {
		return err
	}
	// Plots, rendered on all cores.
	figs := b.figures()
	svgs := make([][]byte, len(figs))
	pngs := make([][]byte, len(figs))
	errs := make([]error, len(figs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxProcs())
	for i, f := range figs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() == nil {
				svgs[i], errs[i] = f.svgBytes()
			}
		}()
		go func() {
			defer wg.Done()
			if opts.NoPNG {
				return
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			var pb bytes.Buffer
			if err := f.PNG(&pb); err != nil {
				errs[i] = err
				return
			}
			pngs[i] = pb.Bytes()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	svgByName := map[string][]byte{}
	for i, f := range figs {
		if errs[i] != nil {
			return fmt.Errorf("report: plot %s: %w", f.Name(), errs[i])
		}
		svgByName[f.Name()] = svgs[i]
		if err := put(filepath.Join(results.ReportPlotsDir, f.Name()+".svg"), svgs[i]); err != nil {
			return err
		}
		if pngs[i] != nil {
			if err := put(filepath.Join(results.ReportPlotsDir, f.Name()+".png"), pngs[i]); err != nil {
				return err
			}
		}
	}
	md := b.markdown()
	if err := put(results.ReportMarkdown, []byte(md)); err != nil {
		return err
	}
	if err := put(results.ReportHTML, []byte(b.html(svgByName))); err != nil {
		return err
	}
	sort.Strings(b.sum.Files)
	return nil
}

// figure is one plot of the report.
type figure interface {
	Name() string
	Title() string
	svgBytes() ([]byte, error)
	PNG(w io.Writer) error
}

// figures lists every plot: the convergence figures, then the sweeps.
func (b *built) figures() []figure {
	var out []figure
	for i := range b.convs {
		out = append(out, &b.convs[i])
	}
	for i := range b.sweeps {
		out = append(out, &b.sweeps[i])
	}
	return out
}

func tableFileName(t *Table) string {
	name := fmt.Sprintf("%s-%s-%s", t.Kind, slug(t.Dataset), slug(t.Model))
	if t.Kind == "ablation" && len(t.Rows) > 0 {
		name += "-" + slug(t.Rows[0].Method) + "-" + slug(strings.ReplaceAll(t.Parameter, ", ", "+"))
	}
	return name
}

// provenanceLines lists the provenance facts as (name, value) pairs.
func (b *built) provenanceLines() [][2]string {
	var out [][2]string
	add := func(k, v string) { out = append(out, [2]string{k, v}) }
	p := b.d.Provenance
	if p != nil {
		v := p.CCQVersion
		if p.CCQCommit != "" {
			v += " (commit " + p.CCQCommit
			if p.CCQModified {
				v += ", modified"
			}
			if p.CCQCommitFrom == "git" {
				v += ", from git at run time"
			}
			v += ")"
		}
		add("ccq version", v)
		if p.ExperimentFile != "" {
			f := p.ExperimentFile
			if p.ExperimentSHA256 != "" {
				f += " (sha256 " + p.ExperimentSHA256 + ")"
			}
			add("experiment file", f)
		}
		if p.ExperimentCommit != "" {
			c := p.ExperimentCommit
			if p.ExperimentModified {
				c += " (work tree modified)"
			}
			add("experiment commit", c)
		}
		if len(p.Command) > 0 {
			add("command", shellJoin(p.Command))
		}
		m := p.Machine
		mach := fmt.Sprintf("%s, %s/%s, %d CPUs", m.Hostname, m.OS, m.Arch, m.CPUs)
		if m.CPUModel != "" {
			mach += ", " + m.CPUModel
		}
		if m.MemoryBytes > 0 {
			mach += fmt.Sprintf(", %.1f GiB", float64(m.MemoryBytes)/(1<<30))
		}
		add("machine", mach)
		if p.Executor != "" {
			add("executor", p.Executor)
		}
		if !p.Started.IsZero() {
			add("started", p.Started.UTC().Format(time.RFC3339))
		}
		if !p.Ended.IsZero() {
			add("ended", p.Ended.UTC().Format(time.RFC3339))
		}
		add("total wall time", formatDuration(p.WallTime))
		add("status", p.Status)
		add("stages", fmt.Sprintf("%d (%d cache hits, %d run, %d failed)", p.Stages, p.CacheHits, p.StagesRun, p.StageFailed))
	} else {
		add("provenance", "provenance.json missing")
	}
	if len(b.d.Stages) > 0 {
		cached, wall := 0, 0.0
		for _, s := range b.d.Stages {
			if s.Cached {
				cached++
			}
			wall += s.WallTime
		}
		line := fmt.Sprintf("%d stages, %d cache hits, %s of stage wall time", len(b.d.Stages), cached, formatDuration(wall))
		if built, known, unknown := buildTimes(b.d.Stages, ""); known > 0 {
			line += fmt.Sprintf("; %s to build every stage's result, cached ones included", formatDuration(built))
			if unknown > 0 {
				line += fmt.Sprintf(" (%d results without a recorded time)", unknown)
			}
		}
		add("stages.parquet", line)
	}
	vi := b.builtBy
	commit := vi.Commit
	if vi.Modified {
		commit += ", modified"
	}
	add("report built by", fmt.Sprintf("ccq %s (commit %s) at %s", vi.Version, commit, b.builtAt.UTC().Format(time.RFC3339)))
	return out
}

// shellJoin joins a command line so that it can be typed again: arguments
// with characters a POSIX shell would interpret are single-quoted.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// buildTimes sums the build wall time of the results of stages of kind
// ("" for every kind): a store entry that several stages share counts
// once. known and unknown count the results (done or cached stages) with
// and without a recorded time.
func buildTimes(stages []results.StageRow, kind string) (sum float64, known, unknown int) {
	seen := map[string]bool{}
	for _, s := range stages {
		if kind != "" && s.Kind != kind || !s.Cached && s.Status != results.StatusDone && s.Status != results.StatusOK {
			continue
		}
		if id := s.Kind + "/" + s.Key; s.Key != "" {
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		if s.BuildWallTime != nil {
			sum += *s.BuildWallTime
			known++
		} else {
			unknown++
		}
	}
	return sum, known, unknown
}

// stageKinds summarises stages per kind: count, cached, failed, wall time
// in this run, and wall time to build their results (cached ones at the
// time their store entries took; "?" for a kind with no recorded time,
// "+N ?" for N results without one).
func (b *built) stageKinds() [][]string {
	type agg struct {
		n, cached, failed int
		wall              float64
	}
	m := map[string]*agg{}
	var kinds []string
	for _, s := range b.d.Stages {
		a, ok := m[s.Kind]
		if !ok {
			a = &agg{}
			m[s.Kind] = a
			kinds = append(kinds, s.Kind)
		}
		a.n++
		if s.Cached {
			a.cached++
		}
		if s.Status == results.StatusFailed {
			a.failed++
		}
		a.wall += s.WallTime
	}
	sort.Strings(kinds)
	var rows [][]string
	for _, k := range kinds {
		a := m[k]
		sum, known, unknown := buildTimes(b.d.Stages, k)
		built := formatDuration(sum)
		switch {
		case known == 0:
			built = "?"
		case unknown > 0:
			built += fmt.Sprintf(" (+%d ?)", unknown)
		}
		rows = append(rows, []string{k, fmt.Sprint(a.n), fmt.Sprint(a.cached), fmt.Sprint(a.failed), formatDuration(a.wall), built})
	}
	return rows
}

func formatDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", sec)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// failedRuns lists runs whose status is not ok.
func (b *built) failedRuns() []results.RunRow {
	var out []results.RunRow
	for _, r := range b.d.Runs {
		if r.Status != results.StatusOK {
			out = append(out, r)
		}
	}
	return out
}

// failedStages lists stages that failed, with their errors.
func (b *built) failedStages() []results.StageRow {
	var out []results.StageRow
	for _, s := range b.d.Stages {
		if s.Status == results.StatusFailed {
			out = append(out, s)
		}
	}
	return out
}

// experimentName is the experiment's name from provenance, the runs or the
// folder name.
func (b *built) experimentName() string {
	if b.d.Provenance != nil && b.d.Provenance.Experiment != "" {
		return b.d.Provenance.Experiment
	}
	for _, r := range b.d.Runs {
		if r.Experiment != "" {
			return r.Experiment
		}
	}
	return filepath.Base(filepath.Clean(b.d.Dir))
}
