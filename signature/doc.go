// Package signature signs webhook requests in Hookstream's sender and verifies
// them in receivers: both sides share this one implementation, and it imports
// nothing but the standard library, so a receiving application can depend on
// it alone.
//
// It sits at the last hop of the flow:
//
//	sender ──encrypt?──Sign──▶ POST ──▶ receiver ──Verify──decrypt?──▶ handler
//
// # Schemes
//
// Standard Webhooks is the default: headers webhook-id, webhook-timestamp and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>", with
// several space-separated signatures while a secret rotates. The other
// schemes are an HMAC of the body as sent, with a chosen algorithm (sha1,
// sha256, sha512), encoding (hex, base64), header and prefix; the vendor
// presets name the ones our users' receivers expect:
//
//	tartan   tartan-signature             hex HMAC-SHA256
//	bindbee  X-Bindbee-Webhook-Signature  hex HMAC-SHA256
//	trutac   TT-Hook-Signature            "sha1=" + hex HMAC-SHA1 (and TT-Hook-Event: <type>)
//	teal     X-Teal-Signature             hex HMAC-SHA512 (IV in X-Teal-Encryption-IV)
//
// These carry one signature, made with the newest secret; during a rotation
// a receiver accepts both secrets (list both in ReceiverConfig.Secrets).
//
// # Encryption
//
// With an encryption key (base64 of 32 bytes) the body is AES-256-GCM: a
// fresh 12-byte IV per request, sent base64 in the IV header
// (X-Teal-Encryption-IV for teal, webhook-encryption-iv otherwise), and the
// body base64(ciphertext ‖ 16-byte tag), as Java's AES/GCM/NoPadding makes.
// The body is encrypted first and then signed as sent, so receivers verify
// before they decrypt.
//
// # Receiving
//
// A receiver builds a [Receiver] once and opens each request with it:
//
//	rcv, err := signature.NewReceiver(signature.ReceiverConfig{
//		Scheme:  signature.Config{Preset: "standard"},
//		Secrets: []string{"whsec_..."},
//	})
//	...
//	payload, err := rcv.ReadRequest(r) // verified, and decrypted if a key is set
package signature
