package rpc

import (
	"context"
	"io"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ccq-project/ccq/plugins/optimizer"
	pb "github.com/ccq-project/ccq/plugins/proto/optimizerpb"
)

// server adapts an optimizer.Optimizer to the generated gRPC service. Calls
// are serialised: an Optimizer is never called concurrently.
type server struct {
	pb.UnimplementedOptimizerServer
	mu   sync.Mutex
	impl optimizer.Optimizer
}

func newServer(impl optimizer.Optimizer) *server { return &server{impl: impl} }

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, err
	}
	return infoToPB(info), nil
}

func (s *server) Init(ctx context.Context, req *pb.InitRequest) (*pb.InitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.impl.Init(ctx, problemFromPB(req))
	if err != nil {
		return nil, err
	}
	return &pb.InitResponse{MaxCandidates: int32(res.MaxCandidates)}, nil
}

func (s *server) Ask(ctx context.Context, _ *pb.AskRequest) (*pb.AskResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.impl.Ask(ctx)
	if err != nil {
		return nil, err
	}
	if a == nil {
		a = &optimizer.Ask{}
	}
	return askToPB(a), nil
}

func (s *server) Tell(ctx context.Context, req *pb.TellRequest) (*pb.TellResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.impl.Tell(ctx, &optimizer.Tell{Fitness: req.GetFitness(), BaseFitness: req.GetBaseFitness()})
	if err != nil {
		return nil, err
	}
	return &pb.TellResponse{}, nil
}

func (s *server) Snapshot(ctx context.Context, _ *pb.SnapshotRequest) (*pb.SnapshotResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.impl.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.SnapshotResponse{State: b}, nil
}

func (s *server) Restore(ctx context.Context, req *pb.RestoreRequest) (*pb.RestoreResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.impl.Restore(ctx, req.GetState()); err != nil {
		return nil, err
	}
	return &pb.RestoreResponse{}, nil
}

func (s *server) Best(ctx context.Context, _ *pb.BestRequest) (*pb.BestResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sol, err := s.impl.Best(ctx)
	if err != nil {
		return nil, err
	}
	if sol == nil {
		sol = &optimizer.Solution{}
	}
	return &pb.BestResponse{Levels: i8ToBytes(sol.Levels)}, nil
}

// stderr is the process's standard error as it was before plugin.Serve
// redirected os.Stderr into the (discarded) gRPC stdio stream. Log lines
// written here reach the host, which re-emits hclog JSON lines at their level.
var stderr io.Writer = os.Stderr

// Serve serves impl as an optimizer plugin over go-plugin and returns when
// the host closes the connection. Call it from main; nothing may be written
// to standard output before it (the handshake line goes there). It exits the
// process with a message when not started by a ccq host.
func Serve(impl optimizer.Optimizer) {
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      hclog.Info,
		Output:     stderr,
		JSONFormat: true,
	})
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(impl),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
			return grpc.NewServer(opts...)
		},
		Logger: logger,
	})
}
