package main

import (
	"flag"

	"github.com/hookd/hookd/internal/service"
)

// addLogFlags adds the flags that say where the event log lives: the
// embedded log in --data (the default), or --log nats://... for a
// JetStream stream several processes share. serve, rebuild and the log
// tools take the same ones.
func addLogFlags(fs *flag.FlagSet, getenv func(string) string, c *service.LogConfig) error {
	replicas, err := envInt(getenv, "HOOKD_NATS_REPLICAS", 1)
	if err != nil {
		return err
	}
	fs.StringVar(&c.URL, "log", getenv("HOOKD_LOG"), "where the event log lives: empty for the embedded log in --data, or nats://HOST:PORT[,nats://HOST:PORT...] for a NATS JetStream stream that several hookd processes share (env HOOKD_LOG)")
	fs.StringVar(&c.Stream, "nats-stream", envDefault(getenv, "HOOKD_NATS_STREAM", "HOOKD"), "the JetStream stream that holds the log, with --log nats://... (env HOOKD_NATS_STREAM)")
	fs.IntVar(&c.Replicas, "nats-replicas", replicas, "replicas of the stream when hookd creates it: 1, or 3 on a three-node cluster (env HOOKD_NATS_REPLICAS)")
	fs.StringVar(&c.Creds, "nats-creds", getenv("HOOKD_NATS_CREDS"), "NATS credentials file (env HOOKD_NATS_CREDS)")
	fs.StringVar(&c.TLSCA, "nats-tls-ca", getenv("HOOKD_NATS_TLS_CA"), "PEM file of the CA that signed the NATS servers' certificates (env HOOKD_NATS_TLS_CA)")
	fs.StringVar(&c.TLSCert, "nats-tls-cert", getenv("HOOKD_NATS_TLS_CERT"), "PEM client certificate for NATS, with --nats-tls-key (env HOOKD_NATS_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "nats-tls-key", getenv("HOOKD_NATS_TLS_KEY"), "PEM key of --nats-tls-cert (env HOOKD_NATS_TLS_KEY)")
	return nil
}
