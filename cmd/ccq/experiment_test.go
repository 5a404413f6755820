package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ccq-project/ccq/plugins/catalog"
)

// tinyExperiment sets up a tiny MNIST experiment for the in-process CLI
// tests: a temporary folder that is also the only place searched for plugins
// and the data cache's parent (data/), and in it name.toml, which pretrains
// an MLP for one epoch and then has the lines of rest (pretrain keys, then
// further tables). It returns the folder and the file.
func tinyExperiment(t *testing.T, name, rest string) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv(catalog.PathEnv, dir)
	t.Setenv("CCQ_DATA", filepath.Join(dir, "data"))
	file = filepath.Join(dir, name+".toml")
	src := `name = "` + name + `"
[dataset]
name = "mnist"
[pretrain]
model = "mlp"
epochs = 1
` + rest
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}
