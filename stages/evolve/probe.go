package evolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/rpc"
)

// probeTimeout bounds starting an external plugin and asking its Info.
const probeTimeout = 30 * time.Second

// Probe checks plugin_params against the parameters an external optimizer
// plugin declares (its Info): unknown names and wrong types are refused
// before anything runs, as the plugin would refuse them at Init after the
// stages before it had run. Ranges stay the plugin's to check. A plugin
// that cannot be started or does not answer is refused too. Built-ins are
// checked by CheckParams, without a process. Each executable is asked once
// per ccq process (by path, size and modification time), however many
// stages use it.
func (Kind) Probe(ctx context.Context, pp pipeline.Params, files map[string]string) error {
	var p Params
	if err := pp.Decode(&p); err != nil {
		return err
	}
	if builtin.IsBuiltin(p.Plugin) {
		return nil
	}
	ref := catalog.Ref{Plugin: p.Plugin}
	if path, ok := files["plugin"]; ok {
		ref.Plugin = path
	}
	spec, err := resolver().Resolve(ref)
	if err != nil {
		return &pipeline.ParamError{Key: "plugin", Msg: err.Error()}
	}
	declared, err := declaredParams(ctx, spec)
	if err != nil {
		return &pipeline.ParamError{Key: "plugin", Msg: fmt.Sprintf("plugin %s: asking it for its parameters: %v", p.Plugin, err)}
	}
	var raw []byte
	if p.PluginParams != nil {
		if raw, err = json.Marshal(p.PluginParams); err != nil {
			return &pipeline.ParamError{Key: "plugin_params", Msg: err.Error()}
		}
	}
	if err := optimizer.CheckDeclared(raw, declared); err != nil {
		var pe *optimizer.ParamError
		if errors.As(err, &pe) {
			return &pipeline.ParamError{Key: "plugin_params." + pe.Name, Msg: fmt.Sprintf("%s: %s", p.Plugin, pe.Msg)}
		}
		return &pipeline.ParamError{Key: "plugin_params", Msg: fmt.Sprintf("%s: %s", p.Plugin, err)}
	}
	return nil
}

// declared caches what external plugins declare, by executable.
var declared struct {
	sync.Mutex
	m map[digestKey]declaredAnswer
}

type declaredAnswer struct {
	params []optimizer.Param
	err    error
}

// declaredParams starts the plugin of spec, asks its Info and closes it,
// or returns the cached answer for the same executable.
func declaredParams(ctx context.Context, spec rpc.Spec) ([]optimizer.Param, error) {
	st, err := os.Stat(spec.Path)
	if err != nil {
		return nil, err
	}
	k := digestKey{spec.Path, st.Size(), st.ModTime()}
	declared.Lock()
	defer declared.Unlock() // one plugin process at a time
	if a, ok := declared.m[k]; ok {
		return a.params, a.err
	}
	var a declaredAnswer
	a.params, a.err = askInfo(ctx, spec)
	if ctx.Err() != nil {
		return nil, a.err // not cached: the caller gave up, the plugin did not fail
	}
	if declared.m == nil {
		declared.m = map[digestKey]declaredAnswer{}
	}
	declared.m[k] = a
	return a.params, a.err
}

func askInfo(ctx context.Context, spec rpc.Spec) ([]optimizer.Param, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	// The error carries what went wrong and the plugin's last stderr
	// lines; its log lines would repeat them.
	quiet := slog.New(slog.DiscardHandler)
	pl, err := rpc.Start(ctx, spec, rpc.Options{StartTimeout: probeTimeout, CallTimeout: probeTimeout, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer pl.Close()
	info, err := pl.Info(ctx)
	if err != nil {
		return nil, err
	}
	return info.Params, nil
}
