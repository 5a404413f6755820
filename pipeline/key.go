package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
)

// KeyRecipeVersion numbers the recipe below. Bump it whenever the recipe
// changes; the number is itself hashed, so every key changes with it.
//
// The key of a stage instance is the first 32 hex digits (128 bits) of the
// SHA-256 of this text, one field per line, with "\n" line ends:
//
//	ccq-stage-key/v<KeyRecipeVersion>
//	kind=<kind name>
//	kind_version=<Kind.Version()>
//	ccq_version=<internal/version.Version>
//	params=<canonical params JSON (see Params)>
//	input <name>=<input key>        one line per input, sorted by name
//	file <name>=sha256:<hex>        one line per external file, sorted by name
//	dep <name>=<value>              one line per dependency a Fingerprinter
//	                                kind reports, sorted by name (absent for
//	                                other kinds, whose keys are unchanged)
//
// Nothing else enters the key: not the stage's name, not the experiment,
// not paths (an external file enters by content), not times, hosts or the
// store's location. So the same stage gets the same key in any run, any
// experiment and on any machine with the same ccq version.
const KeyRecipeVersion = 1

// KeyInput is what the key of one stage instance is computed from.
type KeyInput struct {
	Kind        string
	KindVersion string
	CCQVersion  string
	Params      Params
	// Inputs maps input names to the inputs' keys.
	Inputs map[string]string
	// Files maps external file names to their hex SHA-256 digests.
	Files map[string]string
	// Deps maps dependency names to the values a Fingerprinter reported.
	Deps map[string]string
}

// Key computes the stage key from its ingredients (see KeyRecipeVersion).
func Key(in KeyInput) string {
	var b strings.Builder
	b.WriteString("ccq-stage-key/v" + strconv.Itoa(KeyRecipeVersion) + "\n")
	b.WriteString("kind=" + in.Kind + "\n")
	b.WriteString("kind_version=" + in.KindVersion + "\n")
	b.WriteString("ccq_version=" + in.CCQVersion + "\n")
	b.WriteString("params=")
	b.Write(in.Params.JSON())
	b.WriteString("\n")
	for _, n := range sortedKeys(in.Inputs) {
		b.WriteString("input " + n + "=" + in.Inputs[n] + "\n")
	}
	for _, n := range sortedKeys(in.Files) {
		b.WriteString("file " + n + "=sha256:" + in.Files[n] + "\n")
	}
	for _, n := range sortedKeys(in.Deps) {
		b.WriteString("dep " + n + "=" + in.Deps[n] + "\n")
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:16])
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
