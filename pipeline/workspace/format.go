package workspace

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ccq-project/ccq/pipeline"
)

// PlanReport is the JSON form of a plan (`ccq plan --json`).
type PlanReport struct {
	Experiment string                  `json:"experiment"`
	File       string                  `json:"file"`
	Results    string                  `json:"results"`
	Store      string                  `json:"store"`
	Counts     map[pipeline.Status]int `json:"counts"`
	// Only are the --only patterns and Selected the number of stages they
	// select (empty without --only).
	Only     []string `json:"only,omitempty"`
	Selected int      `json:"selected,omitempty"`
	// CPUSeconds is the estimated CPU time of the stages to run,
	// CriticalSeconds the longest chain of estimates, Unestimated the
	// number of stages to run without an estimate.
	CPUSeconds      float64               `json:"cpu_seconds"`
	CriticalSeconds float64               `json:"critical_seconds"`
	Unestimated     int                   `json:"unestimated"`
	Stages          []*pipeline.StagePlan `json:"stages"`
}

// Report builds the JSON form of a plan.
func (s *Session) Report(p *pipeline.Plan) *PlanReport {
	cpu, crit, unknown := p.Work()
	return &PlanReport{Experiment: s.Exp.Name, File: s.Exp.File, Results: s.ResultsDir(), Store: s.Loc.Store,
		Counts: p.Counts(), Only: p.Only, Selected: p.Selected, CPUSeconds: cpu.Seconds(), CriticalSeconds: crit.Seconds(), Unestimated: unknown, Stages: p.Stages}
}

// Headline is a one-line summary of a plan.
func Headline(name string, p *pipeline.Plan) string {
	c := p.Counts()
	s := fmt.Sprintf("experiment %s: %d stages: %d cached, %d to run", name, len(p.Stages), c[pipeline.StatusCached], c[pipeline.StatusToRun])
	if c[pipeline.StatusBlocked] > 0 {
		s += fmt.Sprintf(", %d blocked", c[pipeline.StatusBlocked])
	}
	if sel := p.Selection(); sel != "" {
		s += fmt.Sprintf(", %d unselected (%s)", c[pipeline.StatusUnselected], sel)
	}
	return s
}

