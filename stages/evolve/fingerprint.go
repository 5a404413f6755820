package evolve

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ccq-project/ccq/internal/digest"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/catalog"
)

// Fingerprint reports what the "plugin" parameter only names, so that it
// enters the stage key: for a built-in, its version and the digest of its
// defaults (builtin.Fingerprint); for a plugin found on CCQ_PLUGIN_PATH, the
// SHA-256 of its executable (for a script, of the script file only). A
// plugin named by path is already in the key by content (the stage's
// "plugin" file) and adds nothing. A plugin that cannot be found blocks the
// stage at planning, with the resolver's message.
func (Kind) Fingerprint(pp pipeline.Params, files map[string]string) (map[string]string, error) {
	if _, ok := files["plugin"]; ok {
		return nil, nil
	}
	var p struct {
		Plugin string
	}
	if s, ok := pp.Map()["plugin"].(string); ok {
		p.Plugin = s
	}
	if p.Plugin == "" {
		return nil, &pipeline.ParamError{Key: "plugin", Msg: "missing: expected a built-in name, a plugin on " + catalog.PathEnv + " or a path"}
	}
	if builtin.IsBuiltin(p.Plugin) {
		fp, err := builtin.Fingerprint(p.Plugin)
		if err != nil {
			return nil, err
		}
		return map[string]string{"plugin": fp}, nil
	}
	spec, err := resolver().Resolve(catalog.Ref{Plugin: p.Plugin})
	if err != nil {
		return nil, &pipeline.ParamError{Key: "plugin", Msg: err.Error()}
	}
	d, err := executableDigest(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.Plugin, err)
	}
	return map[string]string{"plugin": spec.Name + " sha256:" + d}, nil
}

// digests caches executable digests by path, size and modification time:
// a plan of many evolve stages hashes each plugin once.
var digests struct {
	sync.Mutex
	m map[digestKey]string
}

type digestKey struct {
	path string
	size int64
	mod  time.Time
}

func executableDigest(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	k := digestKey{path, st.Size(), st.ModTime()}
	digests.Lock()
	d, ok := digests.m[k]
	digests.Unlock()
	if ok {
		return d, nil
	}
	d, err = digest.File(path)
	if err != nil {
		return "", err
	}
	digests.Lock()
	if digests.m == nil {
		digests.m = map[digestKey]string{}
	}
	digests.m[k] = d
	digests.Unlock()
	return d, nil
}
