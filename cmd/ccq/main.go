// Command ccq trains and studies k-bit quantized neural networks with
// cooperative-coevolution evolutionary algorithms: datasets, pretraining,
// baseline quantizers, optimizer plugins, staged pipelines and reports.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/plugins/rpc"
	"github.com/spf13/cobra"
)

// globals holds the flags shared by every command.
var globals struct {
	logLevel   string
	dataDir    string
	cpuProfile string
}

var rootCmd = &cobra.Command{
	Use:   "ccq",
	Short: "Train k-bit quantized neural networks by cooperative-coevolution EAs",
	Long: `ccq trains neural networks whose weights are k-bit values with no
full-precision gradients, using a cooperative-coevolution evolutionary
algorithm that groups weights by the confidence in their values
(Peng, Liu, Lu, Tang, 2021), and compares it with baseline quantizers.`,
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
		if err := setupLogging(globals.logLevel); err != nil {
			return err
		}
		return startCPUProfile(globals.cpuProfile)
	},
}

func init() {
	rootCmd.PersistentFlags().StringVar(&globals.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	rootCmd.PersistentFlags().StringVar(&globals.dataDir, "data-dir", "", "dataset cache directory (default $CCQ_DATA, else $XDG_CACHE_HOME/ccq, else ~/.cache/ccq)")
	rootCmd.PersistentFlags().StringVar(&globals.cpuProfile, "cpuprofile", "", "write a CPU profile of this ccq process (stages run by the local executor included; not optimizer plugins) to `FILE`, for go tool pprof")
}

// cpuProfile is the profile being written, if any.
var cpuProfile *atomicfile.File

// startCPUProfile starts profiling into path ("" does nothing); the file
// appears when stopCPUProfile completes it.
func startCPUProfile(path string) error {
	if path == "" || cpuProfile != nil {
		return nil
	}
	f, err := atomicfile.Create(path, atomicfile.Options{})
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Abort()
		return fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	cpuProfile = f
	return nil
}

// stopCPUProfile completes the profile startCPUProfile started.
func stopCPUProfile() error {
	if cpuProfile == nil {
		return nil
	}
	pprof.StopCPUProfile()
	f := cpuProfile
	cpuProfile = nil
	if err := f.Commit(); err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	return nil
}

// setupLogging installs a text slog handler on stderr at the named level.
func setupLogging(level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("--log-level %q: expected debug, info, warn or error", level)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
	return nil
}

// exitCodeError lets a command choose its exit status.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

func main() {
	os.Exit(run())
}

// run executes the command line and returns the process exit code. The first
// SIGINT or SIGTERM cancels the command's context; a second one exits at once.
func run() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// No optimizer plugin process outlives ccq.
	defer rpc.CleanupClients()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		slog.Warn("interrupt received: stopping (interrupt again to stop at once)")
		cancel()
		<-sigs
		rpc.CleanupClients()
		os.Exit(130)
	}()
	err := rootCmd.ExecuteContext(ctx)
	if perr := stopCPUProfile(); perr != nil {
		err = errors.Join(err, perr)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "ccq:", err)
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	if ctx.Err() != nil {
		return 130
	}
	return 1
}
