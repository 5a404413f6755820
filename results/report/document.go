package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"path"
	"runtime"
	"strings"

	"github.com/ccq-project/ccq/results"
)

func maxProcs() int { return max(1, runtime.GOMAXPROCS(0)) }

// runsCSV writes the runs table as CSV (accuracies as fractions, as stored).
func runsCSV(w io.Writer, runs []results.RunRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"run_id", "experiment", "method", "kind", "parameters", "dataset", "model", "bits",
		"act_bits", "granularity", "seed", "test_accuracy", "test_loss", "validation_accuracy", "evaluations",
		"wall_time_s", "used_fp_gradients", "status", "start_method",
		"integer_test_accuracy", "integer_test_loss", "integer_agree", "integer_note"}); err != nil {
		return err
	}
	for _, r := range runs {
		val, start := "", ""
		if r.ValAcc != nil {
			val = num(*r.ValAcc)
		}
		if r.StartMethod != nil {
			start = *r.StartMethod
		}
		var iacc, iloss, iagree, inote string
		if r.IntegerTestAcc != nil {
			iacc = num(*r.IntegerTestAcc)
		}
		if r.IntegerTestLoss != nil {
			iloss = num(*r.IntegerTestLoss)
		}
		if r.IntegerAgree != nil {
			iagree = fmt.Sprint(*r.IntegerAgree)
		}
		if r.IntegerNote != nil {
			inote = *r.IntegerNote
		}
		if err := cw.Write([]string{r.RunID, r.Experiment, r.Method, r.Kind, r.Parameters, r.Dataset, r.Model,
			fmt.Sprint(r.Bits), fmt.Sprint(r.ActBits), r.Granularity, fmt.Sprint(r.Seed), num(r.TestAcc), num(r.TestLoss),
			val, fmt.Sprint(r.Evaluations), num(r.WallTime), fmt.Sprint(r.UsedFPGradients), r.Status, start,
			iacc, iloss, iagree, inote}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

const partialBanner = "PARTIAL REPORT: the experiment is still running or incomplete; numbers will change."

func (b *built) summaryLine() string {
	s := &b.sum
	return fmt.Sprintf("%d evaluated models (%d failed), %d evolve runs with %d generations, %d stages.",
		s.Runs, s.FailedRuns, s.EvolveRuns, s.Generations, s.Stages)
}

const convergenceCaption = "Median (line) and inter-quartile range (band) across seeds of the base solution's fitness " +
	"(cross-entropy on the fitness mini-batch, lower is better) and of its validation accuracy, against fitness " +
	"evaluations. Curves are resampled on a grid of evaluation counts as step functions; at each point only runs " +
	"that reached it count. Variants differ in colour and line style."

// tablesMarkdown writes each table under its title, with its caption and
// a link to its CSV.
func tablesMarkdown(w *strings.Builder, tables []Table) {
	for i := range tables {
		t := &tables[i]
		fmt.Fprintf(w, "### %s\n\n", t.Title)
		t.Markdown(w)
		fmt.Fprintf(w, "\n%s CSV: [tables/%s.csv](tables/%s.csv).\n\n", t.Caption(), tableFileName(t), tableFileName(t))
	}
}

// markdown renders report.md.
func (b *built) markdown() string {
	var w strings.Builder
	fmt.Fprintf(&w, "# ccq report: %s\n\n", b.experimentName())
	if b.sum.Partial {
		fmt.Fprintf(&w, "> **%s**\n", partialBanner)
		for _, r := range b.sum.PartialReasons {
			fmt.Fprintf(&w, "> - %s\n", r)
		}
		w.WriteString("\n")
	}
	w.WriteString(b.summaryLine() + "\n\n")
	for _, warn := range b.sum.Warnings {
		fmt.Fprintf(&w, "Note: %s.\n\n", warn)
	}
	w.WriteString("## Main results\n\n")
	if len(b.sum.MainTables) == 0 {
		w.WriteString("No evaluated models yet.\n\n")
	}
	tablesMarkdown(&w, b.sum.MainTables)
	if len(b.sum.GapTables) > 0 {
		w.WriteString("## Gap closed\n\n")
		tablesMarkdown(&w, b.sum.GapTables)
	}
	if len(b.sum.Ablations) > 0 {
		w.WriteString("## Ablations\n\n")
		for i := range b.sum.Ablations {
			t := &b.sum.Ablations[i]
			fmt.Fprintf(&w, "### %s\n\n", t.Title)
			t.Markdown(&w)
			fmt.Fprintf(&w, "\n%s\n\n", t.Caption())
		}
	}
	if len(b.sweeps) > 0 {
		w.WriteString("## Parameter sweeps\n\n" + sweepCaption + "\n\n")
		for i := range b.sweeps {
			s := &b.sweeps[i]
			fmt.Fprintf(&w, "### %s\n\n![%s](%s)\n\n", s.Title(), s.Title(), path.Join(results.ReportPlotsDir, s.Name()+".svg"))
		}
	}
	w.WriteString("## Convergence\n\n")
	if len(b.convs) == 0 {
		w.WriteString("No generation rows yet.\n\n")
	} else {
		w.WriteString(convergenceCaption + "\n\n")
	}
	for i := range b.convs {
		c := &b.convs[i]
		fmt.Fprintf(&w, "### %s\n\n![%s](%s)\n\n", c.Title(), c.Title(), path.Join(results.ReportPlotsDir, c.Name()+".svg"))
	}
	if fr := b.failedRuns(); len(fr) > 0 {
		w.WriteString("## Failed runs\n\n| run | method | bits | seed | status |\n| --- | --- | ---: | ---: | --- |\n")
		for _, r := range fr {
			fmt.Fprintf(&w, "| %s | %s | %d | %d | %s |\n", r.RunID, r.Method, r.Bits, r.Seed, r.Status)
		}
		w.WriteString("\n")
	}
	if fs := b.failedStages(); len(fs) > 0 {
		w.WriteString("## Failed stages\n\n")
		for _, s := range fs {
			msg := ""
			if s.Error != nil {
				msg = ": " + oneLine(*s.Error)
			}
			fmt.Fprintf(&w, "- `%s`%s\n", s.Name, msg)
		}
		w.WriteString("\n")
	}
	w.WriteString("## Provenance\n\n| | |\n| --- | --- |\n")
	for _, kv := range b.provenanceLines() {
		fmt.Fprintf(&w, "| %s | %s |\n", kv[0], strings.ReplaceAll(kv[1], "|", "\\|"))
	}
	w.WriteString("\n")
	if rows := b.stageKinds(); len(rows) > 0 {
		w.WriteString("| stage kind | stages | cached | failed | wall time | wall time to build |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
		for _, r := range rows {
			w.WriteString("| " + strings.Join(r, " | ") + " |\n")
		}
		w.WriteString("\n")
	}
	if b.d.Experiment != nil {
		fence := "```"
		for strings.Contains(string(b.d.Experiment), fence) {
			fence += "`"
		}
		fmt.Fprintf(&w, "### Experiment file\n\n%stoml\n%s\n%s\n", fence, strings.TrimRight(string(b.d.Experiment), "\n"), fence)
	}
	return w.String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

const css = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#111;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0 .3em}caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{border:1px solid #bbb;padding:.25em .6em}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody th{text-align:left;font-weight:normal}p.caption{font-size:.9em;color:#444;max-width:60em}
.partial{border:3px solid #b00;background:#fee;padding:.6em 1em;font-weight:600}
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}pre{background:#f5f5f5;padding:1em;overflow:auto}
@media print{.partial{border-color:#000}}`

// html renders report.html: the same content as report.md, self-contained
// (styles and SVG plots inline; no scripts, links or external assets).
func (b *built) html(svgs map[string][]byte) string {
	var w strings.Builder
	title := "ccq report: " + b.experimentName()
	fmt.Fprintf(&w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>\n%s\n</style>\n</head>\n<body>\n",
		html.EscapeString(title), css)
	fmt.Fprintf(&w, "<h1>%s</h1>\n", html.EscapeString(title))
	if b.sum.Partial {
		fmt.Fprintf(&w, "<div class=\"partial\">%s<ul>\n", html.EscapeString(partialBanner))
		for _, r := range b.sum.PartialReasons {
			fmt.Fprintf(&w, "<li>%s</li>\n", html.EscapeString(r))
		}
		w.WriteString("</ul></div>\n")
	}
	fmt.Fprintf(&w, "<p>%s</p>\n", html.EscapeString(b.summaryLine()))
	for _, warn := range b.sum.Warnings {
		fmt.Fprintf(&w, "<p>Note: %s.</p>\n", html.EscapeString(warn))
	}
	w.WriteString("<h2>Main results</h2>\n")
	if len(b.sum.MainTables) == 0 {
		w.WriteString("<p>No evaluated models yet.</p>\n")
	}
	for i := range b.sum.MainTables {
		b.sum.MainTables[i].HTML(&w)
	}
	if len(b.sum.GapTables) > 0 {
		w.WriteString("<h2>Gap closed</h2>\n")
		for i := range b.sum.GapTables {
			b.sum.GapTables[i].HTML(&w)
		}
	}
	if len(b.sum.Ablations) > 0 {
		w.WriteString("<h2>Ablations</h2>\n")
		for i := range b.sum.Ablations {
			b.sum.Ablations[i].HTML(&w)
		}
	}
	if len(b.sweeps) > 0 {
		fmt.Fprintf(&w, "<h2>Parameter sweeps</h2>\n<p class=\"caption\">%s</p>\n", html.EscapeString(sweepCaption))
		for i := range b.sweeps {
			s := &b.sweeps[i]
			fmt.Fprintf(&w, "<figure>\n%s\n<figcaption>%s</figcaption>\n</figure>\n", inlineSVG(svgs[s.Name()]), html.EscapeString(s.Title()))
		}
	}
	w.WriteString("<h2>Convergence</h2>\n")
	if len(b.convs) == 0 {
		w.WriteString("<p>No generation rows yet.</p>\n")
	} else {
		fmt.Fprintf(&w, "<p class=\"caption\">%s</p>\n", html.EscapeString(convergenceCaption))
	}
	for i := range b.convs {
		fmt.Fprintf(&w, "<figure>\n%s\n<figcaption>%s</figcaption>\n</figure>\n", inlineSVG(svgs[b.convs[i].Name()]), html.EscapeString(b.convs[i].Title()))
	}
	if fr := b.failedRuns(); len(fr) > 0 {
		w.WriteString("<h2>Failed runs</h2>\n<table><thead><tr><th>run</th><th>method</th><th class=\"num\">bits</th><th class=\"num\">seed</th><th>status</th></tr></thead><tbody>\n")
		for _, r := range fr {
			fmt.Fprintf(&w, "<tr><td>%s</td><td>%s</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td>%s</td></tr>\n",
				html.EscapeString(r.RunID), html.EscapeString(r.Method), r.Bits, r.Seed, html.EscapeString(r.Status))
		}
		w.WriteString("</tbody></table>\n")
	}
	if fs := b.failedStages(); len(fs) > 0 {
		w.WriteString("<h2>Failed stages</h2>\n<ul>\n")
		for _, s := range fs {
			msg := ""
			if s.Error != nil {
				msg = ": " + oneLine(*s.Error)
			}
			fmt.Fprintf(&w, "<li><code>%s</code>%s</li>\n", html.EscapeString(s.Name), html.EscapeString(msg))
		}
		w.WriteString("</ul>\n")
	}
	w.WriteString("<h2>Provenance</h2>\n<table><tbody>\n")
	for _, kv := range b.provenanceLines() {
		fmt.Fprintf(&w, "<tr><th>%s</th><td>%s</td></tr>\n", html.EscapeString(kv[0]), html.EscapeString(kv[1]))
	}
	w.WriteString("</tbody></table>\n")
	if rows := b.stageKinds(); len(rows) > 0 {
		w.WriteString("<table><thead><tr><th>stage kind</th><th class=\"num\">stages</th><th class=\"num\">cached</th><th class=\"num\">failed</th><th class=\"num\">wall time</th><th class=\"num\">wall time to build</th></tr></thead><tbody>\n")
		for _, r := range rows {
			fmt.Fprintf(&w, "<tr><th>%s</th>", html.EscapeString(r[0]))
			for _, c := range r[1:] {
				fmt.Fprintf(&w, "<td class=\"num\">%s</td>", html.EscapeString(c))
			}
			w.WriteString("</tr>\n")
		}
		w.WriteString("</tbody></table>\n")
	}
	if b.d.Experiment != nil {
		fmt.Fprintf(&w, "<h3>Experiment file</h3>\n<pre>%s</pre>\n", html.EscapeString(string(b.d.Experiment)))
	}
	w.WriteString("</body>\n</html>\n")
	return w.String()
}

// inlineSVG strips the XML prolog and doctype from an SVG document so that
// it can sit inside HTML.
func inlineSVG(svg []byte) string {
	if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
		svg = svg[i:]
	}
	return string(bytes.TrimSpace(svg))
}
