// Package experiment reads ccq experiment files (TOML), checks them, and
// expands them into the stage instances of a pipeline DAG:
//
//	dataset -> pretrain -> quantize(label, bits, granularity, act_bits)
//	        -> evolve(optimizer, matrix combination, bits, act_bits, seed)
//	evaluate of the float model, of every quantize and every evolve output
//	report  <- every evaluate and every evolve
//
// Each stage's parameters are the kind's typed struct of package
// stageparams (a leaf: this package links no stage), built from the
// experiment's tables and checked here, so a bad key or value is an error
// at its line of the file. What only the stage kinds can tell (a dataset,
// architecture, quantizer or optimizer name; a plugin's own parameters)
// they check when a plan is made (pipeline.Checker), the error pointing at
// the line through the stage's origins. doc.go lists every key;
// testdata/example.toml uses them all.
package experiment

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ccq-project/ccq/plugins/budget"
)

// Experiment is a decoded experiment file.
type Experiment struct {
	// Name names the results folder, runs/<name>; default: the file name.
	Name        string  `toml:"name"`
	Description string  `toml:"description"`
	Dataset     Dataset `toml:"dataset"`
	// Pretrain is an open table: model and from are checked here, the other
	// keys (epochs, seed, lr, batch, schedule, ...) go to the pretrain kind.
	Pretrain   map[string]any `toml:"pretrain"`
	Quantize   []Quantize     `toml:"quantize"`
	Optimizers []Optimizer    `toml:"optimizers"`
	// Evaluate is an open table passed to every evaluate stage.
	Evaluate map[string]any `toml:"evaluate"`
	// Report is an open table: reference is checked here, the rest goes
	// to the report kind.
	Report   map[string]any `toml:"report"`
	Executor Executor       `toml:"executor"`

	// File is the path the experiment was read from; Source its bytes.
	File   string `toml:"-"`
	Source []byte `toml:"-"`
	loc    *locator
}

// Dataset is the [dataset] table.
type Dataset struct {
	Name      string `toml:"name"`
	ValSize   *int64 `toml:"val_size"`
	SplitSeed *int64 `toml:"split_seed"`
	// Source is a folder holding the dataset files; it is a machine-local
	// hint and does not enter the key (the dataset stage records checksums).
	Source string `toml:"source"`
}

// Quantize is one [[quantize]] entry: a baseline quantizer over a matrix of
// bits x granularity x act_bits.
type Quantize struct {
	// Label names the quantizer in stage names and in optimizers' start;
	// default: the method. Two entries with the same method need labels.
	Label       string         `toml:"label"`
	Method      string         `toml:"method"`
	Bits        []int64        `toml:"bits"`
	Granularity []Granularity  `toml:"granularity"`
	ActBits     []int64        `toml:"act_bits"`
	Params      map[string]any `toml:"params"`
}

// Granularity is "tensor" (one scale per tensor) or "channel".
type Granularity string

// UnmarshalText checks the value (so errors carry the line).
func (g *Granularity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "tensor", "channel":
		*g = Granularity(b)
		return nil
	}
	return fmt.Errorf("granularity %q: expected \"tensor\" or \"channel\"", b)
}

// Optimizer is one [[optimizers]] entry: an optimizer plugin trained from a
// quantizer's output over a matrix of parameters x bits x act_bits x seeds.
type Optimizer struct {
	// Name labels the runs (default: the plugin name).
	Name string `toml:"name"`
	// Plugin is a built-in plugin name, or a path to a plugin executable
	// (anything containing a '/').
	Plugin string `toml:"plugin"`
	// SHA256 pins a path plugin's content.
	SHA256 string `toml:"sha256"`
	// Start names the quantizer whose output is the start model: a label,
	// optionally with "/<granularity>" when the quantizer lists several.
	Start   string         `toml:"start"`
	Bits    []int64        `toml:"bits"`
	ActBits []int64        `toml:"act_bits"`
	Seeds   []int64        `toml:"seeds"`
	Budget  Budget         `toml:"budget"`
	Params  map[string]any `toml:"params"`
	// Matrix maps parameter names to lists of values; every combination
	// becomes its own runs, its values merged into Params (or, for names
	// starting with "host.", into Host).
	Matrix map[string]any `toml:"matrix"`
	// Host holds options of the evolve stage's host loop (batch_size,
	// validate_every, validation_size, checkpoint_every), checked by the
	// evolve stage.
	Host map[string]any `toml:"host"`
}

