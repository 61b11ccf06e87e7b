package logtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hookd/hookd/eventlog"
)

func testWaitFor(t *testing.T, l eventlog.Log) {
	ctx := guard(t)
	mustAppend(t, l, eventlog.Topic, msgs(2)...)
	if err := l.WaitFor(ctx, eventlog.Topic, 1); err != nil {
		t.Fatalf("WaitFor(1) at head 2: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- l.WaitFor(ctx, eventlog.Topic, 2) }()
	appended := make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, eventlog.Topic, msgs(1)...)
		appended <- err
	}()
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitFor(2) while another goroutine appended 3: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.WaitFor(cancelled, eventlog.Topic, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor with a cancelled context: %v, want context.Canceled", err)
	}

	waiting := make(chan error, 1)
	go func() { waiting <- l.WaitFor(ctx, eventlog.Topic, 100) }()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("WaitFor when the log closed: %v, want ErrClosed", err)
	}
}

func testClose(t *testing.T, l eventlog.Log) {
	mustAppend(t, l, eventlog.Topic, msgs(1)...)
	select {
	case <-l.Closing():
		t.Fatal("Closing is closed before Close")
	default:
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-l.Closing()
	ctx := guard(t)
	if _, err := l.Append(ctx, eventlog.Topic, msgs(1)...); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := l.AppendAt(ctx, eventlog.Topic, 1, msgs(1)...); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("AppendAt after Close: %v, want ErrClosed", err)
	}
	if _, err := l.ReadBatch(ctx, eventlog.Topic, 1, 10); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v, want ErrClosed", err)
	}
	if _, err := l.ReadEntry(ctx, eventlog.Topic, 1); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("ReadEntry after Close: %v, want ErrClosed", err)
	}
	if err := l.WaitFor(ctx, eventlog.Topic, 5); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("WaitFor after Close: %v, want ErrClosed", err)
	}
	if err := l.Err(); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Err after Close: %v, want ErrClosed", err)
	}
	if err := l.Writable(); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Writable after Close: %v, want ErrClosed", err)
	}
}

// errRefused stands for a broken link found while serving.
var errRefused = errors.New("logtest: refused (a broken link was found)")

func testRefuse(t *testing.T, l eventlog.Log) {
	mustAppend(t, l, eventlog.Topic, msgs(1)...)
	if err := l.Err(); err != nil {
		t.Fatalf("Err before Refuse: %v", err)
	}
	refusal := fmt.Errorf("entry 1: %w", errRefused)
	l.Refuse(refusal)
	if _, err := l.Append(guard(t), eventlog.Topic, msgs(1)...); !errors.Is(err, errRefused) {
		t.Fatalf("Append after Refuse: %v, want the refusal", err)
	}
	if _, err := l.AppendAt(guard(t), eventlog.Topic, 1, msgs(1)...); !errors.Is(err, errRefused) {
		t.Fatalf("AppendAt after Refuse: %v, want the refusal", err)
	}
	if err := l.Err(); !errors.Is(err, errRefused) {
		t.Fatalf("Err after Refuse: %v, want the refusal", err)
	}
	if err := l.Writable(); !errors.Is(err, errRefused) {
		t.Fatalf("Writable after Refuse: %v, want the refusal", err)
	}
	// Reading goes on: the refusal is about appending.
	if all := readAll(t, l, eventlog.Topic, 10); len(all) != 1 {
		t.Fatalf("read %d entries after Refuse, want 1", len(all))
	}
}
