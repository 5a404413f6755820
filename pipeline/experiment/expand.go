package experiment

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/stageparams"
)

// Stage kind names the expansion emits.
const (
	KindDataset  = "dataset"
	KindPretrain = "pretrain"
	KindQuantize = "quantize"
	KindEvolve   = "evolve"
	KindEvaluate = "evaluate"
	KindReport   = "report"
)

// MaxStages bounds the size of an expanded experiment.
const MaxStages = 200000

// Expand turns the experiment into stage specs, in dependency order. Each
// stage's parameters are built as the kind's typed struct (package
// stageparams), checked, and encoded into canonical parameters; a bad key
// or value of an open table ([pretrain], [quantize.params],
// [optimizers.host], [evaluate], [report]) is an *Error at its line.
//
// Stage names, parameters and inputs:
//
//	dataset/<name>                         stageparams.Dataset {name, val_size?, split_seed?}; hint "source"
//	pretrain/<model> | pretrain/from-<file> stageparams.Pretrain: [pretrain] minus from; file "from"; inputs dataset
//	quantize/<label>-w<b>-<gran>-a<act>    stageparams.Quantize {method, bits, granularity, act_bits, method_params?}; inputs model, dataset
//	evolve/<name>[-<k>=<v>...]-w<b>[-a<act>]-s<seed>
//	                                       stageparams.Evolve {plugin, label?, bits, act_bits, seed, budget{evaluations?, wall_time?, generations?},
//	                                        plugin_params?, and the [optimizers.host] options at the top level};
//	                                       file "plugin" for a path plugin; inputs start, dataset
//	evaluate/<variant>                     stageparams.Evaluate: [evaluate]; inputs model, dataset (variant: float, a quantize or evolve suffix)
//	report                                 stageparams.Report: [report] + {experiment}; inputs: every evaluate and evolve stage by stage name
func (x *Experiment) Expand() ([]pipeline.Spec, error) {
	total := 0
	for _, n := range x.Count() {
		total += n
	}
	if total > MaxStages || total < 0 {
		return nil, Errors{{File: x.File, Msg: fmt.Sprintf("the experiment expands into %d stages; the limit is %d (check the matrices)", total, MaxStages)}}
	}
	var specs []pipeline.Spec
	var errs Errors
	// add encodes the stage's parameters; paths maps parameter keys to the
	// TOML paths they came from ("" for the table), for origins and errors.
	add := func(s pipeline.Spec, v stageparams.Validator, paths map[string]string) {
		p, err := stageparams.Encode(v)
		if err != nil {
			errs = append(errs, x.paramError(paths, "", err))
			return
		}
		s.Params = p
		s.Origin = x.origins(paths)
		specs = append(specs, s)
	}

	// dataset
	dsName := "dataset/" + x.Dataset.Name
	dp := x.datasetParams()
	ds := pipeline.Spec{Name: dsName, Kind: KindDataset}
	if x.Dataset.Source != "" {
		ds.Hints = map[string]string{"source": x.abs(x.Dataset.Source)}
	}
	add(ds, &dp, map[string]string{"": "dataset", "name": "dataset.name", "val_size": "dataset.val_size", "split_seed": "dataset.split_seed"})

	// pretrain
	pp, ppaths, err := x.pretrainParams()
	if err != nil {
		errs = append(errs, err)
	}
	ptName := "pretrain/" + pp.Model
	pt := pipeline.Spec{Kind: KindPretrain, Inputs: map[string]string{"dataset": dsName}}
	if from, ok := x.Pretrain["from"].(string); ok {
		base := strings.TrimSuffix(filepath.Base(from), filepath.Ext(from))
		ptName = "pretrain/from-" + sanitize(base)
		pt.Files = map[string]pipeline.FileSpec{"from": {Path: x.abs(from)}}
	}
	pt.Name = ptName
	if err == nil {
		add(pt, &pp, ppaths)
	}
	variants := []string{FloatVariant}
	models := map[string]string{FloatVariant: ptName}

	// quantize
	type qkey struct {
		label string
		bits  int64
		gran  Granularity
		act   int64
	}
	qstage := map[qkey]string{}
	for i, q := range x.Quantize {
		path := fmt.Sprintf("quantize[%d]", i)
		paths := map[string]string{"": path, "method": path + ".method", "bits": path + ".bits",
			"granularity": path + ".granularity", "act_bits": path + ".act_bits", "method_params": path + ".params"}
		var mp stageparams.MethodParams
		if err := stageparams.Decode(q.Params, &mp); err != nil {
			errs = append(errs, x.paramError(paths, "method_params", err))
			continue
		}
		for _, b := range q.Bits {
			for _, g := range q.Granularity {
				for _, a := range q.ActBits {
					v := fmt.Sprintf("%s-w%d-%s-a%d", q.Label, b, g, a)
					name := "quantize/" + v
					qp := stageparams.Quantize{Method: q.Method, Bits: int(b), Granularity: string(g), ActBits: int(a), MethodParams: mp}
					add(pipeline.Spec{Name: name, Kind: KindQuantize, Inputs: map[string]string{"model": ptName, "dataset": dsName}}, &qp, paths)
					qstage[qkey{q.Label, b, g, a}] = name
					variants = append(variants, v)
					models[v] = name
				}
			}
		}
	}

	// evolve
	var evolves []string
	labels := map[string]int{}
	for i, q := range x.Quantize {
		labels[q.Label] = i
	}
	for i, o := range x.Optimizers {
		path := fmt.Sprintf("optimizers[%d]", i)
		q, gran, _ := x.startOf(o.Start, labels)
		if q == nil {
			continue // reported by check
		}
		paths := map[string]string{"": path, "plugin": path + ".plugin", "label": path + ".name", "bits": path + ".bits", "act_bits": path + ".act_bits",
			"seed": path + ".seeds", "budget": path + ".budget", "budget.evaluations": path + ".budget.evaluations",
			"budget.wall_time": path + ".budget.wall_time", "budget.generations": path + ".budget.generations", "plugin_params": path + ".params",
			"files.plugin": path + ".plugin", "files.plugin.sha256": path + ".sha256"}
		for k := range o.Params {
			paths["plugin_params."+k] = path + ".params." + k
		}
		for _, k := range stageparams.Keys(stageparams.Host{}) {
			paths[k] = path + ".host." + k
		}
		for k := range o.Matrix {
			if h, ok := strings.CutPrefix(k, "host."); ok {
				paths[h] = path + ".matrix." + k
				continue
			}
			paths["plugin_params."+k] = path + ".matrix." + k
		}
		for _, combo := range matrix(o.Matrix) {
			pparams := map[string]any{}
			for k, v := range o.Params {
				pparams[k] = v
			}
			hparams := map[string]any{}
			for k, v := range o.Host {
				hparams[k] = v
			}
			for _, kv := range combo {
				if h, ok := strings.CutPrefix(kv.key, "host."); ok {
					hparams[h] = kv.val
					continue
				}
				pparams[kv.key] = kv.val
			}
			if len(pparams) == 0 {
				pparams = nil
			}
			host, err := x.hostParams(path, hparams, paths)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			var suffix strings.Builder
			for _, kv := range combo {
				suffix.WriteString("-" + sanitize(kv.key) + "=" + sanitize(fmt.Sprint(kv.val)))
			}
			for _, b := range o.Bits {
				for _, a := range o.ActBits {
					for _, seed := range o.Seeds {
						v := fmt.Sprintf("%s%s-w%d", o.Name, suffix.String(), b)
						if a != 32 {
							v += fmt.Sprintf("-a%d", a)
						}
						v += fmt.Sprintf("-s%d", seed)
						name := "evolve/" + v
						ep := stageparams.Evolve{Plugin: o.Plugin, Bits: int(b), ActBits: int(a), Seed: seed, Budget: o.Budget,
							PluginParams: pparams, Host: host}
						if o.Name != o.Plugin {
							ep.Label = o.Name
						}
						s := pipeline.Spec{Name: name, Kind: KindEvolve,
							Inputs: map[string]string{"start": qstage[qkey{q.Label, b, gran, a}], "dataset": dsName}}
						if IsPathPlugin(o.Plugin) {
							ep.Plugin = filepath.Base(o.Plugin)
							s.Files = map[string]pipeline.FileSpec{"plugin": {Path: x.abs(o.Plugin), SHA256: strings.ToLower(o.SHA256), Executable: true}}
						}
						add(s, &ep, paths)
						evolves = append(evolves, name)
						variants = append(variants, v)
						models[v] = name
					}
				}
			}
		}
	}

	// evaluate
	var evp stageparams.Evaluate
	epaths := tablePaths("evaluate", x.Evaluate)
	if err := stageparams.Decode(x.Evaluate, &evp); err != nil {
		errs = append(errs, x.paramError(epaths, "", err))
	}
	reportInputs := map[string]string{}
	for _, v := range variants {
		name := "evaluate/" + v
		add(pipeline.Spec{Name: name, Kind: KindEvaluate, Inputs: map[string]string{"model": models[v], "dataset": dsName}}, &evp, epaths)
		reportInputs[name] = name
	}
	for _, e := range evolves {
		reportInputs[e] = e
	}
	// report
	rp, err := x.ReportParams()
	if err != nil {
		errs = append(errs, err)
	} else {
		add(pipeline.Spec{Name: "report", Kind: KindReport, Inputs: reportInputs}, &rp, tablePaths("report", x.Report))
	}

	// Names must be unique (sanitized matrix values could collide).
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.Name] {
			errs = append(errs, &Error{File: x.File, Line: x.loc.line("optimizers"), Key: s.Name,
				Msg: "two stages get this name (matrix values that differ only in punctuation?)"})
		}
		seen[s.Name] = true
	}
	if len(errs) > 0 {
		return nil, errs.unique()
	}
	return specs, nil
}

