// Package catalog finds optimizer plugins: the built-in ones served by the
// ccq binary itself, external executables on CCQ_PLUGIN_PATH named
// ccq-optimizer-NAME, and executables named by path. It resolves an
// experiment's plugin reference to an rpc.Spec and lists every plugin found
// with its version and parameters.
package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ccq-project/ccq/internal/executable"
	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/rpc"
)

// PathEnv is the environment variable listing plugin directories,
// separated by the OS's list separator (":" on Unix).
const PathEnv = "CCQ_PLUGIN_PATH"

// FilePrefix is the file-name prefix of external plugins on the plugin path.
const FilePrefix = "ccq-optimizer-"

// Ref names a plugin as an experiment does.
type Ref struct {
	// Plugin is a built-in name ("ccea"), an external plugin's NAME on the
	// plugin path, or a path to an executable (anything containing a "/").
	Plugin string `json:"plugin" toml:"plugin"`
	// SHA256 optionally pins an external executable's hex SHA-256.
	SHA256 string `json:"sha256,omitempty" toml:"sha256"`
}

// Resolver turns references into process specs.
type Resolver struct {
	// Dirs are searched in order for ccq-optimizer-NAME executables.
	Dirs []string
	// Builtin returns the spec serving a built-in (default rpc.BuiltinSpec:
	// re-execute this binary as `ccq plugin serve NAME`; tests substitute
	// TestBinarySpec).
	Builtin func(name string) (rpc.Spec, error)
}

// DefaultResolver searches CCQ_PLUGIN_PATH and re-executes this binary for
// built-ins.
func DefaultResolver() *Resolver {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv(PathEnv)) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return &Resolver{Dirs: dirs, Builtin: rpc.BuiltinSpec}
}

// Resolve returns the spec that starts the referenced plugin.
func (r *Resolver) Resolve(ref Ref) (rpc.Spec, error) {
	name := strings.TrimSpace(ref.Plugin)
	switch {
	case name == "":
		return rpc.Spec{}, fmt.Errorf("plugin reference: empty name")
	case strings.ContainsRune(name, '/'):
		abs, err := filepath.Abs(name)
		if err != nil {
			return rpc.Spec{}, fmt.Errorf("plugin %q: %w", name, err)
		}
		if err := executable.Check(abs); err != nil {
			return rpc.Spec{}, fmt.Errorf("plugin %q: %w", name, err)
		}
		return rpc.Spec{Name: strings.TrimPrefix(filepath.Base(abs), FilePrefix), Path: abs, SHA256: ref.SHA256, Source: "path"}, nil
	case builtin.IsBuiltin(name):
		if ref.SHA256 != "" {
			return rpc.Spec{}, fmt.Errorf("plugin %q is built in: a sha256 pin applies to external plugins only", name)
		}
		b := r.Builtin
		if b == nil {
			b = rpc.BuiltinSpec
		}
		return b(name)
	}
	for _, d := range r.Dirs {
		p := filepath.Join(d, FilePrefix+name)
		if executable.Check(p) == nil {
			return rpc.Spec{Name: name, Path: p, SHA256: ref.SHA256, Source: PathEnv}, nil
		}
	}
	return rpc.Spec{}, fmt.Errorf("plugin %q: not a built-in (%s) and no executable %s%s in %s=%q",
		name, strings.Join(builtin.Names(), ", "), FilePrefix, name, PathEnv, strings.Join(r.Dirs, string(os.PathListSeparator)))
}

// Open resolves ref and starts the plugin process.
func (r *Resolver) Open(ctx context.Context, ref Ref, opts rpc.Options) (*rpc.Plugin, error) {
	spec, err := r.Resolve(ref)
	if err != nil {
		return nil, err
	}
	return rpc.Start(ctx, spec, opts)
}

// Entry is one plugin in a listing.
type Entry struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Description string            `json:"description,omitempty"`
	Source      string            `json:"source"`
	Path        string            `json:"path"`
	SHA256      string            `json:"sha256,omitempty"`
	Params      []optimizer.Param `json:"params"`
	Error       string            `json:"error,omitempty"`
}

// List returns every plugin: the built-ins (described in process) and each
// ccq-optimizer-* executable on the plugin path (started to ask its Info;
// one that fails is listed with its error). A name found twice is listed
// once, as the resolver would pick it.
func (r *Resolver) List(ctx context.Context, opts rpc.Options) []Entry {
	var out []Entry
	exe, _ := os.Executable()
	for _, name := range builtin.Names() {
		o, _ := builtin.New(name)
		info, _ := o.Info(ctx)
		out = append(out, Entry{Name: name, Version: info.Version, Description: info.Description,
			Source: "builtin", Path: exe, Params: info.Params})
	}
	seen := map[string]bool{}
	for _, n := range builtin.Names() {
		seen[n] = true
	}
	for _, d := range r.Dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, fn := range names {
			name, ok := strings.CutPrefix(fn, FilePrefix)
			p := filepath.Join(d, fn)
			if !ok || name == "" || seen[name] || executable.Check(p) != nil {
				continue
			}
			seen[name] = true
			e := Entry{Name: name, Source: PathEnv, Path: p}
			e.SHA256, _ = rpc.FileSHA256(p)
			if pl, err := rpc.Start(ctx, rpc.Spec{Name: name, Path: p, Source: PathEnv}, opts); err != nil {
				e.Error = err.Error()
			} else {
				info, err := pl.Info(ctx)
				pl.Close()
				if err != nil {
					e.Error = err.Error()
				} else {
					e.Version, e.Description, e.Params = info.Version, info.Description, info.Params
					if info.Name != name {
						e.Description = strings.TrimSpace(fmt.Sprintf("(calls itself %q) %s", info.Name, info.Description))
					}
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// EnvServeBuiltin asks a test binary to serve a built-in optimizer instead
// of running its tests (see ServeIfAsked and TestBinarySpec).
const EnvServeBuiltin = "CCQ_SERVE_BUILTIN"

// ServeIfAsked serves the built-in optimizer named by $CCQ_SERVE_BUILTIN
// and exits, if that variable is set. Call it first in a TestMain whose
// tests start built-ins through TestBinarySpec.
func ServeIfAsked() {
	name := os.Getenv(EnvServeBuiltin)
	if name == "" {
		return
	}
	o, err := builtin.New(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	rpc.Serve(o)
	os.Exit(0)
}

// TestBinarySpec serves built-in name by re-executing the running test
// binary (whose TestMain calls ServeIfAsked).
func TestBinarySpec(name string) (rpc.Spec, error) {
	exe, err := os.Executable()
	if err != nil {
		return rpc.Spec{}, err
	}
	return rpc.Spec{Name: name, Path: exe, Args: []string{"-test.run=^$"}, Env: []string{EnvServeBuiltin + "=" + name}, Source: "builtin"}, nil
}
