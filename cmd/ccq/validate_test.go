package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/plugins/catalog"
)

// TestValidateAndRunRefuseTheSameFaults: an unknown plugin, a plugin path
// that does not exist or is not a program, a wrong sha256 pin and a bad
// plugin parameter make `ccq validate` fail with the file, the line and
// the stages, and `ccq run` refuse with the same lines before it creates
// the results folder or the store.
func TestValidateAndRunRefuseTheSameFaults(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(catalog.PathEnv, dir) // no ccq-optimizer-* there
	if err := os.WriteFile(filepath.Join(dir, "plug.sh"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("not a program\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const head = `name = "faults"
[dataset]
name = "mnist"
[pretrain]
model = "mlp"
epochs = 1
[[quantize]]
method = "rtn"
bits = [2, 4]
[[optimizers]]
start = "rtn"
seeds = [1]
budget = { evaluations = 10 }
`
	cases := []struct {
		name, optimizer, want string
	}{
		{"unknown-plugin", `plugin = "no-such-optimizer"`,
			`unknown-plugin.toml:14: param plugin: plugin "no-such-optimizer": not a built-in`},
		{"missing-path", `plugin = "./bin/absent"`,
			`missing-path.toml:14: file plugin: ` + filepath.Join(dir, "bin", "absent") + ` does not exist`},
		{"not-a-program", `plugin = "./data.txt"`,
			`not-a-program.toml:14: file plugin: ` + filepath.Join(dir, "data.txt") + ` is not executable`},
		{"wrong-pin", "plugin = \"./plug.sh\"\nsha256 = \"" + strings.Repeat("ab", 32) + "\"",
			`wrong-pin.toml:15: file plugin (` + filepath.Join(dir, "plug.sh") + `) has SHA-256 `},
		{"bad-param", "plugin = \"ccea\"\nparams = { lambda = \"many\" }",
			`bad-param.toml:15: param plugin_params.lambda: ccea: params: parameter "lambda": got a JSON string`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, c.name+".toml")
			if err := os.WriteFile(file, []byte(head+c.optimizer+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			stages := "(stages evolve/"
			out, err := runCCQ(t, "validate", file)
			var ec *exitCodeError
			if !errors.As(err, &ec) || ec.code != 1 {
				t.Fatalf("validate: %v, want exit 1\n%s", err, out)
			}
			line := faultLine(out, c.want)
			if line == "" || !strings.Contains(line, stages) || !strings.Contains(line, "-w2-s1 and evolve/") {
				t.Fatalf("validate output lacks %q ... %s ...:\n%s", c.want, stages, out)
			}
			results := filepath.Join(dir, "results-"+c.name)
			rout, err := runCCQ(t, "run", file, "--results", results, "--store", filepath.Join(results, "store"), "--progress", "none")
			if !errors.As(err, &ec) || ec.code != 1 || !strings.Contains(err.Error(), "refused, nothing was run") {
				t.Fatalf("run: %v, want a refusal with exit 1\n%s", err, rout)
			}
			if faultLine(rout, c.want) != line {
				t.Errorf("run says:\n%s\nvalidate says:\n%s", rout, line)
			}
			if _, err := os.Stat(results); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("run created %s before refusing (%v)", results, err)
			}
		})
	}
}

// faultLine returns the first line of out that contains want, or "".
func faultLine(out, want string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, want) {
			return l
		}
	}
	return ""
}
