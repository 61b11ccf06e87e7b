// Package testkit is what the tests of several packages share instead of
// each carrying its own copy: WaitUntil, which polls a condition until it
// holds or a deadline passes, and Receiver, a webhook receiver on loopback
// that records every request exactly and answers as a test sets it to.
//
// Nothing in it sleeps to synchronise: a test waits for what it expects
// to see (WaitUntil, Receiver.WaitForCount), and a fixed time appears only
// where a test checks that nothing happens during it (Receiver.StaysAt).
//
// It is a test kit: import it only from _test.go files.
package testkit
