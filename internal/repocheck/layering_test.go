package repocheck

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ccq-project/ccq/"

// layers say which of the module's packages a folder's code (tests aside)
// may import: the engine below the data, the data below the stages.
var layers = []struct {
	dir     string   // folder (and its subfolders) whose files are checked
	except  []string // subfolders exempt from the rule
	forbids []string // module package prefixes it must not import
	allows  []string // packages under forbids it may import all the same
}{
	// nn is the float engine: no datasets (nn/withdata connects them), and
	// nothing built on it.
	{"nn", []string{"nn/withdata"}, []string{"datasets", "quant", "pipeline", "stages", "results", "plugins", "cmd"}, nil},
	{"nn/withdata", nil, []string{"quant", "pipeline", "stages", "results", "plugins", "cmd"}, nil},
	// The budget is a leaf the experiment file, the evolve stage and the
	// host share.
	{"plugins/budget", nil, []string{""}, nil},
	{"internal/atomicfile", nil, []string{""}, nil},
	{"internal/digest", nil, []string{""}, nil},
	// The pipeline runs stage kinds it does not know; the experiment
	// expansion builds the built-in kinds' parameters from the leaf
	// package of their structs, and links no stage.
	{"pipeline", nil, []string{"stages", "cmd"}, []string{"stages/stageparams"}},
	{"pipeline", []string{"pipeline/experiment"}, []string{"stages/stageparams"}, nil},
	{"stages/stageparams", nil, []string{""}, []string{"pipeline", "plugins/budget"}},
}

func TestLayering(t *testing.T) {
	dir := root(t)
	for _, f := range files(t, dir) {
		if !strings.HasSuffix(f, ".go") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		pkg := filepath.ToSlash(filepath.Dir(f))
		for _, l := range layers {
			if !within(pkg, l.dir) || exempt(pkg, l.except) {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, f), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				rel, ok := strings.CutPrefix(path, module)
				if !ok {
					continue
				}
				for _, bad := range l.forbids {
					if within(rel, bad) && !within(rel, l.dir) && !slices.Contains(l.allows, rel) {
						t.Errorf("%s imports %s: %s must not depend on %q", f, path, l.dir, bad)
					}
				}
			}
		}
	}
}

// within reports whether pkg is dir or below it ("" holds everything).
func within(pkg, dir string) bool {
	return dir == "" || pkg == dir || strings.HasPrefix(pkg, dir+"/")
}

func exempt(pkg string, dirs []string) bool {
	for _, d := range dirs {
		if within(pkg, d) {
			return true
		}
	}
	return false
}
