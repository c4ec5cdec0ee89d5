// Command hookstream is the one binary of Hookstream, with a subcommand per
// role: `dev` runs the API, router, senders and the end-of-day scheduler in
// one process on an embedded JetStream; `scheduler` runs the end-of-day
// replay against external NATS; `publish` puts one event on the EVENTS
// stream; `deadletters` and `replay` list and replay a tenant's dead
// letters. main only wires signals to internal/cli, where the commands live.
package main
