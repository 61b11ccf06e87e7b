// Package logtest is the contract suite of eventlog.Log: Run holds an
// adapter to every promise written in eventlog/log.go, and RunShared to
// those about several Logs (processes) on one backend. RunClaims and
// RunLeases hold an adapter that shares work among processes to
// eventlog.Claimer and eventlog.Leases (eventlog/share.go); they wait for
// leases to run out, so they take seconds. Every adapter's tests run
// the suites it can:
//
//	func TestContract(t *testing.T) {
//		logtest.Run(t, func(t *testing.T) eventlog.Log { return openFresh(t) })
//	}
//
// It synchronises only on what the port offers (WaitFor, returned
// sequences, Next and Acquire within a bound), never on sleeps, and
// asserts no timings but those a lease promises (taken over after its
// ttl, handed over before it on Release). Import it only from tests.
package logtest
