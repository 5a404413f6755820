package evolve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/catalog"
)

func TestFingerprintFollowsThePlugin(t *testing.T) {
	params := func(plugin string) pipeline.Params {
		return pipeline.MustParams(map[string]any{"plugin": plugin, "bits": 2, "seed": 1, "budget": map[string]any{"evaluations": 100}})
	}
	// A built-in: its version and defaults.
	deps, err := Kind{}.Fingerprint(params("ccea"), nil)
	want, _ := builtin.Fingerprint("ccea")
	if err != nil || deps["plugin"] != want {
		t.Fatalf("ccea: %v %v, want plugin=%q", deps, err, want)
	}
	// A plugin named by path is in the key by its file already.
	if deps, err := (Kind{}).Fingerprint(params("mine"), map[string]string{"plugin": "ab"}); err != nil || len(deps) != 0 {
		t.Fatalf("path plugin: %v %v, want nothing", deps, err)
	}

	// A plugin on the plugin path: the digest of its executable.
	dir := t.TempDir()
	exe := filepath.Join(dir, catalog.FilePrefix+"mine")
	write := func(body string, mod time.Time) {
		if err := os.WriteFile(exe, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(exe, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	write("#!/bin/sh\necho v1\n", time.Unix(1_700_000_000, 0))
	saved := resolver
	t.Cleanup(func() { resolver = saved })
	resolver = func() *catalog.Resolver {
		return &catalog.Resolver{Dirs: []string{dir}, Builtin: catalog.TestBinarySpec}
	}
	v1, err := Kind{}.Fingerprint(params("mine"), nil)
	if err != nil || !strings.HasPrefix(v1["plugin"], "mine sha256:") {
		t.Fatalf("plugin-path plugin: %v %v", v1, err)
	}
	write("#!/bin/sh\necho v2\n", time.Unix(1_700_000_100, 0))
	v2, err := Kind{}.Fingerprint(params("mine"), nil)
	if err != nil || v2["plugin"] == v1["plugin"] {
		t.Fatalf("rebuilt plugin kept its fingerprint: %v then %v (%v)", v1, v2, err)
	}
	// One that is not there blocks planning with the resolver's message.
	if _, err := (Kind{}).Fingerprint(params("absent"), nil); err == nil || !strings.Contains(err.Error(), `"absent"`) {
		t.Fatalf("missing plugin: %v", err)
	}
}

func TestCheckParamsChecksBuiltinParams(t *testing.T) {
	params := func(plugin string, pp map[string]any) pipeline.Params {
		m := map[string]any{"plugin": plugin, "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 100}}
		if pp != nil {
			m["plugin_params"] = pp
		}
		return pipeline.MustParams(m)
	}
	for _, tc := range []struct {
		plugin string
		pp     map[string]any
		key    string // "" = valid
	}{
		{"ccea", nil, ""},
		{"ccea", map[string]any{"eps": 0.02, "restart_below": 0.05}, ""},
		{"mutation-ea", map[string]any{"rate": 0.002}, ""},
		{"ccea", map[string]any{"away": 2}, "plugin_params.away"},
		{"ccea", map[string]any{"lambda": "many"}, "plugin_params.lambda"},
		{"ccea", map[string]any{"restart_below": 1.5}, "plugin_params"},
		{"mutation-ea", map[string]any{"group_size": 10}, "plugin_params.group_size"},
		{"my-external", map[string]any{"anything": 1}, ""}, // checked by the plugin itself
	} {
		err := Kind{}.CheckParams(params(tc.plugin, tc.pp))
		var pe *pipeline.ParamError
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s %v: %v, want valid", tc.plugin, tc.pp, err)
		case tc.key != "" && (!errors.As(err, &pe) || pe.Key != tc.key || !strings.Contains(err.Error(), tc.plugin)):
			t.Errorf("%s %v: %v, want a parameter error on %s naming the plugin", tc.plugin, tc.pp, err, tc.key)
		}
	}
}
