package experiment

// Overrides: `ccq run/plan/validate --set KEY=VALUE`.
//
// KEY is a TOML path into the experiment: keys separated by '.', each bare
// (letters, digits, '_' and '-') or quoted ("host.batch_size" or
// 'host.batch_size'), each optionally followed by indices into an array or
// an array of tables: [N] (from 0) or [*] (every element). Examples:
//
//	pretrain.epochs=1
//	optimizers[*].budget.evaluations=300
//	optimizers[0].seeds=[1, 2]
//	optimizers[*].matrix."host.batch_size"=[256, 1024]
//	quantize[1].params.percentile=99.99
//
// VALUE is a TOML value (1, 0.5, "text", true, [1, 2], { evaluations = 300 }).
// A bare word that is not a TOML value (cosine, fashion-mnist) is taken as a
// string, so shells need no extra quotes; true, false, inf and nan stay TOML.
//
// Missing tables on the way are created (pretrain.train_limit=20000 adds a
// key); a missing array, an index out of range, [*] over an empty array,
// or indexing something that is not an array is an error naming the KEY.
// The result goes through the same decoding and checks as the file itself;
// problems in overridden keys are reported as "--set KEY" rather than at a
// line of the file.

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// PathElem is one step of an override path: a key, or an index ([N] or [*]).
type PathElem struct {
	// Key is the table key (when not an index).
	Key string
	// IsIndex marks an index step; All is [*], else Index is [N].
	IsIndex bool
	All     bool
	Index   int
}

// Override is one parsed --set KEY=VALUE.
type Override struct {
	// Raw is the argument as given.
	Raw string
	// Key is the KEY text; Path its parsed steps.
	Key  string
	Path []PathElem
	// Value is the decoded VALUE (TOML types: int64, float64, string, bool,
	// []any, map[string]any, time values).
	Value any
}

// maxIndex bounds [N] in a KEY (no experiment has that many entries).
const maxIndex = 1 << 20

// ParseOverride parses "KEY=VALUE".
func ParseOverride(s string) (Override, error) {
	eq := keyEnd(s)
	if eq < 0 {
		return Override{}, fmt.Errorf("--set %q: expected KEY=VALUE, for example pretrain.epochs=1", s)
	}
	key := strings.TrimSpace(s[:eq])
	path, err := ParseKey(key)
	if err != nil {
		return Override{}, fmt.Errorf("--set %s: %w", s, err)
	}
	val, err := ParseValue(strings.TrimSpace(s[eq+1:]))
	if err != nil {
		return Override{}, fmt.Errorf("--set %s: value: %w", key, err)
	}
	return Override{Raw: s, Key: key, Path: path, Value: val}, nil
}