// Budget bounds an optimizer run; at least one bound is required. It is
// the one budget type of package budget, decoded from TOML here, passed
// to the evolve stage as parameters and on to the host.
type Budget = budget.Budget

// ExecutorKind is "local" or "slurm".
type ExecutorKind string

// UnmarshalText checks the value.
func (k *ExecutorKind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "local", "slurm":
		*k = ExecutorKind(b)
		return nil
	}
	return fmt.Errorf("executor kind %q: expected \"local\" or \"slurm\"", b)
}

// Executor is the [executor] table: where stages run by default.
type Executor struct {
	Kind  ExecutorKind `toml:"kind"`
	Jobs  int          `toml:"jobs"`
	Slurm Slurm        `toml:"slurm"`
}

// Slurm holds the Slurm executor's options (used by a later executor).
type Slurm struct {
	Partition    string   `toml:"partition"`
	Account      string   `toml:"account"`
	Time         string   `toml:"time"`
	CPUsPerStage int      `toml:"cpus_per_stage"`
	Args         []string `toml:"args"`
}

// Error is a problem in an experiment file, at a line and key.
type Error struct {
	File string
	Line int
	// Key is the TOML path, for example "optimizers[1].start".
	Key string
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a file, in line order.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Load reads, decodes and checks an experiment file.
func Load(path string) (*Experiment, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	return Parse(path, src)
}

// Parse decodes and checks an experiment from its bytes; file names it in errors.
func Parse(file string, src []byte) (*Experiment, error) {
	return parse(file, src, string(src))
}

// parse decodes text (src itself, or src with --set overrides applied,
// see ParseWithOverrides) and reports lines of src.
func parse(file string, src []byte, text string) (*Experiment, error) {
	x := &Experiment{File: file, Source: src, loc: newLocator(src)}
	md, err := toml.Decode(text, x)
	if err != nil {
		return nil, Errors{x.decodeError(err)}
	}
	var errs Errors
	for _, k := range md.Undecoded() {
		path := k.String()
		errs = append(errs, &Error{File: file, Line: x.loc.line(path), Key: path, Msg: "unknown key" + x.hint(k)})
	}
	if x.Name == "" {
		x.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	errs = append(errs, x.check()...)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return x, nil
}

var knownKeys = map[string][]string{
	"":           {"name", "description", "dataset", "pretrain", "quantize", "optimizers", "evaluate", "report", "executor"},
	"dataset":    {"name", "val_size", "split_seed", "source"},
	"quantize":   {"label", "method", "bits", "granularity", "act_bits", "params"},
	"optimizers": {"name", "plugin", "sha256", "start", "bits", "act_bits", "seeds", "budget", "params", "matrix", "host"},
	"budget":     budget.Keys,
	"executor":   {"kind", "jobs", "slurm"},
	"slurm":      {"partition", "account", "time", "cpus_per_stage", "args"},
}

// hint lists the keys expected where an unknown key was found.
func (x *Experiment) hint(k toml.Key) string {
	table := ""
	if len(k) > 1 {
		table = k[len(k)-2]
	}
	if ks, ok := knownKeys[table]; ok {
		return " (expected one of: " + strings.Join(ks, ", ") + ")"
	}
	return ""
}

var lineKey = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func (x *Experiment) decodeError(err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Usage != "" {
			msg += " (" + strings.TrimSpace(pe.Usage) + ")"
		}
		return &Error{File: x.File, Line: pe.Position.Line, Key: x.loc.indexed(pe.LastKey, pe.Position.Line), Msg: msg}
	}
	if m := lineKey.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: x.File, Line: n, Key: m[2], Msg: m[3]}
	}
	return &Error{File: x.File, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
}

// errAt makes an error at a TOML path.
func (x *Experiment) errAt(path, format string, args ...any) *Error {
	return &Error{File: x.File, Line: x.loc.line(path), Key: path, Msg: fmt.Sprintf(format, args...)}
}

// Where returns "file:line" for a TOML path.
func (x *Experiment) Where(path string) string {
	if n := x.loc.line(path); n > 0 {
		return x.File + ":" + strconv.Itoa(n)
	}
	return x.File
}

