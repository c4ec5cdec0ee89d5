// Package dialect shapes what a receiver gets: it sits between the router,
// which asks a webhook's filter whether the webhook wants an event, and the
// senders, which turn the event into the body and event name the receiver
// expects.
//
// A webhook's dialect is three optional settings: a transform (a jq program
// whose output is the body), a filter (a jq expression that must yield true
// for the webhook to get the event) and event names (catalog type → the
// receiver's name, used in the event-type header and given to the transform).
// A [Profile] is nothing but a named bundle of such settings for one vendor's
// receivers (tartan, bindbee, trutac, teal), with the signature preset,
// include_payload default and retry policy that go with them.
//
// # Programs
//
// Programs are jq, run by gojq. [Compile] parses and compiles one once, when
// a webhook is saved or loaded; a [Compiler] keeps them for a process, so a
// delivery never compiles. Every program sees one input object:
//
//	{"event": {...}, "event_name": "...", "webhook": {...}, "delivery": {...}}
//
// A program that reads that input only through .event and .event_name (and,
// for a transform, reads .webhook and .delivery only as whole values of the
// object it outputs, such as {requestId: .delivery.id}) runs once per event
// for every webhook that shares it; [Program.PerEvent] says whether it does.
//
// # Limits
//
// Programs are the tenant's code running in our processes, so every run is
// bounded: in time (a program that never ends is stopped), in what it may
// build in one step (a string repeated a billion times, an array grown to a
// huge index), in its output (at most [MaxOutput], depth at most
// [MaxOutputDepth]), in runs at once, and in each tenant's share of the time
// (a [Budget]). A run that breaks a bound fails with a [RunError] saying
// which.
package dialect
