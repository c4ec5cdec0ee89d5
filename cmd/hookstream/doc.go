// Command hookstream is the one binary of Hookstream, with a subcommand per
// role: `dev` runs the producer endpoint, router and senders in one process
// on an embedded JetStream; `publish` puts one event on the EVENTS stream.
// main only wires signals to internal/cli, where the commands live.
package main
