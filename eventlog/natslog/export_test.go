package natslog

// StopWatcher stops the watcher of topic, as if it had failed for good:
// only the head poll tells the Log of other processes' appends.
func StopWatcher(l *Log, topic string) {
	l.mu.Lock()
	ts := l.topics[topic]
	l.mu.Unlock()
	if ts != nil && ts.watch != nil {
		ts.watch.Stop()
	}
}
