package logtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hookd/hookd/eventlog"
)

func testReadBatchFrom(t *testing.T, l eventlog.Log) {
	const n = 20
	mustAppend(t, l, eventlog.Topic, msgs(n)...)
	for from := uint64(0); from <= n+2; from++ {
		es, err := l.ReadBatch(guard(t), eventlog.Topic, from, 100)
		if err != nil {
			t.Fatalf("ReadBatch from %d: %v", from, err)
		}
		want := uint64(0)
		if first := max(from, 1); first <= n {
			want = n - first + 1
		}
		if uint64(len(es)) != want {
			t.Fatalf("ReadBatch from %d returned %d entries, want %d", from, len(es), want)
		}
		for i, e := range es {
			if e.Seq != max(from, 1)+uint64(i) {
				t.Fatalf("ReadBatch from %d: entry %d has seq %d: out of order or a gap", from, i, e.Seq)
			}
		}
	}
}

func testReadBatchLimit(t *testing.T, l eventlog.Log) {
	mustAppend(t, l, eventlog.Topic, msgs(10)...)
	for _, limit := range []int{1, 3, 10, 11} {
		es, err := l.ReadBatch(guard(t), eventlog.Topic, 2, limit)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(limit, 9); len(es) != want {
			t.Fatalf("ReadBatch(from 2, limit %d) returned %d entries, want %d", limit, len(es), want)
		}
	}
}

func testReadBatchBytes(t *testing.T, l eventlog.Log) {
	// 900 KiB each: under NATS's default 1 MiB max_payload, with room for
	// the entry's header; 10 of them pass 8 MiB, so a batch from 3 is cut too.
	const n, size = 14, 900 << 10
	for i := range n {
		mustAppend(t, l, eventlog.Topic, msg("test.big.v1", bytes.Repeat([]byte{byte(i)}, size)))
	}
	for _, from := range []uint64{1, 3} {
		es, err := l.ReadBatch(guard(t), eventlog.Topic, from, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 || len(es) >= n-int(from)+1 {
			t.Fatalf("ReadBatch of %d entries of %d bytes from %d returned %d: want at least one and fewer than all", n, size, from, len(es))
		}
		total := 0
		for _, e := range es[:len(es)-1] {
			total += len(e.Payload)
		}
		if total >= 8<<20 {
			t.Fatalf("ReadBatch returned %d payload bytes before its last entry, want under 8 MiB", total)
		}
		for i, e := range es {
			if e.Seq != from+uint64(i) || len(e.Payload) != size || e.Payload[0] != byte(e.Seq-1) {
				t.Fatalf("entry %d of the batch: seq %d, %d bytes", i, e.Seq, len(e.Payload))
			}
		}
	}
	if all := readAll(t, l, eventlog.Topic, 100); len(all) != n {
		t.Fatalf("reading on from each batch's end gave %d entries, want %d", len(all), n)
	}
}

func testReadBatchPastHead(t *testing.T, l eventlog.Log) {
	if es, err := l.ReadBatch(guard(t), eventlog.Topic, 1, 10); err != nil || len(es) != 0 {
		t.Fatalf("ReadBatch of an empty log = %d entries, %v; want none", len(es), err)
	}
	mustAppend(t, l, eventlog.Topic, msgs(2)...)
	for _, from := range []uint64{3, 4, 1 << 40} {
		if es, err := l.ReadBatch(guard(t), eventlog.Topic, from, 10); err != nil || len(es) != 0 {
			t.Fatalf("ReadBatch from %d past head 2 = %d entries, %v; want none", from, len(es), err)
		}
	}
}

func testReadEntry(t *testing.T, l eventlog.Log) {
	ms := msgs(3)
	mustAppend(t, l, eventlog.Topic, ms...)
	batch := readAll(t, l, eventlog.Topic, 10)
	for i, want := range batch {
		e, err := l.ReadEntry(guard(t), eventlog.Topic, want.Seq)
		if err != nil {
			t.Fatalf("ReadEntry(%d): %v", want.Seq, err)
		}
		if err := sameEntry(e, want); err != nil {
			t.Fatalf("ReadEntry differs from ReadBatch: %v", err)
		}
		if e.UUID != ms[i].UUID {
			t.Fatalf("entry %d has UUID %q, want %q", e.Seq, e.UUID, ms[i].UUID)
		}
	}
	if _, err := l.ReadEntry(guard(t), eventlog.Topic, 4); !errors.Is(err, eventlog.ErrNotFound) {
		t.Fatalf("ReadEntry past the head: %v, want ErrNotFound", err)
	}
}

func testMetadata(t *testing.T, l eventlog.Log) {
	m := msg("hook.configured.v1", []byte(`{}`))
	m.Metadata["delivery_id"] = "d-1"
	m.Metadata["empty"] = ""
	m.Metadata[eventlog.MetaSeq] = "999" // derived on read, never stored
	mustAppend(t, l, eventlog.Topic, msgs(1)...)
	seq := mustAppend(t, l, eventlog.Topic, m)[0]
	e, err := l.ReadEntry(guard(t), eventlog.Topic, seq)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{eventlog.MetaName: "hook.configured.v1", "delivery_id": "d-1", "empty": "", eventlog.MetaSeq: "2"}
	if len(e.Metadata) != len(want) {
		t.Fatalf("metadata %v, want %v", e.Metadata, want)
	}
	for k, v := range want {
		if got, ok := e.Metadata[k]; !ok || got != v {
			t.Fatalf("metadata %v, want %v", e.Metadata, want)
		}
	}
	if e.Name() != "hook.configured.v1" {
		t.Fatalf("Name() = %q", e.Name())
	}
}

func testPayloads(t *testing.T, l eventlog.Log) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	payloads := [][]byte{binary, nil, {}, []byte("\x00"), []byte(`{"a":1}`)}
	var ms []eventlog.AppendMessage
	for _, p := range payloads {
		ms = append(ms, msg("test.payload.v1", p))
	}
	mustAppend(t, l, eventlog.Topic, ms...)
	got := readAll(t, l, eventlog.Topic, 10)
	if len(got) != len(payloads) {
		t.Fatalf("read %d entries, want %d", len(got), len(payloads))
	}
	for i, e := range got {
		if !bytes.Equal(e.Payload, payloads[i]) {
			t.Fatalf("entry %d: payload %q, want %q", e.Seq, e.Payload, payloads[i])
		}
	}
}

func testHashChain(t *testing.T, l eventlog.Log) {
	mustAppend(t, l, eventlog.Topic, msgs(5)...)
	for range 5 {
		mustAppend(t, l, eventlog.Topic, msgs(1)...)
	}
	mustAppend(t, l, eventlog.Topic, msgs(7)...)
	all := readAll(t, l, eventlog.Topic, 4)
	if len(all) != 17 {
		t.Fatalf("read %d entries, want 17", len(all))
	}
	checkChain(t, all)
	if all[0].PrevHash != ([eventlog.HashSize]byte{}) {
		t.Fatalf("entry 1 links to %x, want 32 zero bytes", all[0].PrevHash)
	}
}
