package badgerlog_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// Environment of the helper process TestCrashHelperProcess.
const (
	crashDirEnv   = "HOOKD_CRASH_HELPER_DIR"   // the log directory; unset: the helper does nothing
	crashModeEnv  = "HOOKD_CRASH_HELPER_MODE"  // "append" (default) or "open"
	crashCycleEnv = "HOOKD_CRASH_HELPER_CYCLE" // makes UUIDs unique across runs on one dir
)

// TestCrashHelperProcess is not a test: it is the child process of
// TestCrashRecovery and TestOpenLockedDirFromAnotherProcess, started by
// re-executing the test binary. Without its environment it returns at once.
//
// In "append" mode it opens the log and appends from several goroutines,
// in batches of 1 to 4 messages, printing "ACK <uuid> <seq>" for every
// message once its append has returned, until it is killed. UUIDs are
// c<cycle>-w<worker>-b<batch>-<i>of<n>, and payloads are crashPayload(uuid).
//
// In "open" mode it tries to open the log and prints "OPEN-OK" or
// "OPEN-ERR <error>".
func TestCrashHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return
	}
	if os.Getenv(crashModeEnv) == "open" {
		s, err := badgerlog.Open(dir, badgerlog.Options{})
		if err != nil {
			fmt.Printf("OPEN-ERR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			os.Exit(0)
		}
		s.Close()
		fmt.Println("OPEN-OK")
		os.Exit(0)
	}

	cycle := os.Getenv(crashCycleEnv)
	store, err := badgerlog.Open(dir, badgerlog.Options{})
	if err != nil {
		fmt.Printf("ERR open: %v\n", err)
		os.Exit(2)
	}
	pub := eventlog.NewPublisher(store)
	var outMu sync.Mutex
	const workers = 6
	for w := range workers {
		go func() {
			for b := 0; ; b++ {
				n := 1 + (w+b)%4
				msgs := make([]*message.Message, n)
				for i := range msgs {
					id := fmt.Sprintf("c%s-w%d-b%d-%dof%d", cycle, w, b, i+1, n)
					msgs[i] = message.NewMessage(id, crashPayload(id))
					msgs[i].Metadata.Set(eventlog.MetaName, "test.appended.v1")
				}
				seqs, err := pub.Append(context.Background(), eventlog.Topic, msgs...)
				outMu.Lock()
				if err != nil {
					fmt.Printf("ERR append: %v\n", err)
					os.Exit(2)
				}
				// One write per batch, well under PIPE_BUF: the parent never
				// sees a torn line even if the kill lands mid-way.
				var line []byte
				for i, m := range msgs {
					line = fmt.Appendf(line, "ACK %s %d\n", m.UUID, seqs[i])
				}
				if _, err := os.Stdout.Write(line); err != nil {
					os.Exit(2)
				}
				outMu.Unlock()
			}
		}()
	}
	// Bound the child even if the parent never kills it.
	time.Sleep(30 * time.Second)
	fmt.Println("ERR not killed in time")
	os.Exit(3)
}

