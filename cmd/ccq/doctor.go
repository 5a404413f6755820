package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/nn/gemm"
	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/rpc"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/results"
	"github.com/spf13/cobra"
	"golang.org/x/sys/cpu"
)

// doctorReport is what `ccq doctor` found.
type doctorReport struct {
	CCQ      version.Info           `json:"ccq"`
	OS       string                 `json:"os"`
	Arch     string                 `json:"arch"`
	CPU      doctorCPU              `json:"cpu"`
	Threads  doctorThreads          `json:"threads"`
	DataDir  string                 `json:"data_dir"`
	Datasets []datasets.CacheStatus `json:"datasets"`
	Plugins  doctorPlugins          `json:"plugins"`
	Slurm    []doctorTool           `json:"slurm"`
	// Advice lists what to install or run for what is missing.
	Advice []string `json:"advice"`
}

// doctorCPU is the CPU and the kernels ccq's hot loops use on it.
type doctorCPU struct {
	Model string `json:"model,omitempty"`
	// Features are the instruction-set extensions ccq's kernels can use
	// that this CPU has.
	Features []string `json:"features"`
	// Float32Kernel is the micro-kernel of float32 training and inference
	// (nn/gemm); Int8Kernel the GEMM of quantized activations (quant).
	Float32Kernel string `json:"float32_kernel"`
	Int8Kernel    string `json:"int8_kernel"`
}

// doctorThreads are the thread counts ccq uses by default.
type doctorThreads struct {
	CPUs       int `json:"cpus"`
	GOMAXPROCS int `json:"gomaxprocs"`
	GEMM       int `json:"gemm"`
}

// doctorPlugins are the optimizer plugins ccq can start.
type doctorPlugins struct {
	// Path is CCQ_PLUGIN_PATH split into folders.
	Path     []string        `json:"path"`
	Builtin  []string        `json:"builtin"`
	External []catalog.Entry `json:"external"`
}