// datasetParams are the dataset stage's parameters.
func (x *Experiment) datasetParams() stageparams.Dataset {
	p := stageparams.Dataset{Name: x.Dataset.Name}
	if x.Dataset.ValSize != nil {
		v := int(*x.Dataset.ValSize)
		p.ValSize = &v
	}
	if x.Dataset.SplitSeed != nil {
		v := uint64(*x.Dataset.SplitSeed) // check refuses negative seeds
		p.SplitSeed = &v
	}
	return p
}

// pretrainParams decodes [pretrain] (without from) into the pretrain
// stage's parameters, with the TOML paths of its keys.
func (x *Experiment) pretrainParams() (stageparams.Pretrain, map[string]string, *Error) {
	m := map[string]any{}
	for k, v := range x.Pretrain {
		if k != "from" {
			m[k] = v
		}
	}
	paths := tablePaths("pretrain", m)
	var p stageparams.Pretrain
	if err := stageparams.Decode(m, &p); err != nil {
		return p, paths, x.paramError(paths, "", err)
	}
	return p, paths, nil
}

// reserved are the evolve parameters the experiment sets itself; a host
// option may not name them.
var reserved = []string{"plugin", "label", "bits", "act_bits", "seed", "budget", "plugin_params"}

// hostParams decodes one matrix combination's host options.
func (x *Experiment) hostParams(path string, m map[string]any, paths map[string]string) (stageparams.Host, *Error) {
	var h stageparams.Host
	for k := range m {
		if slices.Contains(reserved, k) {
			return h, &Error{File: x.File, Line: x.loc.line(path + ".host"), Key: path + ".host." + k,
				Msg: "is set by the experiment itself; it cannot be a host option"}
		}
	}
	if err := stageparams.Decode(m, &h); err != nil {
		hp := maps.Clone(paths)
		hp[""] = path + ".host"
		return h, x.paramError(hp, "", err)
	}
	return h, nil
}

