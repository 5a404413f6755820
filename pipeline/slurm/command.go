package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// CommandError is a Slurm command (sbatch, squeue, ...) that failed, did
// not answer in time, or could not be found.
type CommandError struct {
	// Name is the command ("sbatch").
	Name string
	// Args are its arguments.
	Args []string
	// Stderr is what it printed on standard error (trimmed).
	Stderr string
	// TimedOut reports that it was killed after Timeout.
	TimedOut bool
	Timeout  time.Duration
	// NotFound reports that the command is not installed.
	NotFound bool
	// Err is the underlying error (exit status, ...).
	Err error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	switch {
	case e.NotFound:
		return fmt.Sprintf("%s not found (is Slurm installed here? set PATH or the Slurm executor's bin_dir): %v", e.Name, e.Err)
	case e.TimedOut && strings.Contains(msg, "temporarily unable to accept job"):
		return fmt.Sprintf("the Slurm queue is full: %s kept being refused for %s (%q); run again when jobs have left the queue (only what did not finish is resubmitted)", e.Name, e.Timeout, "Slurm temporarily unable to accept job")
	case strings.Contains(msg, "temporarily unable to accept job"):
		return fmt.Sprintf("the Slurm queue is full: %s; run again when jobs have left the queue (only what did not finish is resubmitted)", oneLine(msg))
	case e.TimedOut:
		s := fmt.Sprintf("%s did not answer within %s (slurmctld down or overloaded, or the queue is full?)", e.Name, e.Timeout)
		if msg != "" {
			s += "; it said: " + oneLine(msg)
		}
		return s
	case strings.HasPrefix(msg, e.Name+":"):
		return fmt.Sprintf("%s (%v)", oneLine(msg), e.Err)
	case msg != "":
		return fmt.Sprintf("%s: %s (%v)", e.Name, oneLine(msg), e.Err)
	default:
		return fmt.Sprintf("%s: %v", e.Name, e.Err)
	}
}

func (e *CommandError) Unwrap() error { return e.Err }

// oneLine joins the lines of s with "; ", dropping empty ones.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// commander runs Slurm's client commands with a timeout each.
type commander struct {
	// binDir holds the commands; empty means $PATH.
	binDir string
	// env is the environment of the commands (and, through sbatch's
	// default --export=ALL, of the jobs).
	env     []string
	timeout time.Duration
}

func (c *commander) path(name string) (string, error) {
	if c.binDir != "" {
		p := filepath.Join(c.binDir, name)
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return p, nil
	}
	return exec.LookPath(name)
}

// run executes name with args and stdin, within timeout (c.timeout if 0),
// and returns its standard output.
func (c *commander) run(ctx context.Context, timeout time.Duration, name, stdin string, args ...string) (string, error) {
	if timeout <= 0 {
		timeout = c.timeout
	}
	p, err := c.path(name)
	if err != nil {
		return "", &CommandError{Name: name, Args: args, NotFound: true, Err: err}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, p, args...)
	cmd.Env = c.env
	cmd.WaitDelay = time.Second
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err = cmd.Run()
	if err != nil {
		ce := &CommandError{Name: name, Args: args, Stderr: errb.String(), Err: err}
		if cctx.Err() != nil && ctx.Err() == nil {
			ce.TimedOut, ce.Timeout = true, timeout
		} else if ctx.Err() != nil {
			ce.Err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return out.String(), ce
	}
	return out.String(), nil
}

// isInvalidJobID reports a squeue/scontrol error for job ids the
// controller no longer knows.
func isInvalidJobID(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce) && strings.Contains(ce.Stderr, "Invalid job id")
}

// isAccountingDisabled reports sacct's answer on a cluster without a
// job accounting database.
func isAccountingDisabled(out string, err error) bool {
	s := out
	var ce *CommandError
	if errors.As(err, &ce) {
		s += ce.Stderr
	}
	return strings.Contains(s, "accounting storage is disabled") || strings.Contains(s, "accounting_storage/none")
}

// mergeEnv returns base with the NAME=value entries of extra replacing or
// adding to it.
func mergeEnv(base, extra []string) []string {
	out := make([]string, 0, len(base)+len(extra))
	override := map[string]bool{}
	for _, kv := range extra {
		if i := strings.IndexByte(kv, '='); i > 0 {
			override[kv[:i]] = true
		}
	}
	for _, kv := range base {
		if i := strings.IndexByte(kv, '='); i > 0 && override[kv[:i]] {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}
