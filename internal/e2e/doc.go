// Package e2e runs the whole pipeline in one process — an embedded JetStream,
// the API, the router, the senders — against real httptest receivers that
// verify every signature with the Standard Webhooks reference library. It has
// only tests.
package e2e
