package pipeline_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
)

// orphanChild starts `sleep 3600` through pipeline.Command with its stdout
// on ours, prints its pid and waits to be killed.
func orphanChild() int {
	cmd := pipeline.Command(context.Background(), "sleep", "3600")
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		fmt.Println("error", err)
		return 2
	}
	fmt.Println(cmd.Process.Pid)
	select {}
}

func TestChildProcessDiesWithCCQ(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep command")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CCQ_PIPELINE_CHILD="+t.TempDir(), "CCQ_CRASH_POINT=orphan")
	// Our own pipe: Wait does not close it, and its write end is held by
	// the child and the grandchild, so EOF means both are gone.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := bufio.NewReader(pr)
	line, _ := r.ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("child said %q", line)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// sleep never closes its stdout: EOF on our pipe means it is exiting.
	eof := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		eof <- err
	}()
	select {
	case <-eof:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal("the child process outlived its killed parent")
	}
}

func TestCommandStopsOnCancel(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep command")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := pipeline.Command(ctx, "sleep", "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("wait: %v", err)
	}
}
