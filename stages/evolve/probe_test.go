package evolve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/plugins/catalog"
)

// TestProbeChecksExternalPluginParams: an external plugin (here this test
// binary serving mutation-ea through a script, on the plugin path or by
// path) is asked once for its declared parameters; unknown names and wrong
// types are refused with the parameter named, and a plugin that does not
// start is refused with what went wrong.
func TestProbeChecksExternalPluginParams(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	script := filepath.Join(dir, catalog.FilePrefix+"mine")
	body := "#!/bin/sh\necho start >> '" + starts + "'\n" + catalog.EnvServeBuiltin + "=mutation-ea exec '" + exe + "' -test.run='^$'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'no protocol here' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	saved := resolver
	t.Cleanup(func() { resolver = saved })
	resolver = func() *catalog.Resolver {
		return &catalog.Resolver{Dirs: []string{dir}, Builtin: catalog.TestBinarySpec}
	}
	params := func(plugin string, pp map[string]any) pipeline.Params {
		m := map[string]any{"plugin": plugin, "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 100}}
		if pp != nil {
			m["plugin_params"] = pp
		}
		return pipeline.MustParams(m)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		pp    map[string]any
		files map[string]string
		key   string // "" = accepted
		msg   string
	}{
		{"mine", nil, nil, "", ""},
		{"mine", map[string]any{"rate": 0.01, "lambda": 8}, nil, "", ""},
		{"mine", map[string]any{"speed": 2}, nil, "plugin_params.speed", `mine: params: unknown parameter "speed"`},
		{"mine", map[string]any{"lambda": "many"}, nil, "plugin_params.lambda", `mine: params: parameter "lambda": got "many", expected an int`},
		{"mine", map[string]any{"lambda": 8}, map[string]string{"plugin": script}, "", ""},
		{"broken", nil, map[string]string{"plugin": broken}, "plugin", "plugin broken: asking it for its parameters: "},
		{"ccea", map[string]any{"anything": 1}, nil, "", ""}, // built-ins: CheckParams' job
	} {
		err := Kind{}.Probe(ctx, params(tc.name, tc.pp), tc.files)
		var pe *pipeline.ParamError
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s %v: %v, want accepted", tc.name, tc.pp, err)
		case tc.key != "" && (!errors.As(err, &pe) || pe.Key != tc.key || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("%s %v: %v, want a parameter error on %s containing %q", tc.name, tc.pp, err, tc.key, tc.msg)
		}
	}
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "start"); n != 1 {
		t.Errorf("the plugin was started %d times for 5 checks, want once", n)
	}
}
