package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	startTimeout = 30 * time.Second // until "hookd listening"
	stopTimeout  = 30 * time.Second // from SIGTERM to exit, then SIGKILL
)

// hookdProc is one running hookd process.
type hookdProc struct {
	name string
	cmd  *exec.Cmd
	base string // http://host:port, for serve
	done chan struct{}
	echo io.Writer // if set, every log line is copied here
	mem  *memSampler

	mu       sync.Mutex
	problems []string // WARN and ERROR lines, the first few
	nProblem int
	expected func(line string) bool // WARN and ERROR lines the scenario causes on purpose
	nExpect  int
	tail     []string // the last lines, for reports of early exits
}

// childEnv is this environment without HOOKD_*, so a developer's settings
// do not change what is measured; HOOKD_PPROF passes, to profile a run.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKD_") || strings.HasPrefix(kv, "HOOKD_PPROF=") {
			env = append(env, kv)
		}
	}
	return env
}

// startServe runs `hookd serve` on dataDir with extra flags and waits until
// it listens. The caller must stop it.
// With echo set it logs at debug level and copies every line to echo.
func startServe(ctx context.Context, bin, dataDir string, echo io.Writer, extra ...string) (*hookdProc, error) {
	return startServeEnv(ctx, bin, dataDir, echo, nil, extra...)
}

// startServeEnv is startServe with env (KEY=VALUE) added to the child's
// environment, for the settings hookd takes from it only (HOOKD_SECRET_KEY).
func startServeEnv(ctx context.Context, bin, dataDir string, echo io.Writer, env []string, extra ...string) (*hookdProc, error) {
	level := "info"
	if echo != nil {
		level = "debug"
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--allow-private-targets",
		"--log-format", "json", "--log-level", level}, extra...)
	p, addrc, err := startHookd(bin, args, echo, env)
	if err != nil {
		return nil, err
	}
	select {
	case addr := <-addrc:
		p.base = "http://" + addr
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("hookd exited before listening (%v); last output:\n%s", p.cmd.ProcessState, p.lastLines())
	case <-time.After(startTimeout):
		p.kill()
		return nil, fmt.Errorf("hookd did not log \"hookd listening\" within %s; last output:\n%s", startTimeout, p.lastLines())
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
}

// runHookd runs a hookd command to its end (killed when ctx ends) and
// returns its stdout and its peak RSS, sampled while it runs.
func runHookd(ctx context.Context, bin string, args ...string) (stdout string, peakRSS, peakAnon int64, err error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv()
	setChildAttrs(cmd)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		return "", 0, 0, fmt.Errorf("start hookd %s: %w", args[0], err)
	}
	mem := sampleMem(cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			peakAnon, _ = mem.finish()
			if err != nil {
				return out.String(), peakRSS, peakAnon, fmt.Errorf("hookd %s: %w\n%s", args[0], err, errOut.String())
			}
			return out.String(), peakRSS, peakAnon, nil
		case <-tick.C:
			peakRSS = max(peakRSS, vmHWM(cmd.Process.Pid))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			peakAnon, _ = mem.finish()
			return out.String(), peakRSS, peakAnon, ctx.Err()
		}
	}
}

func startHookd(bin string, args []string, echo io.Writer, env []string) (*hookdProc, <-chan string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(childEnv(), env...)
	setChildAttrs(cmd)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &hookdProc{name: args[0], cmd: cmd, done: make(chan struct{}), echo: echo, mem: sampleMem(cmd.Process.Pid)}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			p.line(sc.Text(), addrc)
		}
		// All output is read; now Wait may close the pipe.
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, addrc, nil
}