// helperCommand returns the test binary re-run as TestCrashHelperProcess;
// the child is killed if ctx ends first.
func helperCommand(ctx context.Context, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// crashPayload is the payload of a child's message: now and then one
// larger than Badger's value threshold (1 MiB), so it lives in the value
// log rather than the LSM tree and recovery of both is exercised.
func crashPayload(uuid string) []byte {
	var cycle, worker, batch int
	if _, err := fmt.Sscanf(uuid, "c%d-w%d-b%d-", &cycle, &worker, &batch); err == nil && worker == 0 && batch%16 == 5 {
		return bytes.Repeat([]byte(uuid+";"), (1<<20+300<<10)/(len(uuid)+1))
	}
	return payloadFor(uuid)
}

// childBatch parses a child's UUID c<cycle>-w<worker>-b<batch>-<i>of<n>
// into its append's key and size; ok is false for other UUIDs.
func childBatch(uuid string) (key string, n int, ok bool) {
	var cycle, worker, batch, i int
	if _, err := fmt.Sscanf(uuid, "c%d-w%d-b%d-%dof%d", &cycle, &worker, &batch, &i, &n); err != nil {
		return "", 0, false
	}
	return uuid[:strings.LastIndexByte(uuid, '-')], n, true
}

type ack struct {
	uuid string
	seq  uint64
}

// runAndKill starts an appending child on dir, waits until it has
// acknowledged at least want messages, kills it with SIGKILL and returns
// every acknowledgement it printed before dying.
func runAndKill(t *testing.T, dir string, cycle, want int, deadline time.Time) []ack {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	cmd := helperCommand(ctx, crashDirEnv+"="+dir, crashCycleEnv+"="+strconv.Itoa(cycle))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()

	var acks []ack
	var other []string
	parse := func(line string) {
		var a ack
		if !strings.HasPrefix(line, "ACK ") {
			other = append(other, line)
			return
		}
		if _, err := fmt.Sscanf(line, "ACK %s %d", &a.uuid, &a.seq); err != nil {
			t.Fatalf("cycle %d: bad line from child %q: %v", cycle, line, err)
		}
		acks = append(acks, a)
	}
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	for len(acks) < want {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				killed = true
				t.Fatalf("cycle %d: child exited after %d acks; stdout: %q; stderr: %s", cycle, len(acks), other, stderr.String())
			}
			parse(line)
		case <-timeout.C:
			t.Fatalf("cycle %d: only %d of %d acks before the deadline; stdout: %q; stderr: %s", cycle, len(acks), want, other, stderr.String())
		}
	}

	// SIGKILL while appends are in flight: no Close, no deferred code.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	for line := range lines { // everything printed before the kill was acknowledged
		parse(line)
	}
	err = cmd.Wait()
	killed = true
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("cycle %d: child ended with %v, want killed by a signal; stdout: %q; stderr: %s", cycle, err, other, stderr.String())
	}
	if len(other) > 0 {
		t.Fatalf("cycle %d: child printed %q", cycle, other)
	}
	return acks
}

// TestCrashRecovery kills a process that is appending concurrently with
// SIGKILL, three times on the same directory, and checks after each
// reopen that every append the child was told succeeded is in the log at
// its sequence with its payload, the log is 1..head without gaps, every
// multi-message append is whole or absent, the hash chain verifies clean,
// and appends continue at head+1 (linked to the recovered last entry).
func TestCrashRecovery(t *testing.T) {
	const cycles, acksPerCycle = 3, 300
	deadline := time.Now().Add(15 * time.Second)
	dir := t.TempDir()

	acked := map[string]uint64{} // every acknowledged UUID, all cycles
	var lastHead uint64
	for cycle := 1; cycle <= cycles; cycle++ {
		// Kill at a different point each time, after some hundreds of acks.
		acks := runAndKill(t, dir, cycle, acksPerCycle+rand.IntN(200), deadline)
		for _, a := range acks {
			if _, dup := acked[a.uuid]; dup {
				t.Fatalf("cycle %d: %s acknowledged twice", cycle, a.uuid)
			}
			if a.seq <= lastHead {
				t.Fatalf("cycle %d: %s got seq %d, not after the previous head %d", cycle, a.uuid, a.seq, lastHead)
			}
			acked[a.uuid] = a.seq
		}

		store, err := badgerlog.Open(dir, badgerlog.Options{})
		if err != nil {
			t.Fatalf("cycle %d: reopen after SIGKILL: %v", cycle, err)
		}
		head := verifyLog(t, store, cycle, acked)
		// The hash chain survives the crash: no torn or orphaned link.
		rep, err := eventlog.Verify(testContext(t), store, eventlog.Topic, nil)
		if err != nil {
			t.Fatalf("cycle %d: Verify: %v", cycle, err)
		}
		if !rep.OK() {
			t.Fatalf("cycle %d: Verify after SIGKILL: broken at seq %d: %s", cycle, rep.Broken.Seq, rep.Broken.Reason)
		}
		if rep.Checked != head || rep.Head != head {
			t.Fatalf("cycle %d: Verify checked %d entries with head %d, want %d", cycle, rep.Checked, rep.Head, head)
		}

		// The log goes on right after the recovered head.
		msg := newMsg(fmt.Sprintf("parent-after-cycle-%d", cycle))
		seqs, err := eventlog.NewPublisher(store).Append(testContext(t), eventlog.Topic, msg)
		if err != nil {
			t.Fatalf("cycle %d: append after recovery: %v", cycle, err)
		}
		if seqs[0] != head+1 {
			t.Fatalf("cycle %d: append after recovery got seq %d, want head+1 = %d", cycle, seqs[0], head+1)
		}
		acked[msg.UUID] = seqs[0]
		lastHead = seqs[0]
		if err := store.Close(); err != nil {
			t.Fatalf("cycle %d: close: %v", cycle, err)
		}
		t.Logf("cycle %d: %d acknowledged by the child, head after recovery %d", cycle, len(acks), head)
	}
}

