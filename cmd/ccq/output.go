package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// printJSON writes v as indented JSON followed by a newline. Every --json
// output goes through it, and every object key it writes is snake_case:
// json_test.go lists each call's type and checks its keys.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}
