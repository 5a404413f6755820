package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// ParseParameters decodes a RunRow.Parameters string: a JSON object, or ""
// for none. Numbers stay json.Number so that 0.1 and 1e-1 compare as written.
func ParseParameters(s string) (map[string]any, error) {
	out := map[string]any{}
	if len(bytes.TrimSpace([]byte(s))) == 0 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("expected a JSON object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("expected a single JSON object, found trailing data")
	}
	if out == nil {
		return nil, fmt.Errorf("expected a JSON object, found null")
	}
	return out, nil
}

// CanonicalParameters returns the parameters as compact JSON with sorted keys,
// so that equal parameter sets compare equal as strings.
func CanonicalParameters(s string) (string, error) {
	m, err := ParseParameters(s)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(m) // maps marshal with sorted keys
	if err != nil {
		return "", fmt.Errorf("encoding parameters: %w", err)
	}
	return string(b), nil
}