// WorkLine describes the estimated work of a plan for jobs slots (make the
// plan with the executor's thread sizing, PlanFlags.Threads, so that its
// stages are estimated at the threads they get among those slots).
func WorkLine(p *pipeline.Plan, jobs int) string {
	cpu, crit, unknown := p.Work()
	if cpu == 0 && unknown == 0 {
		return ""
	}
	wall := pipeline.WallOn(cpu, crit, jobs)
	s := fmt.Sprintf("work to run: about %s of CPU time, %s on %d slots (longest chain %s)", round(cpu), round(wall), jobs, round(crit))
	if unknown > 0 {
		s += fmt.Sprintf("; %d stages have no estimate", unknown)
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Hour:
		return d.Round(time.Minute)
	case d > time.Minute:
		return d.Round(time.Second)
	case d > time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// WritePlan prints a plan as a table. all=false hides cached and
// unselected stages (a count says how many).
func WritePlan(w io.Writer, name string, p *pipeline.Plan, jobs int, all bool) error {
	fmt.Fprintln(w, Headline(name, p))
	if l := WorkLine(p, jobs); l != "" {
		fmt.Fprintln(w, l)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTATUS\tSTAGE\tTHREADS\tESTIMATE\tREASON")
	hidden, unselected := 0, 0
	for _, s := range p.Stages {
		if s.Status == pipeline.StatusCached && !all {
			hidden++
			continue
		}
		if s.Status == pipeline.StatusUnselected && !all {
			unselected++
			continue
		}
		est := "-"
		if s.Estimate > 0 {
			est = round(s.Estimate).String()
		}
		th := "-"
		if s.Threads > 0 {
			th = fmt.Sprint(s.Threads)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Status, s.Name, th, est, s.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeHidden(w, hidden, unselected)
	return nil
}

// writeHidden says how many cached and unselected stages a table left out.
func writeHidden(w io.Writer, cached, unselected int) {
	var parts []string
	if cached > 0 {
		parts = append(parts, fmt.Sprintf("%d cached", cached))
	}
	if unselected > 0 {
		parts = append(parts, fmt.Sprintf("%d unselected", unselected))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "(%s stages not shown; --all shows them)\n", strings.Join(parts, " and "))
	}
}

// selectionLine says what --only left out of a run, or "" for a run of
// every stage.
func selectionLine(only []string, selected, total, unselected int) string {
	if len(only) == 0 {
		return ""
	}
	return fmt.Sprintf("%s; %d stages outside it are not in the store and not run", pipeline.SelectionText(selected, total), unselected)
}

// WriteSummary prints the end of a run.
func WriteSummary(w io.Writer, sum *pipeline.Summary) {
	c := sum.Counts
	sel := selectionLine(sum.Only, sum.Selected, len(sum.Stages), c[pipeline.StatusUnselected])
	if sum.NothingToDo && sum.Outcome == "ok" {
		if sel != "" {
			fmt.Fprintf(w, "nothing to do: every selected stage is cached (%s)\n%s\n", sum.Results, sel)
			return
		}
		fmt.Fprintf(w, "nothing to do: all %d stages are cached (%s)\n", c[pipeline.StatusCached], sum.Results)
		return
	}
	unsel := ""
	if sel != "" {
		unsel = fmt.Sprintf(", %d unselected", c[pipeline.StatusUnselected])
	}
	fmt.Fprintf(w, "%s in %s: %d done, %d cached, %d failed, %d skipped, %d blocked, %d cancelled%s\n",
		sum.Outcome, round(sum.Elapsed), c[pipeline.StatusDone], c[pipeline.StatusCached], c[pipeline.StatusFailed],
		c[pipeline.StatusSkipped], c[pipeline.StatusBlocked], c[pipeline.StatusCancelled], unsel)
	if sel != "" {
		fmt.Fprintf(w, "  %s\n", sel)
	}
	for _, f := range sum.Failures {
		fmt.Fprintf(w, "  failed  %s: %s\n          log: %s\n", f.Stage, firstLine(f.Error), f.Log)
	}
	downstream := 0
	for _, f := range sum.Blocked {
		if strings.HasPrefix(f.Error, "input ") && strings.HasSuffix(f.Error, " is blocked") {
			downstream++
			continue
		}
		fmt.Fprintf(w, "  blocked %s: %s\n", f.Stage, f.Error)
	}
	if downstream > 0 {
		fmt.Fprintf(w, "  %d more stages blocked because an input is blocked\n", downstream)
	}
	if len(sum.Skipped) > 0 {
		fmt.Fprintf(w, "  %d stages skipped because an input failed (ccq status %s lists them)\n", len(sum.Skipped), sum.Results)
	}
	fmt.Fprintf(w, "results: %s\n", sum.Results)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// StatusReport is the JSON form of `ccq status`.
type StatusReport struct {
	Dir   string             `json:"dir"`
	Live  bool               `json:"live"`
	State *pipeline.RunState `json:"state"`
}

// WriteState prints a run state. all=false hides cached and unselected
// stages.
func WriteState(w io.Writer, dir string, st *pipeline.RunState, live, all bool, now time.Time) error {
	what := st.Outcome
	switch {
	case st.Outcome == "running" && live:
		what = "running"
	case st.Outcome == "running":
		what = "ended without finishing (killed or crashed); ccq run resumes it"
	case st.Outcome == "detached":
		what = "detached: Slurm jobs queued or running (ccq status --follow follows them, ccq cancel cancels them)"
	}
	fmt.Fprintf(w, "%s (%s): %s\n", st.Experiment, dir, what)
	fmt.Fprintf(w, "started %s by pid %d on %s, %s executor, %d slots; updated %s ago\n",
		st.Started.Local().Format("2006-01-02 15:04:05"), st.PID, st.Host, st.Executor, st.Jobs, round(now.Sub(st.Updated)))
	var parts []string
	for _, s := range []pipeline.Status{pipeline.StatusDone, pipeline.StatusCached, pipeline.StatusRunning, pipeline.StatusPending,
		pipeline.StatusFailed, pipeline.StatusSkipped, pipeline.StatusBlocked, pipeline.StatusCancelled, pipeline.StatusUnselected} {
		if n := st.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintln(w, strings.Join(parts, ", "))
	if l := selectionLine(st.Only, st.Selected, len(st.Stages), st.Counts[pipeline.StatusUnselected]); l != "" {
		fmt.Fprintf(w, "%s (patterns: %s)\n", l, strings.Join(st.Only, " "))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTATUS\tSTAGE\tPROGRESS\tTIME\tJOB\tDETAIL")
	stages := append([]*pipeline.StageState(nil), st.Stages...)
	rank := map[pipeline.Status]int{pipeline.StatusRunning: 0, pipeline.StatusFailed: 1, pipeline.StatusPending: 2}
	sort.SliceStable(stages, func(i, j int) bool {
		ri, ok := rank[stages[i].Status]
		if !ok {
			ri = 3
		}
		rj, ok := rank[stages[j].Status]
		if !ok {
			rj = 3
		}
		return ri < rj
	})
	hidden, unselected := 0, 0
	for _, s := range stages {
		if s.Status == pipeline.StatusCached && !all {
			hidden++
			continue
		}
		if s.Status == pipeline.StatusUnselected && !all {
			unselected++
			continue
		}
		prog, tm, detail := "", "", ""
		switch s.Status {
		case pipeline.StatusRunning:
			prog = fmt.Sprintf("%3.0f%%", 100*s.Fraction)
			if !s.Started.IsZero() {
				tm = round(now.Sub(s.Started)).String()
			}
			detail = s.Message
		case pipeline.StatusDone:
			tm = round(time.Duration(s.Seconds * float64(time.Second))).String()
		case pipeline.StatusFailed:
			detail = firstLine(s.Error) + "; log: " + s.Log
		default:
			detail = s.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Status, s.Name, prog, tm, s.JobID, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeHidden(w, hidden, unselected)
	return nil
}

// Mermaid prints the graph as a Mermaid flowchart; statuses (optional)
// colour the nodes.
func Mermaid(w io.Writer, g *pipeline.Graph, status map[string]pipeline.Status) {
	fmt.Fprintln(w, "flowchart LR")
	id := ids(g)
	for _, s := range g.Stages {
		fmt.Fprintf(w, "  %s[\"%s\"]\n", id[s.Name], s.Name)
	}
	for _, s := range g.Stages {
		for _, in := range sortedKeys(s.Inputs) {
			fmt.Fprintf(w, "  %s --> %s\n", id[s.Inputs[in]], id[s.Name])
		}
	}
	if status != nil {
		fmt.Fprintln(w, "  classDef cached fill:#d4edda,stroke:#28a745")
		fmt.Fprintln(w, "  classDef torun fill:#fff3cd,stroke:#ffc107")
		fmt.Fprintln(w, "  classDef blocked fill:#f8d7da,stroke:#dc3545")
		fmt.Fprintln(w, "  classDef unselected fill:#e2e3e5,stroke:#6c757d")
		for _, s := range g.Stages {
			cls := map[pipeline.Status]string{pipeline.StatusCached: "cached", pipeline.StatusToRun: "torun", pipeline.StatusBlocked: "blocked",
				pipeline.StatusUnselected: "unselected"}[status[s.Name]]
			if cls != "" {
				fmt.Fprintf(w, "  class %s %s\n", id[s.Name], cls)
			}
		}
	}
}

// DOT prints the graph in Graphviz DOT; statuses (optional) colour the nodes.
func DOT(w io.Writer, g *pipeline.Graph, status map[string]pipeline.Status) {
	fmt.Fprintln(w, "digraph ccq {")
	fmt.Fprintln(w, "  rankdir=LR;")
	fmt.Fprintln(w, "  node [shape=box, style=rounded];")
	colour := map[pipeline.Status]string{pipeline.StatusCached: "#d4edda", pipeline.StatusToRun: "#fff3cd", pipeline.StatusBlocked: "#f8d7da",
		pipeline.StatusUnselected: "#e2e3e5"}
	for _, s := range g.Stages {
		attr := ""
		if c, ok := colour[status[s.Name]]; ok {
			attr = fmt.Sprintf(", style=\"rounded,filled\", fillcolor=%q", c)
		}
		fmt.Fprintf(w, "  %q [label=%q%s];\n", s.Name, s.Name, attr)
	}
	for _, s := range g.Stages {
		for _, in := range sortedKeys(s.Inputs) {
			fmt.Fprintf(w, "  %q -> %q [label=%q];\n", s.Inputs[in], s.Name, in)
		}
	}
	fmt.Fprintln(w, "}")
}

func ids(g *pipeline.Graph) map[string]string {
	m := map[string]string{}
	for i, s := range g.Stages {
		m[s.Name] = fmt.Sprintf("s%d", i)
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
