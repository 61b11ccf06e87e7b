package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startTimeout bounds how long a server may take to accept connections.
// Generous: under -race, with make test's other packages (processes of
// the end-to-end tests) on the same two cores, a cluster node once took
// more than 10 s in CI.
const startTimeout = 30 * time.Second

// Server is one embedded nats-server with JetStream.
type Server struct {
	// Server is the running server; Restart replaces it.
	*server.Server
	// URL is the nats:// address clients connect to; it stays the same
	// across Restart.
	URL string

	t    testing.TB
	opts *server.Options
}

// RunServer starts a single JetStream server and shuts it down when the
// test ends.
func RunServer(t testing.TB) *Server {
	t.Helper()
	opts := baseOptions(t.TempDir())
	opts.Port = freePorts(t, 1)[0] // fixed, so Restart can come back on it
	s := start(t, opts)
	srv := &Server{Server: s, URL: s.ClientURL(), t: t, opts: opts}
	t.Cleanup(func() { stop(srv.Server) })
	return srv
}

// Restart shuts the server down at once and starts it again on the same
// port and store, as a crashed server that came back: clients reconnect,
// and what JetStream had written is there again.
func (s *Server) Restart() {
	s.t.Helper()
	stop(s.Server)
	s.Server = start(s.t, s.opts.Clone())
}

func baseOptions(storeDir string) *server.Options {
	return &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  storeDir,
		NoLog:     true,
		NoSigs:    true,
		// Keep JetStream from sizing itself on the machine's memory.
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
		// As the README tells operators to run it: hookd's largest
		// entries are over NATS's default of 1 MiB.
		MaxPayload: 8 << 20,
	}
}

func start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(startTimeout) {
		s.Shutdown()
		t.Fatalf("natstest: server %s did not accept connections within %v", opts.ServerName, startTimeout)
	}
	return s
}

func stop(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}
