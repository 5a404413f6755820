package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Params are a stage's parameters in canonical form: JSON with object keys
// sorted, no insignificant white space, and numbers normalised (an integer
// written as 4 or 4.0 gives "4"). The canonical bytes enter the stage key.
// The zero value is the empty object.
type Params struct {
	canon []byte
}

// NewParams canonicalises a map of parameter values. Values may be nil,
// bool, strings, integers, finite floats, time.Time (kept as RFC 3339
// text), and slices and maps of those, as produced by a TOML or JSON decoder.
func NewParams(m map[string]any) (Params, error) {
	if len(m) == 0 {
		return Params{}, nil
	}
	norm, err := normalise(m, "")
	if err != nil {
		return Params{}, err
	}
	b, err := json.Marshal(norm)
	if err != nil {
		return Params{}, fmt.Errorf("params: %w", err)
	}
	return Params{canon: b}, nil
}

// MustParams is NewParams for literals in code and tests; it panics on error.
func MustParams(m map[string]any) Params {
	p, err := NewParams(m)
	if err != nil {
		panic(err)
	}
	return p
}

// ParseParams canonicalises a JSON object.
func ParseParams(b []byte) (Params, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return Params{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Params{}, fmt.Errorf("params: %w", err)
	}
	if dec.More() {
		return Params{}, errors.New("params: trailing data after the JSON object")
	}
	return NewParams(m)
}

func normalise(v any, path string) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("params %s: integer %d too large", path, x)
		}
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("params %s: integer %d too large", path, x)
		}
		return int64(x), nil
	case float32:
		return normFloat(float64(x), path)
	case float64:
		return normFloat(x, path)
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("params %s: bad number %q", path, x)
		}
		return normFloat(f, path)
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case time.Duration:
		return x.String(), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalise(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out, nil
	case []int64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	case []float64:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normFloat(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalise(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			n, err := normalise(e, p)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	default:
		return nil, fmt.Errorf("params %s: unsupported value of type %T", path, v)
	}
}

func normFloat(f float64, path string) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("params %s: %v is not a finite number", path, f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f), nil
	}
	return f, nil
}

// JSON returns the canonical bytes ("{}" for no parameters). Do not modify them.
func (p Params) JSON() []byte {
	if len(p.canon) == 0 {
		return []byte("{}")
	}
	return p.canon
}

// String returns the canonical JSON text.
func (p Params) String() string { return string(p.JSON()) }

// Equal reports whether two parameter sets are canonically identical.
func (p Params) Equal(q Params) bool { return bytes.Equal(p.JSON(), q.JSON()) }

// Map returns a fresh decoded copy; numbers are json.Number.
func (p Params) Map() map[string]any {
	m := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(p.JSON()))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

// Get returns one top-level parameter (numbers as json.Number) and whether it is set.
func (p Params) Get(key string) (any, bool) {
	v, ok := p.Map()[key]
	return v, ok
}

// With returns a copy with key set to v.
func (p Params) With(key string, v any) (Params, error) {
	m := p.Map()
	m[key] = v
	return NewParams(m)
}

// MarshalJSON writes the canonical form.
func (p Params) MarshalJSON() ([]byte, error) { return p.JSON(), nil }

// UnmarshalJSON reads any JSON object and canonicalises it.
func (p *Params) UnmarshalJSON(b []byte) error {
	q, err := ParseParams(b)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ParamError is a problem with one parameter. Key is a dotted path from the
// top of the parameters (for example "budget.evaluations"); tools map it back
// to the line of the experiment file it came from.
type ParamError struct {
	Key string
	Msg string
}

func (e *ParamError) Error() string {
	if e.Key == "" {
		return "params: " + e.Msg
	}
	return fmt.Sprintf("param %s: %s", e.Key, e.Msg)
}

// Decode fills the struct (or map) v from the parameters, using the
// encoding/json rules (field tags `json:"name"`). Keys that v has no field
// for are rejected, as are values of the wrong type; errors are *ParamError.
// After decoding, if v implements interface{ Validate() error }, Validate is
// called and a non-nil result returned as is.
func (p Params) Decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(p.JSON()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return toParamError(err, v)
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}

func toParamError(err error, v any) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &ParamError{Key: jsonPath(reflect.TypeOf(v), te.Field), Msg: fmt.Sprintf("expected %s, got a JSON %s", te.Type, te.Value)}
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		k, _ := strconv.Unquote(strings.TrimPrefix(msg, "json: unknown field "))
		return &ParamError{Key: k, Msg: "unknown parameter"}
	}
	var pe *ParamError
	if errors.As(err, &pe) {
		return pe
	}
	return &ParamError{Msg: msg}
}

// jsonPath removes from a json.UnmarshalTypeError's field path the names
// of embedded structs, whose fields appear in the JSON object itself
// ("Recipe.epochs" is the parameter "epochs").
func jsonPath(t reflect.Type, field string) string {
	var out []string
	for _, seg := range strings.Split(field, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t != nil && t.Kind() == reflect.Struct {
			if f, ok := t.FieldByName(seg); ok && f.Anonymous && f.Tag.Get("json") == "" {
				t = f.Type
				continue
			}
			t = fieldType(t, seg)
		} else {
			t = nil
		}
		out = append(out, seg)
	}
	return strings.Join(out, ".")
}

// fieldType is the type of the struct field whose JSON name is name (nil
// when there is none).
func fieldType(t reflect.Type, name string) reflect.Type {
	for _, f := range reflect.VisibleFields(t) {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name || (tag == "" && strings.EqualFold(f.Name, name)) {
			return f.Type
		}
	}
	return nil
}

// SortedKeys returns the top-level parameter names in order.
func (p Params) SortedKeys() []string {
	m := p.Map()
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Duration is a time.Duration that decodes from JSON text such as "90m" or
// "1h30m" as well as from a number of seconds. Use it in parameter structs.
type Duration time.Duration

// UnmarshalJSON accepts "1h30m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return &ParamError{Msg: fmt.Sprintf("bad duration %q (expected for example \"90m\" or \"1h30m\")", s)}
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return &ParamError{Msg: fmt.Sprintf("bad duration %s (expected text such as \"90m\" or seconds)", b)}
	}
	*d = Duration(time.Duration(f * float64(time.Second)))
	return nil
}

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }
