package rpc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/ccq-project/ccq/internal/digest"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ccq-project/ccq/plugins/optimizer"
	pb "github.com/ccq-project/ccq/plugins/proto/optimizerpb"
)

// Errors a plugin fault wraps, for errors.Is.
var (
	// ErrStart: the plugin process could not be started or failed the handshake.
	ErrStart = errors.New("plugin failed to start")
	// ErrDied: the plugin process exited while in use.
	ErrDied = errors.New("plugin process died")
	// ErrHung: a call got no answer before its deadline; the plugin was stopped.
	ErrHung = errors.New("plugin did not answer in time")
	// ErrChecksum: the executable does not have the pinned SHA-256.
	ErrChecksum = errors.New("plugin executable does not match its SHA-256 pin")
)

// Spec says how to start one plugin process.
type Spec struct {
	// Name is the optimizer's name, used in messages.
	Name string `json:"name"`
	// Path is the executable to run.
	Path string `json:"path"`
	// Args follow the executable on the command line.
	Args []string `json:"args,omitempty"`
	// Env adds "KEY=value" entries to the environment. The host's own
	// environment is inherited and wins on duplicate keys.
	Env []string `json:"env,omitempty"`
	// SHA256, when set, is the hex SHA-256 the executable must have; on a
	// mismatch the plugin is not started.
	SHA256 string `json:"sha256,omitempty"`
	// Source says where the plugin was found ("builtin", "CCQ_PLUGIN_PATH",
	// "path"), for listings.
	Source string `json:"source"`
}

// BuiltinArgs are the arguments that make the ccq binary serve a built-in
// optimizer: `ccq plugin serve NAME`.
func BuiltinArgs(name string) []string { return []string{"plugin", "serve", name} }

// BuiltinSpec returns the Spec that serves built-in optimizer name by
// re-executing the running ccq binary.
func BuiltinSpec(name string) (Spec, error) {
	exe, err := os.Executable()
	if err != nil {
		return Spec{}, fmt.Errorf("built-in plugin %q: finding the ccq executable: %w", name, err)
	}
	return Spec{Name: name, Path: exe, Args: BuiltinArgs(name), Source: "builtin"}, nil
}

// Options tune the host side of a plugin connection. Zero values take the
// documented defaults.
type Options struct {
	// CallTimeout is the deadline of Info, Ask and Tell (default 2 min).
	CallTimeout time.Duration
	// LongCallTimeout is the deadline of Init, Snapshot, Restore and Best,
	// which move whole level vectors and states (default 10 min).
	LongCallTimeout time.Duration
	// StartTimeout bounds the wait for the handshake (default 1 min).
	StartTimeout time.Duration
	// StderrLines is how many of the plugin's last stderr lines are kept
	// for error messages (default 20).
	StderrLines int
	// Logger receives go-plugin's events and the plugin's log lines
	// (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 2 * time.Minute
	}
	if o.LongCallTimeout <= 0 {
		o.LongCallTimeout = 10 * time.Minute
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = time.Minute
	}
	if o.StderrLines <= 0 {
		o.StderrLines = 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Plugin is a running plugin process seen as an optimizer.Optimizer. Its
// methods must not be called concurrently. Close stops the process.
type Plugin struct {
	spec   Spec
	opts   Options
	client *plugin.Client
	pb     pb.OptimizerClient
	ring   *lineRing

	mu      sync.Mutex
	exit    string // the process's exit status, once known
	broken  error  // set after a crash or hang: the plugin is unusable
	faulted bool   // the process failed: its forced stop is expected
}

var _ optimizer.Optimizer = (*Plugin)(nil)

// Start starts the plugin process described by spec, performs the
// go-plugin handshake and returns the connected plugin. Cancelling ctx
// during the start stops the process.
func Start(ctx context.Context, spec Spec, opts Options) (*Plugin, error) {
	opts = opts.withDefaults()
	if spec.Name == "" {
		spec.Name = filepath.Base(spec.Path)
	}
	p := &Plugin{spec: spec, opts: opts, ring: newLineRing(opts.StderrLines)}
	var sec *plugin.SecureConfig
	if spec.SHA256 != "" {
		want := strings.ToLower(strings.TrimSpace(spec.SHA256))
		sum, err := hex.DecodeString(want)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("plugin %q: sha256 pin %q: expected 64 hexadecimal digits", spec.Name, spec.SHA256)
		}
		got, err := FileSHA256(spec.Path)
		if err != nil {
			return nil, fmt.Errorf("plugin %q: %w: %w", spec.Name, ErrStart, err)
		}
		if got != want {
			return nil, fmt.Errorf("plugin %q (%s): %w: pinned %s, the file has %s; refusing to start it", spec.Name, spec.Path, ErrChecksum, want, got)
		}
		sec = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = append([]string(nil), spec.Env...)
	setPdeathsig(cmd)
	logger := &slogHCLog{l: opts.Logger.With("plugin", spec.Name), onMsg: p.observe}
	p.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(nil),
		Cmd:              cmd,
		SecureConfig:     sec,
		Managed:          true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		Stderr:           p.ring.writer(""),
		// What the plugin writes to os.Stdout/os.Stderr after the
		// handshake arrives over gRPC: keep it with the raw stderr lines.
		SyncStdout:   p.ring.writer("stdout: "),
		SyncStderr:   p.ring.writer(""),
		StartTimeout: opts.StartTimeout,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg))},
		// Off so that plugins in any language work; the connection is a
		// unix socket only the host's user can open.
		AutoMTLS: false,
	})
	type result struct {
		c   plugin.ClientProtocol
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := p.client.Client()
		ch <- result{c, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		p.client.Kill()
		return nil, fmt.Errorf("plugin %q: start cancelled: %w", spec.Name, ctx.Err())
	}
	if r.err != nil {
		if errors.Is(r.err, plugin.ErrChecksumsDoNotMatch) {
			p.client.Kill()
			return nil, fmt.Errorf("plugin %q (%s): %w: %v; refusing to start it", spec.Name, spec.Path, ErrChecksum, r.err)
		}
		return nil, p.startFault(r.err)
	}
	raw, err := r.c.Dispense(PluginName)
	if err != nil {
		p.client.Kill()
		return nil, fmt.Errorf("plugin %q (%s): %w: dispensing the optimizer service: %v%s", spec.Name, spec.Path, ErrStart, err, p.tail())
	}
	p.pb = raw.(pb.OptimizerClient)
	return p, nil
}

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) { return digest.File(path) }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// observe watches go-plugin's log entries for the process's exit status;
// it drops the "failed to exit gracefully" warning of a plugin already
// known to be broken.
func (p *Plugin) observe(msg string, args []any) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch msg {
	case "plugin failed to exit gracefully":
		return p.faulted
	case "plugin process exited":
		status := "exit status 0"
		for k := 0; k+1 < len(args); k += 2 {
			if args[k] == "error" {
				status = fmt.Sprint(args[k+1])
			}
		}
		p.exit = status
	}
	return false
}

func (p *Plugin) setFaulted() {
	p.mu.Lock()
	p.faulted = true
	p.mu.Unlock()
}

// startFault explains a failed start: an exit before the handshake,
// garbage instead of the handshake line, a timeout.
func (p *Plugin) startFault(err error) error {
	p.setFaulted()
	msg := firstLine(err.Error())
	const unrec = "Unrecognized remote plugin message:"
	if rest, ok := strings.CutPrefix(msg, unrec); ok {
		rest = strings.TrimSpace(rest)
		exit := p.waitExit(5 * time.Second)
		if exit == "" {
			exit = "still running"
		}
		if rest == "" {
			msg = fmt.Sprintf("it closed its stdout without the go-plugin handshake line (%s)", exit)
		} else {
			msg = fmt.Sprintf("it printed %q on stdout instead of the go-plugin handshake line (%s); is it a ccq optimizer plugin?", rest, exit)
		}
	} else if strings.Contains(msg, "exited before we could connect") {
		msg = fmt.Sprintf("it exited before the handshake (%s)", p.waitExit(5*time.Second))
	}
	p.client.Kill()
	return fmt.Errorf("plugin %q (%s): %w: %s%s", p.spec.Name, p.spec.Path, ErrStart, msg, p.tail())
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.spec.Name }

// Spec returns how the plugin was started.
func (p *Plugin) Spec() Spec { return p.spec }

// StderrTail returns the plugin's last stderr lines, oldest first.
func (p *Plugin) StderrTail() []string { return p.ring.Lines() }

// Exited reports whether the plugin process has exited.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Close stops the plugin process (gracefully, then by force after 2 s).
func (p *Plugin) Close() error {
	p.client.Kill()
	return nil
}

// tail formats the last stderr lines for an error message.
func (p *Plugin) tail() string {
	lines := p.ring.Lines()
	if len(lines) == 0 {
		return " (nothing on its stderr)"
	}
	return "; its last stderr lines:\n  | " + strings.Join(lines, "\n  | ")
}

// waitExit waits up to d for the process to be reaped (so that its stderr
// is fully read) and returns its exit status if known.
func (p *Plugin) waitExit(d time.Duration) string {
	deadline := time.Now().Add(d)
	for !p.client.Exited() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

// call runs one RPC under a deadline and turns failures into messages
// that name the plugin, the call and, for crashes and hangs, the plugin's
// last stderr lines.
func (p *Plugin) call(ctx context.Context, method string, long bool, fn func(context.Context) error) error {
	p.mu.Lock()
	broken := p.broken
	p.mu.Unlock()
	if broken != nil {
		return fmt.Errorf("plugin %q: %s: unusable after an earlier failure: %w", p.spec.Name, method, broken)
	}
	d := p.opts.CallTimeout
	if long {
		d = p.opts.LongCallTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, d)
	err := fn(cctx)
	cancel()
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	var fault error
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("plugin %q: %s: %w", p.spec.Name, method, ctx.Err())
	case st.Code() == codes.DeadlineExceeded:
		p.setFaulted()
		p.client.Kill()
		fault = fmt.Errorf("plugin %q (%s): %s: %w: no answer within %v, so it was stopped%s",
			p.spec.Name, p.spec.Path, method, ErrHung, d, p.tail())
	case st.Code() == codes.Unavailable || st.Code() == codes.Canceled || p.client.Exited():
		p.setFaulted()
		exit := p.waitExit(5 * time.Second)
		if exit == "" {
			exit = "connection lost: " + st.Message()
		}
		p.client.Kill()
		fault = fmt.Errorf("plugin %q (%s): %s: %w (%s)%s", p.spec.Name, p.spec.Path, method, ErrDied, exit, p.tail())
	default:
		return fmt.Errorf("plugin %q: %s: %s", p.spec.Name, method, st.Message())
	}
	p.mu.Lock()
	p.broken = fault
	p.mu.Unlock()
	return fault
}

// Info implements optimizer.Optimizer.
func (p *Plugin) Info(ctx context.Context) (optimizer.Info, error) {
	var out optimizer.Info
	err := p.call(ctx, "Info", false, func(ctx context.Context) error {
		r, err := p.pb.Info(ctx, &pb.InfoRequest{})
		if err == nil {
			out = infoFromPB(r)
		}
		return err
	})
	return out, err
}

// Init implements optimizer.Optimizer.
func (p *Plugin) Init(ctx context.Context, prob *optimizer.Problem) (optimizer.InitResult, error) {
	var out optimizer.InitResult
	req := problemToPB(prob)
	err := p.call(ctx, "Init", true, func(ctx context.Context) error {
		r, err := p.pb.Init(ctx, req)
		if err == nil {
			out.MaxCandidates = int(r.GetMaxCandidates())
		}
		return err
	})
	return out, err
}

// Ask implements optimizer.Optimizer.
func (p *Plugin) Ask(ctx context.Context) (*optimizer.Ask, error) {
	var out *optimizer.Ask
	err := p.call(ctx, "Ask", false, func(ctx context.Context) error {
		r, err := p.pb.Ask(ctx, &pb.AskRequest{})
		if err == nil {
			out = askFromPB(r)
		}
		return err
	})
	return out, err
}

// Tell implements optimizer.Optimizer.
func (p *Plugin) Tell(ctx context.Context, t *optimizer.Tell) error {
	return p.call(ctx, "Tell", false, func(ctx context.Context) error {
		_, err := p.pb.Tell(ctx, &pb.TellRequest{Fitness: t.Fitness, BaseFitness: t.BaseFitness})
		return err
	})
}

// Snapshot implements optimizer.Optimizer.
func (p *Plugin) Snapshot(ctx context.Context) ([]byte, error) {
	var out []byte
	err := p.call(ctx, "Snapshot", true, func(ctx context.Context) error {
		r, err := p.pb.Snapshot(ctx, &pb.SnapshotRequest{})
		if err == nil {
			out = r.GetState()
			if out == nil {
				out = []byte{}
			}
		}
		return err
	})
	return out, err
}

// Restore implements optimizer.Optimizer.
func (p *Plugin) Restore(ctx context.Context, state []byte) error {
	return p.call(ctx, "Restore", true, func(ctx context.Context) error {
		_, err := p.pb.Restore(ctx, &pb.RestoreRequest{State: state})
		return err
	})
}

// Best implements optimizer.Optimizer.
func (p *Plugin) Best(ctx context.Context) (*optimizer.Solution, error) {
	var out *optimizer.Solution
	err := p.call(ctx, "Best", true, func(ctx context.Context) error {
		r, err := p.pb.Best(ctx, &pb.BestRequest{})
		if err == nil {
			out = &optimizer.Solution{Levels: bytesToI8(r.GetLevels())}
		}
		return err
	})
	return out, err
}

// CleanupClients stops every plugin process started by Start that is still
// running. Call it when the host shuts down (ccq's main does on exit and on
// SIGINT/SIGTERM).
func CleanupClients() { plugin.CleanupClients() }
