// Package telemetry is Hookstream's OpenTelemetry plumbing: it installs the
// W3C trace-context propagator and, when the standard OTEL_* environment
// variables ask for one, an exporting tracer provider; it carries
// traceparent in NATS message headers (lowercase keys: nats.Header is
// case-sensitive) so one event's journey — producer, router, sender,
// receiver, replays — is one trace; and it adds trace and span ids to log
// lines about an event.
//
// With no OTEL_* variable set the global tracer stays a no-op: spans cost a
// context lookup, and traceparent still travels, so a caller's trace
// continues through Hookstream to the receiver.
package telemetry
