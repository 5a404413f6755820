package experiments_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/keys.golden from the current code (only when a key change is intended)")

// keysGolden lists, for every committed experiment file (and the
// quickstart with the CI's overrides), each stage's name and the first 16
// hex digits of its store key (which hashes the stage's canonical
// parameters, its inputs' keys, its files' digests and its kind's version):
// "<file> <stage> <key>" per line.
const keysGolden = "testdata/keys.golden"

// TestStoreKeysUnchanged fails when any stage of a committed experiment
// file gets another store key or other canonical parameters than
// testdata/keys.golden records: a change to how parameters are built or
// serialised must not orphan the store entries of finished runs. A change
// that is meant to alter what a stage computes bumps the kind's Version
// (or internal/version) and regenerates the file with
// `go test ./experiments -run TestStoreKeysUnchanged -update`.
func TestStoreKeysUnchanged(t *testing.T) {
	var b bytes.Buffer
	params := map[string]string{}
	add := func(label, file string, sets []string) {
		p := plan(t, file, session(t, file, sets))
		for _, sp := range p.Stages {
			fmt.Fprintf(&b, "%s %s %.16s\n", label, sp.Name, sp.Key)
			params[label+" "+sp.Name] = sp.Params.String()
		}
	}
	for _, f := range files(t) {
		add(f, f, nil)
	}
	add("quickstart.toml+ci", "quickstart.toml", ciOverrides)
	if *update {
		if err := os.MkdirAll(filepath.Dir(keysGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keysGolden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(keysGolden)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	wantLines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		f := strings.SplitN(l, " ", 3)
		if len(f) == 3 {
			wantLines[f[0]+" "+f[1]] = f[2]
		}
	}
	seen := map[string]bool{}
	changed := 0
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		f := strings.SplitN(l, " ", 3)
		id := f[0] + " " + f[1]
		seen[id] = true
		w, ok := wantLines[id]
		switch {
		case !ok:
			t.Errorf("%s: a stage %s lacks (new stage? regenerate with -update if intended)", id, keysGolden)
		case w != f[2]:
			if changed++; changed <= 10 {
				t.Errorf("%s: key %s, %s has %s; its parameters now: %s", id, f[2], keysGolden, w, params[id])
			}
		}
	}
	for id := range wantLines {
		if !seen[id] {
			t.Errorf("%s: in %s but no longer planned", id, keysGolden)
		}
	}
	if changed > 10 {
		t.Errorf("... %d stages changed in all", changed)
	}
}
