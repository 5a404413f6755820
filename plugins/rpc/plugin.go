// Package rpc is the one package that knows the optimizer protocol's wire
// form: it serves an optimizer.Optimizer over gRPC through
// hashicorp/go-plugin (Serve), and starts a plugin process and talks to it
// as an optimizer.Optimizer (Start). Protobuf types never leave it.
//
// The transport is gRPC only (net/rpc is refused), with a fixed handshake
// cookie and versioned plugin sets; message size limits are raised on both
// sides; every call carries a deadline. The host side re-executes the ccq
// binary for built-in optimizers, runs any other executable for external
// ones, optionally pins the executable's SHA-256, kills the plugin when the
// host dies (Linux parent-death signal), keeps the plugin's last stderr lines
// for error messages and re-emits its hclog JSON log lines through log/slog.
package rpc

import (
	"context"
	"math"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/proto/optimizerpb"
)

// ProtocolVersion is the optimizer protocol's version in the go-plugin
// handshake. Bump it on any incompatible change of optimizer.proto.
const ProtocolVersion = 1

// PluginName is the name the optimizer service is dispensed under.
const PluginName = "optimizer"

// Handshake is the go-plugin handshake every optimizer plugin must use. A
// plugin started by anything else than a ccq host exits with a message.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "CCQ_OPTIMIZER_PLUGIN",
	MagicCookieValue: "c7e1b0a4-ask-tell-9d2f-kbit-weights",
}

// maxMsg is the gRPC message size limit on both sides (snapshots of large
// networks exceed gRPC's default of 4 MiB).
const maxMsg = math.MaxInt32

// grpcPlugin is the go-plugin glue: gRPC only.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl optimizer.Optimizer // set on the plugin side only
}

// GRPCServer registers the optimizer service.
func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	optimizerpb.RegisterOptimizerServer(s, newServer(p.impl))
	return nil
}

// GRPCClient returns the generated client; Start wraps it.
func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return optimizerpb.NewOptimizerClient(c), nil
}

func pluginSets(impl optimizer.Optimizer) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &grpcPlugin{impl: impl}},
	}
}