// ReportParams are the report stage's parameters: [report] and the
// experiment's name. `ccq run` publishes the report with them.
func (x *Experiment) ReportParams() (stageparams.Report, *Error) {
	paths := tablePaths("report", x.Report)
	p := stageparams.Report{Experiment: x.Name}
	if _, ok := x.Report["experiment"]; ok {
		return p, x.errAt("report.experiment", "is set by the experiment itself (its name)")
	}
	if err := stageparams.Decode(x.Report, &p); err != nil {
		return p, x.paramError(paths, "", err)
	}
	p.Experiment = x.Name
	return p, nil
}

// tablePaths maps the keys of an open table to their TOML paths.
func tablePaths(table string, m map[string]any) map[string]string {
	paths := map[string]string{"": table}
	for k := range m {
		paths[k] = table + "." + k
	}
	return paths
}

// paramError turns a stage parameter error into an *Error at the TOML
// path its key came from: the path of the longest known prefix of the key
// (see paths), followed by the rest of the key. prefix is put before the
// error's key (the parameter a sub-struct was decoded into).
func (x *Experiment) paramError(paths map[string]string, prefix string, err error) *Error {
	var pe *pipeline.ParamError
	if !errors.As(err, &pe) {
		return &Error{File: x.File, Line: x.loc.line(paths[""]), Key: paths[""], Msg: err.Error()}
	}
	key := pe.Key
	if prefix != "" {
		key = strings.TrimSuffix(prefix+"."+key, ".")
	}
	path := paths[""]
	for p := key; ; {
		if tp, ok := paths[p]; ok {
			path = tp + strings.TrimPrefix(key, p)
			if p == "" && key != "" {
				path = tp + "." + key
			}
			break
		}
		if p == "" {
			break
		}
		if i := strings.LastIndex(p, "."); i >= 0 {
			p = p[:i]
		} else {
			p = ""
		}
	}
	return &Error{File: x.File, Line: x.loc.line(path), Key: path, Msg: pe.Msg}
}