// verifyLog checks the reopened log against everything acknowledged and
// returns its head.
func verifyLog(t *testing.T, store *badgerlog.Store, cycle int, acked map[string]uint64) uint64 {
	t.Helper()
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		t.Fatalf("cycle %d: Head: %v", cycle, err)
	}
	entries := readAll(t, store)
	if uint64(len(entries)) != head {
		t.Fatalf("cycle %d: Head says %d, the reader found %d entries", cycle, head, len(entries))
	}
	bySeq := make(map[string]uint64, len(entries))
	large := 0
	batches := map[string][]eventlog.Entry{} // "c1-w0-b7" → its entries
	for i, e := range entries {
		if e.Seq != uint64(i+1) {
			t.Fatalf("cycle %d: entry %d has seq %d: the log has a gap", cycle, i+1, e.Seq)
		}
		if _, dup := bySeq[e.UUID]; dup {
			t.Fatalf("cycle %d: %s stored twice", cycle, e.UUID)
		}
		bySeq[e.UUID] = e.Seq
		// Acknowledged or not, no stored entry is damaged.
		if !bytes.Equal(e.Payload, crashPayload(e.UUID)) || e.Name() != "test.appended.v1" {
			t.Fatalf("cycle %d: seq %d (%s) has a payload of %d bytes (want %d), name %q",
				cycle, e.Seq, e.UUID, len(e.Payload), len(crashPayload(e.UUID)), e.Name())
		}
		if len(e.Payload) > 1<<20 {
			large++
		}
		if key, _, ok := childBatch(e.UUID); ok {
			batches[key] = append(batches[key], e)
		}
	}
	for id, seq := range acked {
		got, ok := bySeq[id]
		if !ok {
			t.Fatalf("cycle %d: acknowledged %s (seq %d) is missing after the crash", cycle, id, seq)
		}
		if got != seq {
			t.Fatalf("cycle %d: acknowledged %s at seq %d, found at seq %d", cycle, id, seq, got)
		}
	}
	// A multi-message append is atomic: all of it or none, contiguous.
	for batch, es := range batches {
		if _, n, _ := childBatch(es[0].UUID); len(es) != n {
			t.Fatalf("cycle %d: append %s had %d messages, %d are in the log", cycle, batch, n, len(es))
		}
		for i := 1; i < len(es); i++ {
			if es[i].Seq != es[0].Seq+uint64(i) {
				t.Fatalf("cycle %d: append %s is not contiguous: seqs %d and %d", cycle, batch, es[0].Seq, es[i].Seq)
			}
		}
	}
	t.Logf("cycle %d: %d entries, %d of them over 1 MiB", cycle, len(entries), large)
	return head
}

// TestOpenLockedDirFromAnotherProcess: while this process holds the log,
// another process's Open fails quickly saying the directory is in use.
func TestOpenLockedDirFromAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	defer store.Close()

	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	out, err := helperCommand(ctx, crashDirEnv+"="+dir, crashModeEnv+"=open").Output()
	if ctx.Err() != nil {
		t.Fatal("Open in another process hangs on a held directory")
	}
	if err != nil {
		t.Fatalf("helper: %v; output %q", err, out)
	}
	line := strings.TrimSpace(string(out))
	if !strings.HasPrefix(line, "OPEN-ERR ") {
		t.Fatalf("Open in another process while held: %q, want an error", line)
	}
	if !strings.Contains(line, "in use") || !strings.Contains(line, dir) {
		t.Fatalf("error %q does not say that %s is in use", line, dir)
	}
}
