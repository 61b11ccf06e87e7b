package webhook

import "sync"

// tracker knows which requests read from the log are still without a
// recorded attempt, so the dispatcher can say from where a restart must
// look for unsent ones: the low-water mark, below which every request has
// its attempt in the log. Requests are added in log order; they finish in
// any order. It costs 8 bytes per outstanding request.
type tracker struct {
	mu       sync.Mutex
	seqs     []uint64            // outstanding and finished requests, in log order, from the oldest outstanding
	finished map[uint64]struct{} // finished requests still in seqs
	read     uint64              // every request up to here has been added
}

func newTracker(from uint64) *tracker {
	return &tracker{finished: map[uint64]struct{}{}, read: from}
}

// add notes an outstanding request; seq is above every earlier one.
func (t *tracker) add(seq uint64) {
	t.mu.Lock()
	t.seqs = append(t.seqs, seq)
	t.mu.Unlock()
}

// readThrough notes that every request up to seq has been added.
func (t *tracker) readThrough(seq uint64) {
	t.mu.Lock()
	t.read = max(t.read, seq)
	t.mu.Unlock()
}

// finish notes that the request's attempt is in the log.
func (t *tracker) finish(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.finished[seq] = struct{}{}
	for len(t.seqs) > 0 {
		if _, ok := t.finished[t.seqs[0]]; !ok {
			break
		}
		delete(t.finished, t.seqs[0])
		t.seqs = t.seqs[1:]
	}
	if len(t.seqs) == 0 {
		t.seqs = nil // let the backing array go
	}
}

// lowWater is the sequence up to which every request read has its attempt
// in the log.
func (t *tracker) lowWater() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.seqs) > 0 {
		return t.seqs[0] - 1
	}
	return t.read
}

// outstanding is the number of requests without a recorded attempt.
func (t *tracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seqs) - len(t.finished)
}
