package diskspace

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A guard with a clock and a free-space figure the test moves.
func newTestGuard(t *testing.T, free *uint64, probes *int) (*Guard, *time.Time, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	g, err := New(Config{
		Path:    "/data",
		Reserve: func(uint64) uint64 { return 100 << 20 },
		Probe: func(string) (Usage, error) {
			*probes++
			return Usage{Free: *free, Total: 10 << 30}, nil
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	g.probedAt = now
	return g, &now, &logs
}

func TestAdmitRefusesBelowTheReserveAndResumes(t *testing.T) {
	free, probes := uint64(1<<30), 0
	g, now, logs := newTestGuard(t, &free, &probes)
	if err := g.Admit(1000); err != nil {
		t.Fatalf("1 GiB free, 100 MiB reserve: %v", err)
	}
	free = 50 << 20
	*now = now.Add(probeEvery)
	err := g.Admit(1000)
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "50.0 MiB free, below the 100.0 MiB") {
		t.Fatalf("50 MiB free: %v, want ErrFull with the figures", err)
	}
	for range 5 {
		_ = g.Admit(10)
	}
	if n := strings.Count(logs.String(), "disk full"); n != 1 {
		t.Fatalf("the full disk was logged %d times, want once:\n%s", n, logs)
	}
	// While full every Admit measures again, so freed space counts at once.
	free = 1 << 30
	if err := g.Admit(10); err != nil {
		t.Fatalf("after space is freed: %v", err)
	}
	if g.Err() != nil || !strings.Contains(logs.String(), "disk space available again") {
		t.Fatalf("Err after resuming: %v; logs:\n%s", g.Err(), logs)
	}
}

// Between two probes the bytes admitted count against the last measure,
// so a burst cannot run through the reserve on a stale figure.
func TestAdmitCountsBytesBetweenProbes(t *testing.T) {
	free, probes := uint64(110<<20), 0
	g, _, _ := newTestGuard(t, &free, &probes)
	before := probes
	if err := g.Admit(1 << 20); err != nil { // 4 MiB estimated: still 106 MiB
		t.Fatal(err)
	}
	if probes != before {
		t.Fatalf("a fresh measure far from the reserve was taken again")
	}
	free = 90 << 20 // the disk filled meanwhile
	if err := g.Admit(2 << 20); !errors.Is(err, ErrFull) {
		t.Fatalf("an append that would reach the reserve on the estimate: %v; want a new measure and ErrFull", err)
	}
	if probes != before+1 {
		t.Fatalf("probes: %d, want one more", probes-before)
	}
}

func TestNewFailsWhenTheSpaceCannotBeMeasured(t *testing.T) {
	_, err := New(Config{Path: "/nowhere", Probe: func(string) (Usage, error) { return Usage{}, errors.New("no such filesystem") }})
	if err == nil || !strings.Contains(err.Error(), "/nowhere") {
		t.Fatalf("New with a failing probe: %v", err)
	}
}

func TestDefaultReserveAndBytes(t *testing.T) {
	if got := DefaultReserve(100 << 30); got != 256<<20 {
		t.Errorf("DefaultReserve(100 GiB) = %d, want 256 MiB", got)
	}
	if got := DefaultReserve(1 << 30); got != (1<<30)/20 {
		t.Errorf("DefaultReserve(1 GiB) = %d, want 5%%", got)
	}
	for n, want := range map[uint64]string{512: "512 B", 1536: "1.5 KiB", 256 << 20: "256.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
