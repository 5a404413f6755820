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
	"syscall"

	"github.com/ccq-project/ccq/plugins/rpc"
	"github.com/spf13/cobra"
)

// globals holds the flags shared by every command.
var globals struct {
	logLevel string
	dataDir  string
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
		return setupLogging(globals.logLevel)
	},
}

func init() {
	rootCmd.PersistentFlags().StringVar(&globals.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	rootCmd.PersistentFlags().StringVar(&globals.dataDir, "data-dir", "", "dataset cache directory (default $CCQ_DATA, else $XDG_CACHE_HOME/ccq, else ~/.cache/ccq)")
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
