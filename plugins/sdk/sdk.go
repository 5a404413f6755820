// Package sdk is what a Go optimizer-plugin author imports: implement
// Optimizer (the same interface ccq's built-in optimizers implement) and
// call Serve from main. Build the program, put it on CCQ_PLUGIN_PATH as
// ccq-optimizer-NAME (or name it by path in an experiment) and ccq runs it
// as a separate process over gRPC; ccq need not be rebuilt.
//
//	func main() { sdk.Serve(&myOptimizer{}) }
//
// Nothing may be written to standard output before Serve: the go-plugin
// handshake line goes there. Log through Logger() (or slog after
// slog.SetDefault(sdk.Logger())): its JSON lines on standard error are
// re-emitted by ccq at their level and the last ones appear in ccq's error
// messages if the plugin fails.
//
// See plugins/optimizer for the protocol's contract (who calls what, when)
// and plugins/examples/go-oneplusone for a complete plugin.
package sdk

import (
	"encoding/json"
	"log/slog"

	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/rpc"
)

// The protocol's types, re-exported so a plugin imports only this package.
type (
	// Optimizer is the interface a plugin implements.
	Optimizer = optimizer.Optimizer
	// Problem is what Init receives.
	Problem = optimizer.Problem
	// Layer is one layer's slice of the variables.
	Layer = optimizer.Layer
	// InitResult is Init's answer.
	InitResult = optimizer.InitResult
	// Ask is one generation's candidates.
	Ask = optimizer.Ask
	// Tell is one generation's scores.
	Tell = optimizer.Tell
	// Delta is a sparse change of levels.
	Delta = optimizer.Delta
	// Solution is a full level vector.
	Solution = optimizer.Solution
	// Info describes a plugin.
	Info = optimizer.Info
	// Param describes one parameter.
	Param = optimizer.Param
)

// Serve serves impl to the ccq host that started this process and returns
// when the host is done with it.
func Serve(impl Optimizer) { rpc.Serve(impl) }

// Logger returns a logger whose records reach the ccq host at their level.
func Logger() *slog.Logger { return slog.New(rpc.NewPluginLogHandler(slog.LevelDebug)) }

// DecodeParams decodes Problem.Params into dst (a pointer to a struct with
// json tags, pre-filled with defaults), rejecting names not in allowed.
func DecodeParams(raw json.RawMessage, allowed []Param, dst any) error {
	return optimizer.DecodeParams(raw, allowed, dst)
}

// ValidateProblem checks a Problem's consistency (ccq sends valid ones;
// this is for plugin tests).
func ValidateProblem(p *Problem) error { return optimizer.ValidateProblem(p) }
