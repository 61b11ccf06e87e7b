package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// natsModule is the package the nats-server binary is built from: the
// module go.mod already requires, so the version is the one hookd's tests
// run against.
const natsModule = "github.com/nats-io/nats-server/v2"

// natsProc is one nats-server process with JetStream, listening on a
// loopback port, its store in a directory of its own.
type natsProc struct {
	url  string // nats://127.0.0.1:port
	cmd  *exec.Cmd
	done chan struct{}
	mem  *memSampler

	mu       sync.Mutex
	tail     []string // the last lines, for reports of early exits
	problems []string // [WRN], [ERR] and [FTL] lines, the first few
	nProblem int
}

// natsServerBin returns the nats-server binary to run: --nats-server, or
// one built from natsModule into a directory of its own under --tmp, once
// per hookbench run. The go command must run inside hookd's module.
func (b *bench) natsServerBin(ctx context.Context) (string, error) {
	if b.natsBin != "" {
		return b.natsBin, nil
	}
	if b.cfg.natsServer != "" {
		abs, err := filepath.Abs(b.cfg.natsServer)
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(abs); err != nil || fi.IsDir() {
			return "", fmt.Errorf("--nats-server %s: not a nats-server binary", abs)
		}
		b.natsBin = abs
		return abs, nil
	}
	dir, err := os.MkdirTemp(b.cfg.tmp, "hookbench-bin-")
	if err != nil {
		return "", err
	}
	b.binDir = dir
	bin := filepath.Join(dir, "nats-server")
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(bctx, "go", "build", "-o", bin, natsModule).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s (run hookbench inside hookd's module, or pass --nats-server): %v\n%s", natsModule, err, out)
	}
	b.logf("built nats-server in %s", time.Since(start).Round(100*time.Millisecond))
	b.natsBin = bin
	return bin, nil
}

// natsConfig is the nats-server configuration hookd asks for: entries of
// up to about 2.5 MiB (a 1 MiB body recorded with what was sent and what
// came back) need max_payload over the default 1 MiB; there is no flag
// for it.
const natsConfig = "max_payload: 8MB\n"

// startNATS runs `nats-server -js` on a free loopback port with its store
// in storeDir (and its configuration file beside it) and waits until it
// says it is ready. The caller must stop it.
func startNATS(ctx context.Context, bin, storeDir string) (*natsProc, error) {
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(storeDir, "nats-server.conf")
	if err := os.WriteFile(conf, []byte(natsConfig), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(bin, "-c", conf, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", storeDir)
	cmd.Env = childEnv()
	setChildAttrs(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr // nats-server logs to stderr; stdout shares the pipe
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n := &natsProc{url: fmt.Sprintf("nats://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), mem: sampleMem(cmd.Process.Pid)}
	ready := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			n.line(sc.Text(), ready)
		}
		_ = cmd.Wait()
		close(n.done)
	}()
	select {
	case <-ready:
		return n, nil
	case <-n.done:
		return nil, fmt.Errorf("nats-server exited before it was ready (%v); last output:\n%s", cmd.ProcessState, n.lastLines())
	case <-time.After(startTimeout):
		n.kill()
		return nil, fmt.Errorf("nats-server was not ready within %s; last output:\n%s", startTimeout, n.lastLines())
	case <-ctx.Done():
		n.kill()
		return nil, ctx.Err()
	}
}

func (n *natsProc) line(s string, ready chan<- struct{}) {
	if strings.Contains(s, "Server is ready") {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tail = append(n.tail, s)
	if len(n.tail) > 30 {
		n.tail = n.tail[1:]
	}
	if strings.Contains(s, "[WRN]") || strings.Contains(s, "[ERR]") || strings.Contains(s, "[FTL]") {
		n.nProblem++
		if len(n.problems) < 10 {
			n.problems = append(n.problems, s)
		}
	}
}

func (n *natsProc) lastLines() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.tail, "\n")
}

// logProblems returns how many warnings and errors nats-server logged, and the first few.
func (n *natsProc) logProblems() (int, []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nProblem, append([]string(nil), n.problems...)
}

func (n *natsProc) pid() int { return n.cmd.Process.Pid }

// peaks returns the process's VmHWM and peak RssAnon, and stops sampling.
func (n *natsProc) peaks() (hwm, anon int64) {
	hwm = vmHWM(n.pid())
	anon, _ = n.mem.finish()
	return hwm, anon
}

// stop sends SIGTERM and waits for the exit, killing after stopTimeout.
func (n *natsProc) stop() error {
	n.mem.finish()
	select {
	case <-n.done:
		return nil
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		return nil
	case <-time.After(stopTimeout):
		n.kill()
		return fmt.Errorf("nats-server did not exit within %s of SIGTERM; killed", stopTimeout)
	}
}

func (n *natsProc) kill() {
	n.mem.finish()
	_ = n.cmd.Process.Kill()
	select {
	case <-n.done:
	case <-time.After(stopTimeout):
	}
}