// unique drops repeated errors (one line of the file expanded over many
// stages), keeping the first of each.
func (es Errors) unique() Errors {
	seen := map[Error]bool{}
	var out Errors
	for _, e := range es {
		if !seen[*e] {
			seen[*e] = true
			out = append(out, e)
		}
	}
	return out
}

// origins maps parameter paths to "file:line" of their TOML paths; "" is
// the table.
func (x *Experiment) origins(paths map[string]string) map[string]string {
	out := make(map[string]string, len(paths))
	for k, p := range paths {
		out[k] = x.Where(p)
	}
	return out
}

func (x *Experiment) abs(p string) string {
	if filepath.IsAbs(p) || x.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(x.File), p)
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._+-]+`)

func sanitize(s string) string {
	s = unsafe.ReplaceAllString(s, "_")
	if s == "" || s[0] == '.' || s[0] == '-' || s[0] == '_' || s[0] == '+' {
		s = "x" + s
	}
	return s
}

type kv struct {
	key string
	val any
}

// matrix expands a matrix table into the cartesian product of its lists,
// keys in sorted order; no matrix gives one empty combination.
func matrix(m map[string]any) [][]kv {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	combos := [][]kv{nil}
	for _, k := range keys {
		vals, _ := m[k].([]any)
		var next [][]kv
		for _, c := range combos {
			for _, v := range vals {
				nc := append(append([]kv(nil), c...), kv{k, v})
				next = append(next, nc)
			}
		}
		combos = next
	}
	return combos
}

// Count returns how many stages of each kind the experiment expands into,
// without building them.
func (x *Experiment) Count() map[string]int {
	c := map[string]int{KindDataset: 1, KindPretrain: 1, KindReport: 1}
	nq := 0
	for _, q := range x.Quantize {
		nq += len(q.Bits) * len(q.Granularity) * len(q.ActBits)
	}
	ne := 0
	for _, o := range x.Optimizers {
		n := len(o.Bits) * len(o.ActBits) * len(o.Seeds)
		for _, v := range o.Matrix {
			vals, _ := v.([]any)
			n *= len(vals)
			if n > MaxStages {
				n = MaxStages + 1
			}
		}
		ne += n
	}
	c[KindQuantize] = nq
	c[KindEvolve] = ne
	c[KindEvaluate] = 1 + nq + ne
	return c
}