// line looks at one log line: the listening address, warnings and errors.
func (p *hookdProc) line(s string, addrc chan<- string) {
	var rec struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
		Addr  string `json:"addr"`
	}
	_ = json.Unmarshal([]byte(s), &rec)
	if rec.Msg == "hookd listening" && rec.Addr != "" {
		select {
		case addrc <- rec.Addr:
		default:
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.echo != nil {
		fmt.Fprintf(p.echo, "hookd[%d]: %s\n", p.cmd.Process.Pid, s)
	}
	p.tail = append(p.tail, s)
	if len(p.tail) > 30 {
		p.tail = p.tail[1:]
	}
	if rec.Level == "WARN" || rec.Level == "ERROR" || (rec.Level == "" && strings.TrimSpace(s) != "") {
		if p.expected != nil && p.expected(s) {
			p.nExpect++
			return
		}
		p.nProblem++
		if len(p.problems) < 10 {
			p.problems = append(p.problems, s)
		}
	}
}

func (p *hookdProc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// logProblems returns how many warnings and errors hookd logged, and the first few.
func (p *hookdProc) logProblems() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nProblem, append([]string(nil), p.problems...)
}

// expect makes the warnings and errors for which f is true expected: they
// are counted apart (expectedProblems), not as problems.
func (p *hookdProc) expect(f func(line string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected = f
}

// expectedProblems returns how many expected warnings and errors hookd logged.
func (p *hookdProc) expectedProblems() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nExpect
}

func (p *hookdProc) pid() int { return p.cmd.Process.Pid }

// peaks returns the process's VmHWM and the peak of its anonymous
// resident memory so far, and stops sampling: call it just before stop.
func (p *hookdProc) peaks() (hwm, anon int64) {
	hwm = vmHWM(p.pid())
	anon, _ = p.mem.finish()
	return hwm, anon
}

// stop sends SIGTERM and waits for the exit, killing after stopTimeout.
// An exit other than a clean 0 is an error.
func (p *hookdProc) stop() error {
	p.mem.finish()
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			p.kill()
			return fmt.Errorf("hookd did not exit within %s of SIGTERM; killed", stopTimeout)
		}
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("hookd exited with code %d; last output:\n%s", code, p.lastLines())
	}
	return nil
}

func (p *hookdProc) kill() {
	p.mem.finish()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
	}
}

// waitQuiet waits until the process uses under a tenth of a core over a
// quarter second (its start-up work is done), or for at most limit.
func waitQuiet(ctx context.Context, pid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	prev := cpuTicks(pid)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		cur := cpuTicks(pid)
		if cur >= 0 && cur-prev <= 2 { // clock ticks are usually 10 ms
			return
		}
		prev = cur
	}
}

// memSampler records the peaks of a process's anonymous and file-backed
// resident memory (RssAnon, RssFile in /proc/PID/status) while it runs:
// VmHWM counts both, and Badger's memory-mapped tables show up as file
// pages, which the kernel can drop, unlike the heap.
type memSampler struct {
	path       string
	stopc      chan struct{}
	done       chan struct{}
	anon, file atomic.Int64
}

// sampleMem starts sampling pid (0: this process) every 100 ms.
func sampleMem(pid int) *memSampler {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	m := &memSampler{path: path, stopc: make(chan struct{}), done: make(chan struct{})}
	m.sample()
	go func() {
		defer close(m.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.stopc:
				return
			case <-tick.C:
				m.sample()
			}
		}
	}()
	return m
}

func (m *memSampler) sample() {
	b, err := os.ReadFile(m.path)
	if err != nil {
		return
	}
	s := string(b)
	if v := fieldKB(s, "RssAnon:"); v > m.anon.Load() {
		m.anon.Store(v)
	}
	if v := fieldKB(s, "RssFile:"); v > m.file.Load() {
		m.file.Store(v)
	}
}

// finish stops sampling (once) and returns the peaks in bytes.
func (m *memSampler) finish() (anon, file int64) {
	select {
	case <-m.stopc:
	default:
		m.sample()
		close(m.stopc)
	}
	<-m.done
	return m.anon.Load(), m.file.Load()
}

// vmHWM returns the peak resident set size of pid in bytes (0 if unknown).
func vmHWM(pid int) int64 {
	return statusField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
}

// selfPeak resets this process's peak RSS and starts sampling its memory.
func selfPeak() *memSampler {
	resetSelfPeak()
	return sampleMem(0)
}

// selfPeaks returns this process's VmHWM and peak RssAnon since selfPeak.
func (m *memSampler) selfPeaks() (hwm, anon int64) {
	anon, _ = m.finish()
	return selfVmHWM(), anon
}

// selfVmHWM is this process's peak RSS.
func selfVmHWM() int64 { return statusField("/proc/self/status", "VmHWM:") }

// resetSelfPeak returns freed memory to the OS and resets this process's
// VmHWM (Linux 4.0+), so the next reading covers only what follows.
func resetSelfPeak() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func statusField(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return fieldKB(string(b), field)
}

// fieldKB returns a "Name:  123 kB" field of a status file in bytes.
func fieldKB(status, field string) int64 {
	for _, l := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(l, field); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// cpuTicks returns user+system CPU time of pid in clock ticks, -1 if unknown.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name may hold spaces; fields start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return -1
	}
	return u + s
}
