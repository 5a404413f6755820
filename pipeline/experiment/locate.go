package experiment

import (
	"strconv"
	"strings"
)

// locator finds the line where a key was written in a TOML source. The
// BurntSushi decoder keeps key positions private, so this is a small
// line-based scanner: it tracks [table] and [[array]] headers (counting
// array elements), key = value lines (dotted and quoted keys), one-line
// inline tables, multi-line arrays and strings, and comments. It only
// serves error messages: an unknown path gives the line of its nearest
// known parent, or 0.
type locator struct {
	lines map[string]int // "optimizers[1].params.lambda" -> line
	// bare maps paths without array indices to their first line.
	bare map[string]int
}

func newLocator(src []byte) *locator {
	l := &locator{lines: map[string]int{}, bare: map[string]int{}}
	counts := map[string]int{} // array table (bare path) -> elements seen
	header := ""               // current table path with indices
	depth := 0                 // open [ or { of a multi-line value
	inML := ""                 // open multi-line string delimiter
	for i, raw := range strings.Split(string(src), "\n") {
		lineNo := i + 1
		line := raw
		if inML != "" {
			if j := strings.Index(line, inML); j >= 0 {
				line = line[j+3:]
				inML = ""
			} else {
				continue
			}
			depth += bracketDelta(line, &inML)
			continue
		}
		if depth > 0 {
			depth += bracketDelta(line, &inML)
			if depth < 0 {
				depth = 0
			}
			continue
		}
		t := strings.TrimSpace(stripComment(line))
		if t == "" {
			continue
		}
		if strings.HasPrefix(t, "[[") && strings.HasSuffix(t, "]]") {
			parts := splitKey(t[2 : len(t)-2])
			bare := strings.Join(parts, ".")
			counts[bare]++
			header = indexedPath(parts, counts, true)
			l.add(header, bare, lineNo)
			continue
		}
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			parts := splitKey(t[1 : len(t)-1])
			header = indexedPath(parts, counts, false)
			l.add(header, strings.Join(parts, "."), lineNo)
			continue
		}
		eq := keyEnd(t)
		if eq < 0 {
			continue
		}
		kparts := splitKey(t[:eq])
		if len(kparts) == 0 {
			continue
		}
		path := join(header, strings.Join(kparts, "."))
		l.add(path, stripIndices(path), lineNo)
		val := strings.TrimSpace(t[eq+1:])
		if strings.HasPrefix(val, "{") {
			l.inline(path, val, lineNo)
		}
		if strings.HasPrefix(val, `"""`) || strings.HasPrefix(val, "'''") {
			delim := val[:3]
			if !strings.Contains(val[3:], delim) {
				inML = delim
			}
			continue
		}
		depth += bracketDelta(val, &inML)
		if depth < 0 {
			depth = 0
		}
	}
	return l
}

func (l *locator) add(path, bare string, line int) {
	if _, ok := l.lines[path]; !ok {
		l.lines[path] = line
	}
	if _, ok := l.bare[bare]; !ok {
		l.bare[bare] = line
	}
}

// inline records the keys of a one-line inline table value.
func (l *locator) inline(prefix, val string, line int) {
	end := strings.LastIndex(val, "}")
	if end < 0 {
		return
	}
	for _, kv := range splitTop(val[1:end]) {
		if eq := keyEnd(kv); eq >= 0 {
			p := join(prefix, strings.Join(splitKey(kv[:eq]), "."))
			l.add(p, stripIndices(p), line)
		}
	}
}

// indexed returns the path with array indices written at line whose form
// without indices is bare ("optimizers.budget.wall_time" on line 16 gives
// "optimizers[0].budget.wall_time"), or bare itself.
func (l *locator) indexed(bare string, line int) string {
	for p, n := range l.lines {
		if n == line && p != bare && stripIndices(p) == bare {
			return p
		}
	}
	return bare
}

// line returns the line of path ("a[1].b.c" or, for keys reported without
// indices, "a.b.c"), else of its nearest known parent, else 0.
func (l *locator) line(path string) int {
	for p := path; p != ""; p = parent(p) {
		if n, ok := l.lines[p]; ok {
			return n
		}
		if n, ok := l.bare[p]; ok {
			return n
		}
	}
	return 0
}

func parent(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func indexedPath(parts []string, counts map[string]int, isArray bool) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
		bare := strings.Join(parts[:i+1], ".")
		if n := counts[bare]; n > 0 && (i < len(parts)-1 || isArray) {
			b.WriteString("[" + strconv.Itoa(n-1) + "]")
		}
	}
	return b.String()
}

func stripIndices(p string) string {
	var b strings.Builder
	skip := false
	for _, r := range p {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// splitKey splits a (possibly dotted, possibly quoted) key into parts.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	quote := rune(0)
	for _, r := range strings.TrimSpace(s) {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case r == ' ' || r == '\t':
		default:
			cur.WriteRune(r)
		}
	}
	parts = append(parts, strings.TrimSpace(cur.String()))
	for _, p := range parts {
		if p == "" {
			return nil
		}
	}
	return parts
}

// keyEnd returns the index of the '=' ending a key, outside quotes, or -1.
func keyEnd(s string) int {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		}
	}
	return -1
}

// stripComment removes a # comment outside strings.
func stripComment(s string) string {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return s[:i]
		}
	}
	return s
}

// bracketDelta counts [ and { minus ] and } outside strings and comments.
func bracketDelta(s string, inML *string) int {
	s = stripComment(s)
	d := 0
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case strings.HasPrefix(s[i:], `"""`) || strings.HasPrefix(s[i:], "'''"):
			delim := s[i : i+3]
			if j := strings.Index(s[i+3:], delim); j >= 0 {
				i += 3 + j + 2
			} else {
				*inML = delim
				return d
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			d++
		case c == ']' || c == '}':
			d--
		}
	}
	return d
}

// splitTop splits on commas outside brackets and strings.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
