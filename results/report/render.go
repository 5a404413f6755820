package report

import (
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// cellText renders a cell with its significance mark.
func cellText(c *Cell) string {
	s := FormatCell(c)
	if c != nil && c.Mark != "" {
		s += " " + markSymbol(c.Mark)
	}
	return s
}

func markSymbol(m string) string {
	if m == "-" {
		return "−" // U+2212, aligned with + in proportional fonts
	}
	return m
}

func (t *Table) header() []string {
	first := "method"
	if t.Kind == "ablation" {
		first = t.Parameter
	}
	h := []string{first}
	for _, c := range t.Columns {
		h = append(h, c.Label(t.ShowAct))
	}
	if t.Kind == "main" {
		h = append(h, "full-precision gradients")
	}
	return h
}

func (t *Table) rowCells(r Row, bold func(string) string) []string {
	label := r.Label
	if t.Reference != "" && label == t.Reference {
		label += " (ref.)"
	}
	out := []string{label}
	for _, c := range r.Cells {
		s := cellText(c)
		if c != nil && c.Best {
			s = bold(s)
		}
		out = append(out, s)
	}
	if t.Kind == "main" {
		out = append(out, r.FPGradients)
	}
	return out
}

// Caption explains how to read the table.
func (t *Table) Caption() string {
	if t.Kind == "gap" {
		return gapCaption
	}
	var b strings.Builder
	b.WriteString("Cells: mean ± sample std of test accuracy (%) over seeds, (n) runs; best quantized mean per column in bold.")
	if t.Kind == "main" {
		b.WriteString(" The float row repeats the full-precision model in every column for reference.")
	}
	if len(t.Pairs) > 0 {
		fmt.Fprintf(&b, " Marks: Wilcoxon rank-sum test of each row of the first method of a pair against the row of the second with the same settings"+
			" in the same column (%s), two-sided, Holm-corrected over the pairs of the column at α = %g:"+
			" + significantly better, − significantly worse, = no significant difference; rows in no pair, and cells with a single run, have no mark.",
			strings.Join(t.Pairs, "; "), t.Alpha)
	} else if t.Reference != "" {
		fmt.Fprintf(&b, " Marks: Wilcoxon rank-sum test against %s in the same column, two-sided, Holm-corrected within the column at α = %g:"+
			" + significantly better, − significantly worse, = no significant difference"+
			"; cells with a single run (a deterministic baseline) are not tested and have no mark.", t.Reference, t.Alpha)
	} else if t.Kind == "main" {
		b.WriteString(" No significance marks: the reference method has no runs in this table.")
	}
	failed := 0
	for _, r := range t.Rows {
		failed += r.Failed
	}
	if failed > 0 {
		fmt.Fprintf(&b, " %d failed run(s) left out (see the runs table).", failed)
	}
	return b.String()
}

// Markdown writes the table as a GitHub-flavoured Markdown table.
func (t *Table) Markdown(w io.Writer) error {
	var b strings.Builder
	h := t.header()
	b.WriteString("| " + strings.Join(escapeMD(h), " | ") + " |\n|")
	for i := range h {
		if i == 0 {
			b.WriteString(" --- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		cells := t.rowCells(r, func(s string) string { return "**" + s + "**" })
		cells[0] = escapeMD([]string{cells[0]})[0]
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func escapeMD(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strings.NewReplacer("|", "\\|", "*", "\\*", "_", "\\_").Replace(x)
	}
	return out
}

// CSV writes the table in long form, one row per (row, column) cell, with
// numbers in percent, for spreadsheets and plotting tools.
func (t *Table) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"dataset", "model", "row", "method", "kind", "setting", "bits", "act_bits", "n",
		"mean_pct", "std_pct", "best", "mark", "p_holm", "fp_gradients", "failed", "p_raw", "tested_against"}
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range t.Rows {
		for i, c := range r.Cells {
			if c == nil {
				continue
			}
			rec := []string{t.Dataset, t.Model, r.Label, r.Method, r.Kind, r.Setting,
				fmt.Sprint(t.Columns[i].Bits), fmt.Sprint(t.Columns[i].ActBits), fmt.Sprint(c.N),
				num(100 * c.Mean), num(100 * c.Std), fmt.Sprint(c.Best), c.Mark, num(c.P), r.FPGradients, fmt.Sprint(r.Failed), num(c.PRaw), c.Against}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return fmt.Sprintf("%.6g", v)
}

// HTML writes the table as an HTML <table> with its caption.
func (t *Table) HTML(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "<table>\n<caption>%s</caption>\n<thead><tr>", html.EscapeString(t.Title))
	for i, h := range t.header() {
		cls := ""
		if i > 0 {
			cls = ` class="num"`
		}
		fmt.Fprintf(&b, "<th%s>%s</th>", cls, html.EscapeString(h))
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, r := range t.Rows {
		b.WriteString("<tr>")
		for i, s := range t.rowCells(r, func(s string) string { return "\x00" + s }) {
			bold := strings.HasPrefix(s, "\x00")
			s = html.EscapeString(strings.TrimPrefix(s, "\x00"))
			if bold {
				s = "<strong>" + s + "</strong>"
			}
			if i == 0 {
				fmt.Fprintf(&b, "<th>%s</th>", s)
			} else {
				fmt.Fprintf(&b, `<td class="num">%s</td>`, s)
			}
		}
		b.WriteString("</tr>\n")
	}
	fmt.Fprintf(&b, "</tbody>\n</table>\n<p class=\"caption\">%s</p>\n", html.EscapeString(t.Caption()))
	_, err := io.WriteString(w, b.String())
	return err
}

// Text writes the table for a terminal: aligned columns, the best cell of
// each column marked with a trailing '*'.
func (t *Table) Text(w io.Writer) error {
	rows := [][]string{t.header()}
	for _, r := range t.Rows {
		rows = append(rows, t.rowCells(r, func(s string) string { return s + " *" }))
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, s := range r {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	b.WriteString(t.Title + "\n")
	for k, r := range rows {
		for i, s := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if i == 0 {
				b.WriteString(s + pad)
			} else {
				b.WriteString("  " + pad + s)
			}
		}
		b.WriteString("\n")
		if k == 0 {
			n := 0
			for _, x := range width {
				n += x + 2
			}
			b.WriteString(strings.Repeat("-", n-2) + "\n")
		}
	}
	b.WriteString("* best quantized mean of the column")
	if len(t.Pairs) > 0 {
		fmt.Fprintf(&b, "; +/−/= for the pairs %s (rank-sum, Holm, α = %g)", strings.Join(t.Pairs, "; "), t.Alpha)
	} else if t.Reference != "" {
		fmt.Fprintf(&b, "; +/−/= vs %s (rank-sum, Holm, α = %g)", t.Reference, t.Alpha)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// MainTableText renders main tables for a terminal (what ccq run prints at
// the end of an experiment).
func MainTableText(w io.Writer, tables []Table) error {
	for i := range tables {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := tables[i].Text(w); err != nil {
			return err
		}
	}
	return nil
}
