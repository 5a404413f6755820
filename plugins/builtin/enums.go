package builtin

import (
	"fmt"
	"strings"
)

// Accept is how a candidate that beats the context replaces it (parameter
// accept of every built-in).
type Accept string

// The values of Accept.
const (
	// AcceptRecheck: the candidate becomes the context only after beating
	// it again on the next generation's batch.
	AcceptRecheck Accept = "recheck"
	// AcceptGreedy: at once (the paper).
	AcceptGreedy Accept = "greedy"
)

// FreezeCheck is how freezing a confident variable changes the context
// (parameter freeze_check of the ccea family).
type FreezeCheck string

// The values of FreezeCheck.
const (
	// FreezeEval: the frozen context is scored on the next batch and kept
	// only if not worse.
	FreezeEval FreezeCheck = "eval"
	// FreezeNone: kept unchecked (the paper).
	FreezeNone FreezeCheck = "none"
	// FreezeContext: the variable freezes at its context level.
	FreezeContext FreezeCheck = "context"
)

// Follow is what the ccea family's distributions do when the context moves
// (parameter follow).
type Follow string

// The values of Follow.
const (
	FollowNone Follow = "none" // they stay where they were (the paper)
	FollowSwap Follow = "swap" // old and new context levels swap probabilities
)

// Learn is which candidates the ccea family's distributions learn from
// (parameter learn).
type Learn string

// The values of Learn.
const (
	LearnTop    Learn = "top"    // the mu best (the paper)
	LearnBetter Learn = "better" // the mu best that beat the context
)

// oneOf checks that v is among values; the error names the parameter and
// lists what is expected.
func oneOf[T ~string](param string, v T, values ...T) error {
	for _, x := range values {
		if v == x {
			return nil
		}
	}
	q := make([]string, len(values))
	for i, x := range values {
		q[i] = fmt.Sprintf("%q", string(x))
	}
	expected := strings.Join(q, " or ")
	if len(q) > 2 {
		expected = strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
	}
	return fmt.Errorf("params: %s %q: expected %s", param, string(v), expected)
}
