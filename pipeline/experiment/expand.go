package experiment

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/ccq-project/ccq/pipeline"
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

// Expand turns the experiment into stage specs, in dependency order.
//
// Stage names, parameters and inputs:
//
//	dataset/<name>                         {name, val_size?, split_seed?}; hint "source"
//	pretrain/<model> | pretrain/from-<file> [pretrain] minus from; file "from"; inputs dataset
//	quantize/<label>-w<b>-<gran>-a<act>    {method, bits, granularity, act_bits, method_params?}; inputs model, dataset
//	evolve/<name>[-<k>=<v>...]-w<b>[-a<act>]-s<seed>
//	                                       {plugin, label?, bits, act_bits, seed, budget{evaluations?, wall_time?, generations?}, plugin_params?,
//	                                        and the [optimizers.host] options at the top level};
//	                                       file "plugin" for a path plugin; inputs start, dataset
//	evaluate/<variant>                     [evaluate]; inputs model, dataset (variant: float, a quantize or evolve suffix)
//	report                                 [report] + {experiment}; inputs: every evaluate and evolve stage by stage name
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
	add := func(s pipeline.Spec, params map[string]any, origin map[string]string) {
		p, err := pipeline.NewParams(params)
		if err != nil {
			errs = append(errs, &Error{File: x.File, Key: s.Name, Msg: err.Error()})
			return
		}
		s.Params = p
		s.Origin = origin
		specs = append(specs, s)
	}
	// dataset
	dsName := "dataset/" + x.Dataset.Name
	dp := map[string]any{"name": x.Dataset.Name}
	if x.Dataset.ValSize != nil {
		dp["val_size"] = *x.Dataset.ValSize
	}
	if x.Dataset.SplitSeed != nil {
		dp["split_seed"] = *x.Dataset.SplitSeed
	}
	ds := pipeline.Spec{Name: dsName, Kind: KindDataset}
	if x.Dataset.Source != "" {
		ds.Hints = map[string]string{"source": x.abs(x.Dataset.Source)}
	}
	add(ds, dp, x.origins("dataset", map[string]string{"name": "dataset.name", "val_size": "dataset.val_size", "split_seed": "dataset.split_seed"}))

	// pretrain
	pp := map[string]any{}
	po := map[string]string{"": x.Where("pretrain")}
	for k, v := range x.Pretrain {
		if k == "from" {
			continue
		}
		pp[k] = v
		po[k] = x.Where("pretrain." + k)
	}
	model, _ := x.Pretrain["model"].(string)
	ptName := "pretrain/" + model
	pt := pipeline.Spec{Kind: KindPretrain, Inputs: map[string]string{"dataset": dsName}}
	if from, ok := x.Pretrain["from"].(string); ok {
		base := strings.TrimSuffix(filepath.Base(from), filepath.Ext(from))
		ptName = "pretrain/from-" + sanitize(base)
		pt.Files = map[string]pipeline.FileSpec{"from": {Path: x.abs(from)}}
	}
	pt.Name = ptName
	add(pt, pp, po)
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
		for _, b := range q.Bits {
			for _, g := range q.Granularity {
				for _, a := range q.ActBits {
					v := fmt.Sprintf("%s-w%d-%s-a%d", q.Label, b, g, a)
					name := "quantize/" + v
					params := map[string]any{"method": q.Method, "bits": b, "granularity": string(g), "act_bits": a}
					if len(q.Params) > 0 {
						params["method_params"] = q.Params
					}
					origin := x.origins(path, map[string]string{"method": path + ".method", "bits": path + ".bits",
						"granularity": path + ".granularity", "act_bits": path + ".act_bits", "method_params": path + ".params"})
					add(pipeline.Spec{Name: name, Kind: KindQuantize, Inputs: map[string]string{"model": ptName, "dataset": dsName}}, params, origin)
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
		combos := matrix(o.Matrix)
		for _, combo := range combos {
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
						params := map[string]any{"plugin": o.Plugin, "bits": b, "act_bits": a, "seed": seed, "budget": o.Budget.Map()}
						if o.Name != o.Plugin {
							params["label"] = o.Name
						}
						for k, v := range hparams {
							if _, taken := params[k]; taken {
								errs = append(errs, &Error{File: x.File, Line: x.loc.line(path + ".host"), Key: path + ".host." + k,
									Msg: "is set by the experiment itself; it cannot be a host option"})
								continue
							}
							params[k] = v
						}
						s := pipeline.Spec{Name: name, Kind: KindEvolve,
							Inputs: map[string]string{"start": qstage[qkey{q.Label, b, gran, a}], "dataset": dsName}}
						if IsPathPlugin(o.Plugin) {
							params["plugin"] = filepath.Base(o.Plugin)
							s.Files = map[string]pipeline.FileSpec{"plugin": {Path: x.abs(o.Plugin), SHA256: strings.ToLower(o.SHA256), Executable: true}}
						}
						if len(pparams) > 0 {
							params["plugin_params"] = pparams
						}
						om := map[string]string{"plugin": path + ".plugin", "bits": path + ".bits", "act_bits": path + ".act_bits",
							"seed": path + ".seeds", "budget": path + ".budget", "budget.evaluations": path + ".budget.evaluations",
							"budget.wall_time": path + ".budget.wall_time", "budget.generations": path + ".budget.generations", "plugin_params": path + ".params",
							"files.plugin": path + ".plugin", "files.plugin.sha256": path + ".sha256"}
						for k := range o.Params {
							om["plugin_params."+k] = path + ".params." + k
						}
						for k := range o.Host {
							om[k] = path + ".host." + k
						}
						for k := range o.Matrix {
							if h, ok := strings.CutPrefix(k, "host."); ok {
								om[h] = path + ".matrix." + k
								continue
							}
							om["plugin_params."+k] = path + ".matrix." + k
						}
						add(s, params, x.origins(path, om))
						evolves = append(evolves, name)
						variants = append(variants, v)
						models[v] = name
					}
				}
			}
		}
	}

	// evaluate
	ep := map[string]any{}
	eo := map[string]string{"": x.Where("evaluate")}
	for k, v := range x.Evaluate {
		ep[k] = v
		eo[k] = x.Where("evaluate." + k)
	}
	reportInputs := map[string]string{}
	for _, v := range variants {
		name := "evaluate/" + v
		add(pipeline.Spec{Name: name, Kind: KindEvaluate, Inputs: map[string]string{"model": models[v], "dataset": dsName}}, ep, eo)
		reportInputs[name] = name
	}
	for _, e := range evolves {
		reportInputs[e] = e
	}
	// report
	rp := map[string]any{"experiment": x.Name}
	ro := map[string]string{"": x.Where("report")}
	for k, v := range x.Report {
		rp[k] = v
		ro[k] = x.Where("report." + k)
	}
	add(pipeline.Spec{Name: "report", Kind: KindReport, Inputs: reportInputs}, rp, ro)

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
		return nil, errs
	}
	return specs, nil
}

// origins maps parameter paths to "file:line" of TOML paths; "" is the table.
func (x *Experiment) origins(table string, m map[string]string) map[string]string {
	out := map[string]string{"": x.Where(table)}
	for k, p := range m {
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