// ParseOverrides parses every --set argument, reporting all bad ones.
func ParseOverrides(sets []string) ([]Override, error) {
	var out []Override
	var errs []error
	for _, s := range sets {
		o, err := ParseOverride(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}

func bareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// ParseKey parses an override KEY into its steps.
func ParseKey(key string) ([]PathElem, error) {
	if key == "" {
		return nil, errors.New("empty KEY: expected a TOML path such as pretrain.epochs or optimizers[*].seeds")
	}
	var path []PathElem
	i := 0
	expectKey := true
	for i < len(key) {
		c := key[i]
		switch {
		case expectKey:
			k, n, err := parseKeyPart(key, i)
			if err != nil {
				return nil, err
			}
			path = append(path, PathElem{Key: k})
			i = n
			expectKey = false
		case c == '.':
			i++
			if i == len(key) {
				return nil, fmt.Errorf("KEY %q ends with '.': expected a key after it", key)
			}
			expectKey = true
		case c == '[':
			end := strings.IndexByte(key[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("KEY %q: '[' at offset %d has no closing ']'", key, i)
			}
			inner := strings.TrimSpace(key[i+1 : i+end])
			e := PathElem{IsIndex: true}
			if inner == "*" {
				e.All = true
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 || n > maxIndex || strings.HasPrefix(inner, "+") {
					return nil, fmt.Errorf("KEY %q: index [%s]: expected [*] or a number from 0", key, inner)
				}
				e.Index = n
			}
			path = append(path, e)
			i += end + 1
		default:
			return nil, fmt.Errorf("KEY %q: unexpected %q at offset %d: expected '.', '[' or the end", key, c, i)
		}
	}
	if expectKey {
		return nil, fmt.Errorf("KEY %q: expected a key", key)
	}
	return path, nil
}

// parseKeyPart reads a bare or quoted key at key[i:], returning it and the
// offset after it.
func parseKeyPart(key string, i int) (string, int, error) {
	switch key[i] {
	case '"':
		// A basic string: find the closing quote, honouring escapes, and let
		// the TOML decoder unescape it.
		j := i + 1
		for j < len(key) && key[j] != '"' {
			if key[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(key) {
			return "", 0, fmt.Errorf("KEY %q: unterminated quoted key", key)
		}
		var m map[string]string
		if _, err := toml.Decode("k = "+key[i:j+1], &m); err != nil {
			return "", 0, fmt.Errorf("KEY %q: bad quoted key %s", key, key[i:j+1])
		}
		return m["k"], j + 1, nil
	case '\'':
		j := strings.IndexByte(key[i+1:], '\'')
		if j < 0 {
			return "", 0, fmt.Errorf("KEY %q: unterminated quoted key", key)
		}
		var m map[string]string
		lit := key[i : i+j+2]
		if _, err := toml.Decode("k = "+lit, &m); err != nil {
			return "", 0, fmt.Errorf("KEY %q: bad quoted key %s", key, lit)
		}
		return m["k"], i + j + 2, nil
	}
	j := i
	for j < len(key) && bareKeyChar(key[j]) {
		j++
	}
	if j == i {
		return "", 0, fmt.Errorf("KEY %q: unexpected %q at offset %d: expected a key (letters, digits, '_', '-', or a quoted key)", key, key[i], i)
	}
	return key[i:j], j, nil
}

// FormatKey writes a path back as KEY text (quoting keys that need it).
func FormatKey(path []PathElem) string {
	var b strings.Builder
	for i, e := range path {
		switch {
		case e.IsIndex && e.All:
			b.WriteString("[*]")
		case e.IsIndex:
			b.WriteString("[" + strconv.Itoa(e.Index) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(quoteKey(e.Key))
		}
	}
	return b.String()
}

func quoteKey(k string) string {
	if k != "" {
		bare := true
		for i := 0; i < len(k); i++ {
			bare = bare && bareKeyChar(k[i])
		}
		if bare {
			return k
		}
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range k {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var bareWord = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_./+-]*$`)

// ParseValue decodes a TOML value; a bare word that is not one is a string.
func ParseValue(s string) (any, error) {
	if s == "" {
		return nil, errors.New("empty: expected a TOML value (1, 0.5, \"text\", true, [1, 2], { a = 1 })")
	}
	var m map[string]any
	md, err := toml.Decode("v = "+s, &m)
	if err == nil && len(md.Keys()) > 0 && len(m) == 1 {
		if v, ok := m["v"]; ok && singleValue(md) {
			return v, nil
		}
	}
	if bareWord.MatchString(s) {
		return s, nil
	}
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%q is not a TOML value (%s); quote strings: '\"text\"'", s, pe.Message)
		}
		return nil, fmt.Errorf("%q is not a TOML value; quote strings: '\"text\"'", s)
	}
	return nil, fmt.Errorf("%q: expected a single TOML value", s)
}

// singleValue reports whether the decoded document holds only v and its
// contents (no other top-level key or table).
func singleValue(md toml.MetaData) bool {
	for _, k := range md.Keys() {
		if len(k) == 0 || k[0] != "v" {
			return false
		}
	}
	return true
}

// LoadWithOverrides reads an experiment file, applies --set overrides and
// checks the result. With no overrides it is Load.
func LoadWithOverrides(path string, sets []string) (*Experiment, error) {
	if len(sets) == 0 {
		return Load(path)
	}
	ovs, err := ParseOverrides(sets)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	return ParseWithOverrides(path, src, ovs)
}

// ParseWithOverrides decodes the experiment into a generic document,
// applies the overrides in order, and decodes and checks the result like
// Parse. Errors at keys the overrides set name "--set KEY"; other errors
// keep their line in the original file. The experiment's Source is the
// file followed by a comment listing the overrides, so the copy frozen in
// the results folder (and its digest) records them.
func ParseWithOverrides(file string, src []byte, ovs []Override) (*Experiment, error) {
	if len(ovs) == 0 {
		return Parse(file, src)
	}
	doc := map[string]any{}
	if _, err := toml.Decode(string(src), &doc); err != nil {
		x := &Experiment{File: file, Source: src, loc: newLocator(src)}
		return nil, Errors{x.decodeError(err)}
	}
	var errs Errors
	touched := map[string]string{} // concrete path -> KEY that set it
	for _, o := range ovs {
		paths, err := apply(doc, o)
		if err != nil {
			errs = append(errs, &Error{File: file, Key: "--set " + o.Key, Msg: err.Error()})
			continue
		}
		for _, p := range paths {
			touched[p] = o.Key
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		return nil, Errors{{File: file, Key: "--set", Msg: fmt.Sprintf("the overridden experiment cannot be written as TOML: %v", err)}}
	}
	x, err := parse(file, src, b.String())
	var es Errors
	if errors.As(err, &es) {
		loc := newLocator(src)
		for _, e := range es {
			if key, ok := overriddenBy(e.Key, touched); ok {
				e.Line = 0
				e.Key = e.Key + " (--set " + key + ")"
				continue
			}
			// Decode errors carry lines of the rewritten text: find the key
			// in the original file instead.
			e.Line = loc.line(e.Key)
		}
		sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
		return nil, es
	}
	if err != nil {
		return nil, err
	}
	x.Source = withOverrideNote(src, ovs)
	return x, nil
}

// overriddenBy reports whether an error key lies at, under or above a path
// an override set. Keys with indices are matched with their indices, so an
// error at optimizers[2] is not blamed on --set optimizers[1]...; decode
// errors name keys without indices, and only those are compared without
// them.
func overriddenBy(key string, touched map[string]string) (string, bool) {
	if key == "" {
		return "", false
	}
	bare := stripIndices(key)
	match := func(a func(p string) string, k string) string {
		best := ""
		for p, set := range touched {
			if pa := a(p); under(k, pa) || under(pa, k) {
				if best == "" || set < best {
					best = set
				}
			}
		}
		return best
	}
	best := match(func(p string) string { return p }, key)
	if best == "" && bare == key {
		best = match(stripIndices, bare)
	}
	return best, best != ""
}

// under reports whether path a is b or lies inside b.
func under(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(a, b+"[")
}

// withOverrideNote appends the overrides to the source as comments.
func withOverrideNote(src []byte, ovs []Override) []byte {
	var b strings.Builder
	b.Write(src)
	if len(src) > 0 && src[len(src)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString("\n# This run applied these overrides to the values above (ccq --set):\n")
	for _, o := range ovs {
		b.WriteString("#   --set " + strings.ReplaceAll(o.Raw, "\n", " ") + "\n")
	}
	return []byte(b.String())
}

// apply sets o.Value at o.Path in doc and returns the concrete paths set.
func apply(doc map[string]any, o Override) ([]string, error) {
	var set []string
	err := setAt(doc, o.Path, "", o.Value, &set)
	return set, err
}

func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("a %T", v)
}

// copyValue deep-copies maps and slices so that [*] targets do not share them.
func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = copyValue(x)
		}
		return m
	case []map[string]any:
		s := make([]map[string]any, len(v))
		for i, x := range v {
			s[i] = copyValue(x).(map[string]any)
		}
		return s
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = copyValue(x)
		}
		return s
	}
	return v
}

// setAt walks cur (a table or an array) along path; at is the concrete
// path walked so far.
func setAt(cur any, path []PathElem, at string, val any, set *[]string) error {
	e := path[0]
	last := len(path) == 1
	if !e.IsIndex {
		m, ok := cur.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is %s, not a table, so it has no key %q", at, describe(cur), e.Key)
		}
		here := join(at, e.Key)
		if last {
			m[e.Key] = copyValue(val)
			*set = append(*set, here)
			return nil
		}
		child, has := m[e.Key]
		if !has {
			if path[1].IsIndex {
				return fmt.Errorf("%s does not exist in the experiment, so it cannot be indexed", here)
			}
			child = map[string]any{}
			m[e.Key] = child
		}
		return setAt(child, path[1:], here, val, set)
	}
	n := 0
	switch c := cur.(type) {
	case []map[string]any:
		n = len(c)
	case []any:
		n = len(c)
	default:
		return fmt.Errorf("%s is %s, not an array, so it cannot be indexed", at, describe(cur))
	}
	var idx []int
	if e.All {
		if n == 0 {
			return fmt.Errorf("%s[*] matches nothing: %s is empty", at, at)
		}
		for i := 0; i < n; i++ {
			idx = append(idx, i)
		}
	} else {
		if e.Index >= n {
			return fmt.Errorf("%s[%d]: index out of range: %s has %d element(s), numbered from 0", at, e.Index, at, n)
		}
		idx = []int{e.Index}
	}
	for _, i := range idx {
		here := at + "[" + strconv.Itoa(i) + "]"
		switch c := cur.(type) {
		case []map[string]any:
			if last {
				t, ok := val.(map[string]any)
				if !ok {
					return fmt.Errorf("%s is an entry of an array of tables: expected an inline table { key = value, ... }, got %s", here, describe(val))
				}
				c[i] = copyValue(t).(map[string]any)
				*set = append(*set, here)
				continue
			}
			if err := setAt(c[i], path[1:], here, val, set); err != nil {
				return err
			}
		case []any:
			if last {
				c[i] = copyValue(val)
				*set = append(*set, here)
				continue
			}
			if err := setAt(c[i], path[1:], here, val, set); err != nil {
				return err
			}
		}
	}
	return nil
}