// doctorTool is a command ccq may run, found on PATH or not.
type doctorTool struct {
	Name string `json:"name"`
	Path string `json:"path,omitempty"`
}

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Show what ccq found on this machine: datasets, CPU kernels, threads, plugins, Slurm",
		Long: `Doctor checks, without downloading or changing anything: the ccq version and
commit; the datasets in the cache and where the cache is; the CPU's
instruction-set extensions and the kernels they select (AVX-512, VNNI, AVX2
or pure Go); the default thread counts; the optimizer plugins, built in and on
CCQ_PLUGIN_PATH (each external one is started to ask what it is); the Slurm
commands on PATH. It ends with what to install or run for what is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := diagnose(cmd)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			return printDoctor(cmd.OutOrStdout(), rep)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	rootCmd.AddCommand(cmd)
}

// cpuFeatures lists the extensions the kernels test for, present on this CPU.
func cpuFeatures() []string {
	var out []string
	for _, f := range []struct {
		name string
		has  bool
	}{
		{"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA}, {"bmi2", cpu.X86.HasBMI2},
		{"avx512f", cpu.X86.HasAVX512F}, {"avx512bw", cpu.X86.HasAVX512BW}, {"avx512vl", cpu.X86.HasAVX512VL},
		{"avx512vnni", cpu.X86.HasAVX512VNNI},
	} {
		if f.has {
			out = append(out, f.name)
		}
	}
	return out
}

func diagnose(cmd *cobra.Command) (*doctorReport, error) {
	ctx := cmd.Context()
	m := results.CurrentMachine()
	rep := &doctorReport{
		CCQ: version.Resolve(ctx, "."), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPU:     doctorCPU{Model: m.CPUModel, Features: cpuFeatures(), Float32Kernel: gemm.Kernel(), Int8Kernel: engine.Int8Kernel()},
		Threads: doctorThreads{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GEMM: gemm.Threads()},
		Plugins: doctorPlugins{Path: []string{}, Builtin: []string{}, External: []catalog.Entry{}},
		Slurm:   []doctorTool{}, Datasets: []datasets.CacheStatus{}, Advice: []string{},
	}
	opt := datasets.Options{CacheDir: globals.dataDir}
	root, err := datasets.CacheRoot(opt)
	if err != nil {
		return nil, err
	}
	rep.DataDir = root
	for _, name := range datasets.Names() {
		st, err := datasets.Status(name, opt)
		if err != nil {
			return nil, err
		}
		rep.Datasets = append(rep.Datasets, st)
		if !st.Cached {
			rep.Advice = append(rep.Advice, name+": "+st.Advice)
		}
	}
	if rep.CPU.Float32Kernel == "go4x4" {
		rep.Advice = append(rep.Advice, "float32 kernels: pure Go (no AVX2 on this CPU, or built with -tags purego): training and evaluation run several times slower")
	}
	r := catalog.DefaultResolver()
	rep.Plugins.Path = append(rep.Plugins.Path, r.Dirs...)
	for _, e := range r.List(ctx, rpc.Options{}) {
		if e.Source == "builtin" {
			rep.Plugins.Builtin = append(rep.Plugins.Builtin, e.Name)
		} else {
			rep.Plugins.External = append(rep.Plugins.External, e)
		}
	}
	var missing []string
	for _, name := range slurm.Commands {
		p, _ := exec.LookPath(name)
		rep.Slurm = append(rep.Slurm, doctorTool{Name: name, Path: p})
		if p == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		rep.Advice = append(rep.Advice, fmt.Sprintf("Slurm (only for --executor slurm): %s not on PATH; install the Slurm client (Debian: apt-get install slurm-client) on a cluster's login node, or slurm-wlm for a one-node test cluster (.ci/slurm-up)",
			strings.Join(missing, ", ")))
	}
	return rep, nil
}

func printDoctor(w io.Writer, rep *doctorReport) error {
	v := rep.CCQ
	commit := v.Commit
	if v.Modified {
		commit += ", modified"
	}
	if v.CommitFrom == version.FromGit {
		commit += ", from git"
	}
	fmt.Fprintf(w, "ccq        %s (commit %s), %s, %s/%s\n", v.Version, commit, v.GoVersion, rep.OS, rep.Arch)
	feat := strings.Join(rep.CPU.Features, " ")
	if feat == "" {
		feat = "none of avx2, fma, avx512"
	}
	model := rep.CPU.Model
	if model == "" {
		model = "unknown model"
	}
	fmt.Fprintf(w, "cpu        %s; %s\n", model, feat)
	fmt.Fprintf(w, "kernels    float32 %s (nn/gemm), int8 %s (quantized activations)\n", rep.CPU.Float32Kernel, rep.CPU.Int8Kernel)
	fmt.Fprintf(w, "threads    %d CPUs, GOMAXPROCS %d, GEMM %d\n", rep.Threads.CPUs, rep.Threads.GOMAXPROCS, rep.Threads.GEMM)
	fmt.Fprintf(w, "datasets   cache %s\n", rep.DataDir)
	for _, d := range rep.Datasets {
		state := "cached"
		if !d.Cached {
			state = "not cached"
			if len(d.Missing) > 0 {
				state += " (missing " + strings.Join(d.Missing, ", ") + ")"
			}
			if d.Problem != "" {
				state = "unreadable: " + d.Problem
			}
		}
		fmt.Fprintf(w, "           %-14s %s\n", d.Name, state)
	}
	path := strings.Join(rep.Plugins.Path, string(os.PathListSeparator))
	if path == "" {
		path = "not set"
	}
	fmt.Fprintf(w, "plugins    built in: %s\n", strings.Join(rep.Plugins.Builtin, ", "))
	fmt.Fprintf(w, "           %s: %s\n", catalog.PathEnv, path)
	for _, e := range rep.Plugins.External {
		state := e.Version
		if e.Error != "" {
			state = "error: " + e.Error
		}
		fmt.Fprintf(w, "           %s (%s) %s\n", e.Name, e.Path, state)
	}
	var found, missing []string
	for _, t := range rep.Slurm {
		if t.Path != "" {
			found = append(found, t.Name)
		} else {
			missing = append(missing, t.Name)
		}
	}
	switch {
	case len(missing) == 0:
		fmt.Fprintf(w, "slurm      %s on PATH\n", strings.Join(found, ", "))
	case len(found) == 0:
		fmt.Fprintf(w, "slurm      not on PATH (needed only for --executor slurm)\n")
	default:
		fmt.Fprintf(w, "slurm      on PATH: %s; missing: %s\n", strings.Join(found, ", "), strings.Join(missing, ", "))
	}
	if len(rep.Advice) == 0 {
		_, err := fmt.Fprintln(w, "\nnothing missing")
		return err
	}
	fmt.Fprintln(w, "\nto do:")
	for _, a := range rep.Advice {
		fmt.Fprintf(w, "- %s\n", a)
	}
	return nil
}
