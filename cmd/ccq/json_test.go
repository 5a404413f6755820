package main

import (
	"encoding"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/internal/cpupeak"
	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/quant/evalbench"
	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/results/report"
)

// jsonOutputs names the type of every value a command prints with --json,
// by the file and the argument of its printJSON call. TestJSONOutputsListed
// fails when a call is missing here, so a new --json output cannot skip
// TestJSONKeysAreSnakeCase.
var jsonOutputs = map[string]reflect.Type{
	"bench.go: rep":                        reflect.TypeFor[benchReport](),
	"bench_evaluator.go: res":              reflect.TypeFor[*evalbench.BenchResult](),
	"bench_peak.go: res":                   reflect.TypeFor[[]cpupeak.Result](),
	"cancel.go: rep":                       reflect.TypeFor[*slurm.CancelReport](),
	"compare.go: c":                        reflect.TypeFor[report.Comparison](),
	"data.go: r":                           reflect.TypeFor[datasets.FetchResult](),
	"data.go: s":                           reflect.TypeFor[datasets.Summary](),
	"data.go: datasets.Names()":            reflect.TypeFor[[]string](),
	"doctor.go: rep":                       reflect.TypeFor[*doctorReport](),
	"evaluate.go: rep":                     reflect.TypeFor[evalReport](),
	"plan.go: s.Report(p)":                 reflect.TypeFor[*workspace.PlanReport](),
	"plugins.go: entries":                  reflect.TypeFor[[]catalog.Entry](),
	"quantize.go: rep":                     reflect.TypeFor[quantizeReport](),
	"report.go: sum":                       reflect.TypeFor[report.Summary](),
	"run.go: sum":                          reflect.TypeFor[*pipeline.Summary](),
	"schema.go: results.Schemas()":         reflect.TypeFor[[]results.TableSchema](),
	"stage.go: e":                          reflect.TypeFor[*store.Entry](),
	"status.go: workspace.StatusReport{…}": reflect.TypeFor[workspace.StatusReport](),
	"train.go: log":                        reflect.TypeFor[*withdata.RunLog](),
	"validate.go: out":                     reflect.TypeFor[[]validation](),
	"version.go: info":                     reflect.TypeFor[version.Info](),
}

// printJSONCalls lists the printJSON calls in this package's non-test files
// as "file: argument" (a composite literal's fields shown as …).
func printJSONCalls(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "printJSON" || len(call.Args) != 2 {
				return true
			}
			arg := call.Args[1]
			text := string(src[fset.Position(arg.Pos()).Offset:fset.Position(arg.End()).Offset])
			if lit, ok := arg.(*ast.CompositeLit); ok {
				text = string(src[fset.Position(lit.Type.Pos()).Offset:fset.Position(lit.Type.End()).Offset]) + "{…}"
			}
			calls = append(calls, name+": "+text)
			return true
		})
	}
	sort.Strings(calls)
	return calls
}

func TestJSONOutputsListed(t *testing.T) {
	calls := printJSONCalls(t)
	if len(calls) < 10 {
		t.Fatalf("found only %d printJSON calls: %v", len(calls), calls)
	}
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c] = true
		if _, ok := jsonOutputs[c]; !ok {
			t.Errorf("--json output %q is not in jsonOutputs: add the type it prints", c)
		}
	}
	for c := range jsonOutputs {
		if !seen[c] {
			t.Errorf("jsonOutputs lists %q, which no printJSON call prints", c)
		}
	}
}

// freeForm are the paths of interface-typed values that are data, not
// structure: the facts a stage records in its store manifest, under names
// the stage chooses.
var freeForm = map[string]bool{"*store.Entry.manifest.meta[]": true}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestJSONKeysAreSnakeCase walks every type a --json output prints and
// checks that every object key encoding/json writes for it is snake_case.
// Map keys are data (stage names, parameter names) and are not checked;
// a value of interface type fails the test, as its keys cannot be checked.
func TestJSONKeysAreSnakeCase(t *testing.T) {
	for call, typ := range jsonOutputs {
		w := keyWalker{seen: map[reflect.Type]bool{}}
		w.walk(typ, typ.String())
		for _, bad := range w.bad {
			t.Errorf("%s prints %s", call, bad)
		}
	}
}

// The walker itself catches what it should.
func TestKeyWalkerFindsGoFieldNames(t *testing.T) {
	type inner struct {
		MinTime int
		OK      bool `json:"ok"`
	}
	type outer struct {
		Config inner            `json:"config"`
		List   []*inner         `json:"list"`
		ByName map[string]inner `json:"by_name"`
		Skip   int              `json:"-"`
		hidden int
		inner
	}
	w := keyWalker{seen: map[reflect.Type]bool{}}
	w.walk(reflect.TypeFor[outer](), "outer")
	if len(w.bad) != 1 || !strings.Contains(w.bad[0], `"MinTime"`) {
		t.Errorf("bad keys %q, want the one MinTime (types are walked once)", w.bad)
	}
}

type keyWalker struct {
	seen map[reflect.Type]bool
	bad  []string
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func (w *keyWalker) walk(t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if w.seen[t] {
		return
	}
	w.seen[t] = true
	// Other modules' types that encode themselves (time.Time) are leaves.
	// ccq's own are walked: their MarshalJSON methods write their fields
	// (NaN as null) or, for pipeline.Params, data with no exported field.
	if !strings.HasPrefix(t.PkgPath(), version.Module+"/") && t.PkgPath() != "main" &&
		(t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) ||
			t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler)) {
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		if freeForm[path] {
			return
		}
		w.bad = append(w.bad, "a value of interface type "+t.String()+" (its keys cannot be checked) at "+path)
	case reflect.Slice, reflect.Array, reflect.Map:
		w.walk(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				w.walk(f.Type, path)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if !snakeCase.MatchString(name) {
				w.bad = append(w.bad, "key "+`"`+name+`"`+" at "+path+"."+f.Name)
			}
			w.walk(f.Type, path+"."+name)
		}
	}
}