var (
	nameRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	labelRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*$`)
)

// FloatVariant is the variant name of the pretrained float model.
const FloatVariant = "float"

// check validates what the expansion knows.
func (x *Experiment) check() Errors {
	var errs Errors
	add := func(e *Error) { errs = append(errs, e) }
	if !nameRe.MatchString(x.Name) {
		add(x.errAt("name", "%q: expected letters, digits, '.', '_' or '-' (it names the results folder)", x.Name))
	}
	// dataset
	if x.Dataset.Name == "" {
		add(x.errAt("dataset", "[dataset] needs name (for example \"mnist\", \"fashion-mnist\", \"cifar10\")"))
	} else if !labelRe.MatchString(x.Dataset.Name) {
		add(x.errAt("dataset.name", "%q: expected lower-case letters, digits and '-'", x.Dataset.Name))
	}
	if x.Dataset.ValSize != nil && *x.Dataset.ValSize < 0 {
		add(x.errAt("dataset.val_size", "must be 0 or more, got %d", *x.Dataset.ValSize))
	}
	if x.Dataset.SplitSeed != nil && *x.Dataset.SplitSeed < 0 {
		add(x.errAt("dataset.split_seed", "must be 0 or more, got %d", *x.Dataset.SplitSeed))
	}
	// pretrain
	if x.Pretrain == nil {
		add(x.errAt("", "missing [pretrain] table (model and training settings, or from = \"model.safetensors\")"))
	} else {
		errs = append(errs, x.checkPretrain()...)
	}
	// quantize
	labels := map[string]int{}
	for i, q := range x.Quantize {
		p := fmt.Sprintf("quantize[%d]", i)
		if q.Method == "" {
			add(x.errAt(p, "needs method (for example \"rtn\")"))
			continue
		}
		if q.Label == "" {
			x.Quantize[i].Label = q.Method
			q.Label = q.Method
		}
		if !labelRe.MatchString(q.Label) {
			add(x.errAt(p+".label", "%q: expected lower-case letters, digits and ._+- (it appears in stage names)", q.Label))
		}
		if j, dup := labels[q.Label]; dup {
			add(x.errAt(p, "quantizer %q is listed twice (quantize[%d]); give one a distinct label", q.Label, j))
		}
		labels[q.Label] = i
		errs = append(errs, x.checkBits(p+".bits", q.Bits, false, true)...)
		errs = append(errs, x.checkBits(p+".act_bits", q.ActBits, true, false)...)
		if len(q.Granularity) == 0 {
			x.Quantize[i].Granularity = []Granularity{"tensor"}
		}
		seen := map[Granularity]bool{}
		for _, g := range x.Quantize[i].Granularity {
			if seen[g] {
				add(x.errAt(p+".granularity", "%q listed twice", g))
			}
			seen[g] = true
		}
		if len(q.ActBits) == 0 {
			x.Quantize[i].ActBits = []int64{32}
		}
		errs = append(errs, x.checkParams(p+".params", q.Params)...)
	}
	if _, ok := labels[FloatVariant]; ok {
		add(x.errAt("quantize", "the label %q is reserved for the pretrained model", FloatVariant))
	}
	// optimizers
	names := map[string]bool{}
	for i := range x.Optimizers {
		errs = append(errs, x.checkOptimizer(i, labels, names)...)
	}
	errs = append(errs, x.checkRepeatedNames(labels)...)
	// report
	if ref, ok := x.Report["reference"]; ok {
		s, isStr := ref.(string)
		_, isQ := labels[s]
		switch {
		case !isStr:
			add(x.errAt("report.reference", "expected a string naming a variant"))
		case s != FloatVariant && !isQ && !names[s]:
			add(x.errAt("report.reference", "%q is not a variant of this experiment (expected %q, a quantize label or an optimizer name)", s, FloatVariant))
		}
	}
	if v, ok := x.Report["pairs"]; ok {
		errs = append(errs, x.checkPairs(v, labels, names)...)
	}
	errs = append(errs, x.checkParams("evaluate", x.Evaluate)...)
	errs = append(errs, x.checkParams("report", x.Report)...)
	// executor
	if x.Executor.Jobs < 0 {
		add(x.errAt("executor.jobs", "must be 1 or more"))
	}
	if x.Executor.Slurm.CPUsPerStage < 0 {
		add(x.errAt("executor.slurm.cpus_per_stage", "must be 1 or more"))
	}
	return errs
}

func (x *Experiment) checkPretrain() Errors {
	var errs Errors
	p := x.Pretrain
	model, ok := p["model"].(string)
	if !ok || model == "" {
		errs = append(errs, x.errAt("pretrain", "needs model = \"<architecture>\" (for example \"lenet5\", \"mlp\", \"resnet20\")"))
	} else if !labelRe.MatchString(model) {
		errs = append(errs, x.errAt("pretrain.model", "%q: expected lower-case letters, digits and '-'", model))
	}
	if from, has := p["from"]; has {
		if s, ok := from.(string); !ok || s == "" {
			errs = append(errs, x.errAt("pretrain.from", "expected a path to a .safetensors file"))
		}
		for k := range p {
			if k != "from" && k != "model" {
				errs = append(errs, x.errAt("pretrain."+k, "from = ... imports a trained model, so training settings do not apply; remove %s", k))
			}
		}
		return errs
	}
	ints := map[string]int64{"epochs": 1, "batch_size": 1}
	for k, minv := range ints {
		if v, has := p[k]; has {
			n, ok := v.(int64)
			if !ok || n < minv {
				errs = append(errs, x.errAt("pretrain."+k, "expected an integer >= %d, got %v", minv, v))
			}
		}
	}
	if v, has := p["seed"]; has {
		if _, ok := v.(int64); !ok {
			errs = append(errs, x.errAt("pretrain.seed", "expected an integer, got %v", v))
		}
	}
	if v, has := p["lr"]; has {
		f, ok := toFloat(v)
		if !ok || f <= 0 {
			errs = append(errs, x.errAt("pretrain.lr", "expected a number > 0, got %v", v))
		}
	}
	if v, has := p["schedule"]; has {
		if _, ok := v.(string); !ok {
			errs = append(errs, x.errAt("pretrain.schedule", "expected a string, got %v", v))
		}
	}
	errs = append(errs, x.checkParams("pretrain", p)...)
	return errs
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// checkBits checks a bits list: non-empty unless optional, unique, each in
// 1..8 (or 32 for float activations when allowFloat).
func (x *Experiment) checkBits(path string, bits []int64, allowFloat, required bool) Errors {
	var errs Errors
	if len(bits) == 0 && required {
		return Errors{x.errAt(path, "needs at least one value (1 to 8)")}
	}
	seen := map[int64]bool{}
	for _, b := range bits {
		if seen[b] {
			errs = append(errs, x.errAt(path, "%d listed twice", b))
		}
		seen[b] = true
		if (b < 1 || b > 8) && !(allowFloat && b == 32) {
			if allowFloat {
				errs = append(errs, x.errAt(path, "%d is outside 1..8 (32 means float activations)", b))
			} else {
				errs = append(errs, x.errAt(path, "%d is outside 1..8", b))
			}
		}
	}
	return errs
}

// checkParams rejects values that cannot be parameters (dates).
func (x *Experiment) checkParams(path string, m map[string]any) Errors {
	var errs Errors
	for k, v := range m {
		switch v := v.(type) {
		case time.Time:
			errs = append(errs, x.errAt(path+"."+k, "dates and times are not supported as parameters"))
		case map[string]any:
			errs = append(errs, x.checkParams(path+"."+k, v)...)
		case float64:
			if v != v || v > 1e308 || v < -1e308 {
				errs = append(errs, x.errAt(path+"."+k, "%v is not a finite number", v))
			}
		}
	}
	return errs
}

var hexRe = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// IsPathPlugin reports whether a plugin value names a file rather than a built-in.
func IsPathPlugin(p string) bool { return strings.ContainsAny(p, `/\`) }

func (x *Experiment) checkOptimizer(i int, labels map[string]int, names map[string]bool) Errors {
	var errs Errors
	add := func(e *Error) { errs = append(errs, e) }
	o := &x.Optimizers[i]
	p := fmt.Sprintf("optimizers[%d]", i)
	if o.Plugin == "" {
		add(x.errAt(p, "needs plugin (a built-in name such as \"ccea\", or a path to a plugin executable)"))
		return errs
	}
	if o.Name == "" {
		o.Name = o.Plugin
		if IsPathPlugin(o.Plugin) {
			o.Name = strings.TrimSuffix(filepath.Base(o.Plugin), filepath.Ext(o.Plugin))
		}
	}
	if !labelRe.MatchString(o.Name) {
		add(x.errAt(p+".name", "%q: expected lower-case letters, digits and ._+- (it appears in stage names)", o.Name))
	}
	if _, clash := labels[o.Name]; clash || o.Name == FloatVariant {
		add(x.errAt(p+".name", "%q is already a quantize label or reserved; pick another name", o.Name))
	}
	names[o.Name] = true
	if o.SHA256 != "" {
		if !IsPathPlugin(o.Plugin) {
			add(x.errAt(p+".sha256", "only a plugin given by path can be pinned"))
		} else if !hexRe.MatchString(o.SHA256) {
			add(x.errAt(p+".sha256", "expected 64 hex digits"))
		} else if _, err := hex.DecodeString(o.SHA256); err != nil {
			add(x.errAt(p+".sha256", "expected 64 hex digits"))
		}
	}
	// start
	q, gran, err := x.startOf(o.Start, labels)
	if err != "" {
		add(x.errAt(p+".start", "%s", err))
	} else {
		if len(o.Bits) == 0 {
			o.Bits = q.Bits
		}
		if len(o.ActBits) == 0 {
			o.ActBits = q.ActBits
		}
		errs = append(errs, x.checkBits(p+".bits", o.Bits, false, true)...)
		errs = append(errs, x.checkBits(p+".act_bits", o.ActBits, true, false)...)
		for _, b := range o.Bits {
			if !contains(q.Bits, b) {
				add(x.errAt(p+".bits", "%d-bit start models do not exist: quantizer %q lists bits %v", b, q.Label, q.Bits))
			}
		}
		for _, b := range o.ActBits {
			if !contains(q.ActBits, b) {
				add(x.errAt(p+".act_bits", "quantizer %q lists act_bits %v, not %d", q.Label, q.ActBits, b))
			}
		}
		_ = gran
	}
	if len(o.Seeds) == 0 {
		add(x.errAt(p+".seeds", "needs at least one seed, for example seeds = [1, 2, 3]"))
	}
	seen := map[int64]bool{}
	for _, s := range o.Seeds {
		if seen[s] {
			add(x.errAt(p+".seeds", "seed %d listed twice", s))
		}
		seen[s] = true
	}
	// budget
	var be *budget.FieldError
	if err := o.Budget.Validate(); errors.As(err, &be) && be.Key != "" {
		add(x.errAt(p+".budget."+be.Key, "%s", be.Msg))
	} else if err != nil {
		add(x.errAt(p, "needs a budget: budget = { evaluations = 5000 }, wall_time = \"1h\" and/or generations = 100"))
	}
	errs = append(errs, x.checkParams(p+".params", o.Params)...)
	for k, v := range o.Matrix {
		vals, ok := v.([]any)
		if !ok || len(vals) == 0 {
			add(x.errAt(p+".matrix."+k, "expected a non-empty list of values"))
			continue
		}
		if _, both := o.Params[k]; both {
			add(x.errAt(p+".matrix."+k, "%s is set in both params and matrix", k))
		}
		for _, v := range vals {
			switch v.(type) {
			case map[string]any, []any, []map[string]any:
				add(x.errAt(p+".matrix."+k, "matrix values must be numbers, strings or booleans"))
			}
		}
	}
	return errs
}

// checkPairs checks [report] pairs: a list of [method, against] pairs of
// rows the report's marks compare, each an optimizer name or a quantize
// method or label of this experiment.
func (x *Experiment) checkPairs(v any, labels map[string]int, names map[string]bool) Errors {
	var errs Errors
	const want = `expected a list of pairs of row names, such as [["ccea", "ccea-random"]]`
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return Errors{x.errAt("report.pairs", want)}
	}
	methods := map[string]bool{}
	for _, q := range x.Quantize {
		methods[q.Method] = true
	}
	for i, e := range list {
		p := fmt.Sprintf("report.pairs[%d]", i)
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			errs = append(errs, x.errAt(p, want))
			continue
		}
		var ss [2]string
		for k, n := range pair {
			s, isStr := n.(string)
			_, isQ := labels[s]
			switch {
			case !isStr:
				errs = append(errs, x.errAt(p, want))
			case !names[s] && !isQ && !methods[s]:
				errs = append(errs, x.errAt(p, "%q is not a row of this experiment (expected an optimizer name or a quantize method)", s))
			}
			ss[k] = s
		}
		if ss[0] == ss[1] {
			errs = append(errs, x.errAt(p, "%q is paired with itself", ss[0]))
		}
	}
	return errs
}

// checkRepeatedNames allows an optimizer name in several [[optimizers]]
// entries only when they are one method spread over bit widths: the same
// plugin, parameters, matrix, host options, seeds and budget, a start of
// the same quantizer method and granularity, and no (bits, act_bits) pair
// in two of them (so their stage names differ). That is how a table of
// selected weight/activation pairs (W4A4, W3A3, W2A4, ...) keeps one row
// per method; anything else is a second method and needs its own name.
func (x *Experiment) checkRepeatedNames(labels map[string]int) Errors {
	var errs Errors
	first := map[string]int{}
	pairs := map[string]map[[2]int64]int{}
	for i := range x.Optimizers {
		o := &x.Optimizers[i]
		p := fmt.Sprintf("optimizers[%d]", i)
		j, seen := first[o.Name]
		if !seen {
			first[o.Name] = i
			pairs[o.Name] = map[[2]int64]int{}
		} else if why := x.sameMethod(&x.Optimizers[j], o, labels); why != "" {
			errs = append(errs, x.errAt(p, "optimizer name %q used twice, but optimizers[%d] has another %s; give each [[optimizers]] entry a distinct name (one name may repeat only to cover other bits or act_bits with everything else equal)", o.Name, j, why))
			continue
		}
		for _, b := range o.Bits {
			for _, a := range o.ActBits {
				k := [2]int64{b, a}
				if prev, dup := pairs[o.Name][k]; dup && prev != i {
					errs = append(errs, x.errAt(p, "optimizer name %q: bits %d with act_bits %d are already run by optimizers[%d]", o.Name, b, a, prev))
					continue
				}
				pairs[o.Name][k] = i
			}
		}
	}
	return errs
}

// sameMethod says what differs between two optimizer entries other than
// their bits, act_bits and start label ("" if nothing).
func (x *Experiment) sameMethod(a, b *Optimizer, labels map[string]int) string {
	switch {
	case a.Plugin != b.Plugin || a.SHA256 != b.SHA256:
		return "plugin"
	case !reflect.DeepEqual(a.Params, b.Params):
		return "params"
	case !reflect.DeepEqual(a.Matrix, b.Matrix):
		return "matrix"
	case !reflect.DeepEqual(a.Host, b.Host):
		return "host"
	case !slices.Equal(a.Seeds, b.Seeds):
		return "seeds"
	case a.Budget != b.Budget:
		return "budget"
	}
	qa, ga, ea := x.startOf(a.Start, labels)
	qb, gb, eb := x.startOf(b.Start, labels)
	if ea != "" || eb != "" {
		return "" // reported with the start
	}
	if qa.Method != qb.Method || !reflect.DeepEqual(qa.Params, qb.Params) || ga != gb {
		return "start (quantizer method, parameters or granularity)"
	}
	return ""
}

// startOf resolves an optimizer's start to a quantizer and granularity.
func (x *Experiment) startOf(start string, labels map[string]int) (*Quantize, Granularity, string) {
	if start == "" {
		return nil, "", "needs start = \"<quantize label>\" (the quantizer whose output the optimizer starts from)"
	}
	label, g, hasG := strings.Cut(start, "/")
	i, ok := labels[label]
	if !ok {
		var ls []string
		for l := range labels {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		if len(ls) == 0 {
			return nil, "", fmt.Sprintf("%q names no quantizer: the experiment lists no [[quantize]] entries", start)
		}
		return nil, "", fmt.Sprintf("%q is not a listed quantizer (listed: %s)", label, strings.Join(ls, ", "))
	}
	q := &x.Quantize[i]
	if !hasG {
		if len(q.Granularity) > 1 {
			return nil, "", fmt.Sprintf("quantizer %q has several granularities %v; write start = \"%s/<granularity>\"", label, q.Granularity, label)
		}
		return q, q.Granularity[0], ""
	}
	for _, qg := range q.Granularity {
		if string(qg) == g {
			return q, qg, ""
		}
	}
	return nil, "", fmt.Sprintf("quantizer %q does not list granularity %q (it lists %v)", label, g, q.Granularity)
}

func contains(xs []int64, v int64) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}
