package projections

import (
	"sync"
	"time"
)

// pageOutEvery is how often a rebuild pages out Badger's mapped files.
// Compactions and memtable flushes run beside the replay, and one of them
// maps tens of MiB of new tables between two batches: paging out on a
// timer, not only after each batch, keeps that from adding up.
const pageOutEvery = 200 * time.Millisecond

// pager pages out the Badger files under dirs (see pageOut) every
// pageOutEvery until stopped.
type pager struct {
	stopc chan struct{}
	wg    sync.WaitGroup
}

func startPager(dirs ...string) *pager {
	p := &pager{stopc: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(pageOutEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				pageOut(dirs...)
			}
		}
	}()
	return p
}

// stop ends the pager and waits for it.
func (p *pager) stop() {
	close(p.stopc)
	p.wg.Wait()
}
