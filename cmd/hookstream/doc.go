// Command hookstream is the one binary of Hookstream, with a subcommand per
// role: `dev` runs the API, router, senders and the end-of-day scheduler in
// one process on an embedded JetStream; `api`, `router`, `sender` and
// `scheduler` each run one role against external NATS; `nats` runs an
// embedded JetStream node, standalone or in a cluster; `publish` puts one
// event on the EVENTS stream; `deadletters` and `replay` list and replay a
// tenant's dead letters; `receive` is a receiver that prints and verifies
// what it gets; `healthcheck` is the container image's health check; `bench`
// measures the pipeline on this machine. main only wires signals to
// internal/cli, where the commands live.
package main
