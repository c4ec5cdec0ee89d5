// Package signature signs webhook requests in the sender and verifies them in
// receivers: both sides share this one implementation.
//
// It sits at the last hop of the flow:
//
//	sender ──Sign──▶ POST ──▶ receiver ──Verify──▶ handler
//
// Schemes: Standard Webhooks (the default: webhook-id, webhook-timestamp and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>", several
// space-separated signatures while a secret rotates) and HMAC over the body
// with a chosen algorithm, encoding, header and prefix, named by the vendor
// presets tartan, bindbee, trutac and teal.
//
// A receiver verifies with:
//
//	s, _ := signature.New(schemas.SignatureConfig{Preset: "standard"})
//	if err := s.Verify(r.Header, body, time.Now(), "whsec_..."); err != nil { ... }
package signature
