// Package natstest starts embedded NATS servers with JetStream for tests:
// one server (RunServer), which can be restarted on its port and store,
// or a three-node cluster (RunCluster) whose nodes can be killed (routes
// cut, no leadership handed over) and started again. NewProxy puts a TCP
// proxy before a server that can hold all traffic (a partition) or cut
// it. Every server listens on 127.0.0.1 only, on ports the system picks,
// keeps its JetStream files in t.TempDir() and is shut down in t.Cleanup.
//
// It is a test kit: import it only from _test.go files.
package natstest
