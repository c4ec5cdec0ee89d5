package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // trutac's documented scheme is HMAC-SHA1
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/schemas"
)

// The receivers in this file follow only the vendor documents in
// /work/shared/seeds and are written with the standard library alone: they
// never use the project's signature package, so a change in what the product
// puts on the wire cannot be hidden by the same change in the verifier.

// macOf is HMAC(key, body) with the key taken as the bytes of the secret
// string, as every document's receiver does (Python: app_key.encode("utf-8")).
func macOf(newHash func() hash.Hash, key string, body []byte) []byte {
	m := hmac.New(newHash, []byte(key))
	m.Write(body)
	return m.Sum(nil)
}

// tartanVerified is the Python receiver of seed 000/001, line for line:
//
//	hmac_digest = hmac.new(app_key.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()
//	if hmac_digest == tartan_signature: ...
func tartanVerified(appKey string, payload []byte, tartanSignature string) bool {
	return hex.EncodeToString(macOf(sha256.New, appKey, payload)) == tartanSignature
}

// bindbeeVerified checks X-Bindbee-Webhook-Signature: hex HMAC-SHA256 of the
// payload with the organisation's signature key.
func bindbeeVerified(key string, payload []byte, signature string) bool {
	return hmac.Equal([]byte(hex.EncodeToString(macOf(sha256.New, key, payload))), []byte(signature))
}

// trutacVerified checks TT-Hook-Signature: "sha1=" + hex HMAC-SHA1 of the body.
func trutacVerified(secret string, body []byte, signature string) bool {
	want := "sha1=" + hex.EncodeToString(macOf(sha1.New, secret, body))
	return hmac.Equal([]byte(want), []byte(signature))
}

// tealVerified checks X-Teal-Signature: hex HMAC-SHA512 of the payload as
// received (the ciphertext when encryption is on).
func tealVerified(signingSecret string, body []byte, signature string) bool {
	want := hex.EncodeToString(macOf(sha512.New, signingSecret, body))
	return hmac.Equal([]byte(want), []byte(signature))
}

// gcmOpen decrypts AES/GCM/NoPadding: sealed is ciphertext‖16-byte tag, no
// additional data. A 32-byte key makes it AES-256.
func gcmOpen(key, iv, sealed []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, iv, sealed, nil)
}

// decryptBody is the decrypting receiver of seed 004: the IV header is base64
// of 12 bytes, the body base64 of ciphertext‖tag. It returns the plaintext and
// the raw IV.
func decryptBody(t *testing.T, key []byte, ivHeader string, body []byte) (plain, iv []byte) {
	t.Helper()
	require.NotEmpty(t, ivHeader, "IV header")
	iv, err := base64.StdEncoding.DecodeString(ivHeader)
	require.NoError(t, err, "IV header must be base64")
	require.Len(t, iv, 12, "GCM IV is 12 bytes")
	sealed, err := base64.StdEncoding.DecodeString(string(body))
	require.NoError(t, err, "encrypted body must be base64")
	require.Greater(t, len(sealed), 16, "ciphertext followed by a 16-byte tag")
	plain, err = gcmOpen(key, iv, sealed)
	require.NoError(t, err, "AES-256-GCM must open the body")
	require.Len(t, plain, len(sealed)-16, "the tag is 16 bytes")

	// The check can fail: a flipped ciphertext bit or another key is refused.
	flipped := bytes.Clone(sealed)
	flipped[0] ^= 0x01
	_, err = gcmOpen(key, iv, flipped)
	require.Error(t, err, "a tampered ciphertext must not open")
	other := bytes.Clone(key)
	other[0] ^= 0x01
	_, err = gcmOpen(other, iv, sealed)
	require.Error(t, err, "another key must not open the body")
	return plain, iv
}

// tampered returns body with one byte changed.
func tampered(body []byte) []byte {
	c := bytes.Clone(body)
	c[len(c)/2] ^= 0x01
	return c
}

// envelope is the event JSON a receiver gets (or decrypts).
type envelope struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	TenantID   string          `json:"tenant_id"`
	OrgID      string          `json:"org_id"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

func decodeEnvelope(t *testing.T, body []byte) envelope {
	t.Helper()
	var ev envelope
	require.NoError(t, json.Unmarshal(body, &ev), string(body))
	return ev
}

// nextAny waits for the next request, pings included (an encrypted body has
// no readable type, so next would not skip its ping).
func (rc *receiver) nextAny(t *testing.T) request {
	t.Helper()
	select {
	case r := <-rc.arrived:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("timed out waiting for a request")
		return request{}
	}
}

// newAESKey returns 32 random bytes and their standard base64, as seed 004
// asks for an encryption_key.
func newAESKey(t *testing.T) ([]byte, string) {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return key, base64.StdEncoding.EncodeToString(key)
}

// requireOneHeader returns the single value of header name.
func requireOneHeader(t *testing.T, h http.Header, name string) string {
	t.Helper()
	vals := h.Values(name)
	require.Len(t, vals, 1, "exactly one %s header, got %q", name, vals)
	require.NotEmpty(t, vals[0], name)
	return vals[0]
}

func TestTartanPresetSignsLikeTheSeedPython(t *testing.T) {
	t.Parallel()
	const appKey = "my_secret_key" // the seed's example app_key
	e := start(t, options{})
	rc := newReceiver(t, nil)
	wh := e.createWebhook(rc.URL, []string{"employee.created"}, map[string]any{
		"signature": map[string]any{"preset": "tartan"}, "secret": appKey,
	})
	require.Equal(t, appKey, wh.Secret, "the app key given is the key that signs")

	ping := rc.nextAny(t)
	require.Equal(t, "webhook.ping", ping.Event.Type)
	require.True(t, tartanVerified(appKey, ping.Body, ping.Header.Get("tartan-signature")), "the ping is signed too")

	id := e.publish(employeeCreated("org_1"))
	got := rc.next(t)
	require.Equal(t, "application/json", got.Header.Get("content-type"))
	sig := requireOneHeader(t, got.Header, "tartan-signature")
	require.True(t, tartanVerified(appKey, got.Body, sig),
		"tartan-signature %q is not hex HMAC-SHA256 of the body with the app key", sig)

	require.Equal(t, id, got.Event.ID)
	require.Equal(t, "employee.created", got.Event.Type)
	require.Equal(t, "org_1", got.Event.OrgID)
	require.JSONEq(t, string(employeeCreated("org_1").Data), string(got.Event.Data))

	// The receiver's check can fail.
	require.False(t, tartanVerified(appKey, tampered(got.Body), sig), "a tampered body must fail")
	require.False(t, tartanVerified("not_my_secret_key", got.Body, sig), "another key must fail")
}

func TestBindbeePresetSignsWithTheIssuedKey(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	// No secret given: the platform issues the signature key, as Bindbee's
	// console does, and the receiver uses it as shown.
	wh := e.createWebhook(rc.URL, []string{"sync.*"}, map[string]any{
		"signature": map[string]any{"preset": "bindbee"},
	})
	key := wh.Secret

	ping := rc.nextAny(t)
	require.Equal(t, "webhook.ping", ping.Event.Type)
	require.True(t, bindbeeVerified(key, ping.Body, ping.Header.Get("X-Bindbee-Webhook-Signature")), "the ping is signed too")

	id := e.publish(syncStarted("org_1"))
	got := rc.next(t)
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	sig := requireOneHeader(t, got.Header, "X-Bindbee-Webhook-Signature")
	require.True(t, bindbeeVerified(key, got.Body, sig),
		"X-Bindbee-Webhook-Signature %q is not hex HMAC-SHA256 of the body with the issued key", sig)
	require.Equal(t, id, got.Event.ID)
	require.Equal(t, "sync.started", got.Event.Type)
	require.JSONEq(t, `{"sync_session_id":"ss_1","hrms":"darwinbox"}`, string(got.Event.Data))

	require.False(t, bindbeeVerified(key, tampered(got.Body), sig), "a tampered body must fail")
	require.False(t, bindbeeVerified(key+"x", got.Body, sig), "another key must fail")
}

func TestTrutacPresetPingsThenSignsWithSHA1(t *testing.T) {
	t.Parallel()
	const secret = "trutac_hook_secret"
	e := start(t, options{})
	rc := newReceiver(t, nil)
	wh := e.createWebhook(rc.URL, []string{"clocking.created"}, map[string]any{
		"signature": map[string]any{"preset": "trutac"}, "secret": secret,
	})

	// "When you create a new webhook, we'll send you a simple ping event."
	ping := rc.nextAny(t)
	require.Equal(t, "webhook.ping", ping.Event.Type, "the first request after creation is the ping")
	require.Equal(t, "webhook.ping", ping.Header.Get("TT-Hook-Event"))
	pingSig := requireOneHeader(t, ping.Header, "TT-Hook-Signature")
	require.True(t, trutacVerified(secret, ping.Body, pingSig), "ping TT-Hook-Signature %q", pingSig)
	var pingData schemas.PingData
	require.NoError(t, json.Unmarshal(ping.Event.Data, &pingData))
	require.Equal(t, wh.ID, pingData.WebhookID)

	// The seed's clocking payload, with the catalog's field names.
	const data = `{"action":"created","clocking":{"id":"CLOCKING-ID-123","driver_id":"DRIVER-ID-123","clocking_timestamp":"2018-01-01T09:01:53","is_clock_in":true}}`
	id := e.publish(&schemas.Event{TenantID: "default", Type: "clocking.created", OrgID: "org_1", Data: json.RawMessage(data)})
	got := rc.next(t)
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.Equal(t, strconv.Itoa(len(got.Body)), got.Header.Get("Content-Length"))
	require.Equal(t, "clocking.created", requireOneHeader(t, got.Header, "TT-Hook-Event"))
	sig := requireOneHeader(t, got.Header, "TT-Hook-Signature")
	require.Regexp(t, `^sha1=[0-9a-f]{40}$`, sig)
	require.True(t, trutacVerified(secret, got.Body, sig),
		"TT-Hook-Signature %q is not sha1= + hex HMAC-SHA1 of the body", sig)
	require.Equal(t, id, got.Event.ID)
	require.Equal(t, "clocking.created", got.Event.Type)
	require.JSONEq(t, data, string(got.Event.Data))

	require.False(t, trutacVerified(secret, tampered(got.Body), sig), "a tampered body must fail")
	require.False(t, trutacVerified("another_secret", got.Body, sig), "another secret must fail")
	e.settle()
	require.Equal(t, 1, rc.count("webhook.ping"), "one ping per creation")
}

func TestTealPresetEncryptsThenSigns(t *testing.T) {
	t.Parallel()
	const signingSecret = "teal_signing_secret"
	e := start(t, options{})
	rc := newReceiver(t, nil)
	key, keyB64 := newAESKey(t)
	wh := e.createWebhook(rc.URL, []string{"payroll.submitted"}, map[string]any{
		"signature": map[string]any{"preset": "teal"}, "secret": signingSecret, "encryption_key": keyB64,
	})

	// The API says the webhook encrypts, and never shows the key or secret.
	var shown map[string]any
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks/"+wh.ID, nil, &shown))
	require.Equal(t, true, shown["encrypted"])
	raw, err := json.Marshal(shown)
	require.NoError(t, err)
	require.NotContains(t, string(raw), keyB64)
	require.NotContains(t, string(raw), signingSecret)

	// receive is the receiver of seed 004: verify the signature over the body
	// as received, then decrypt with the IV header.
	receive := func(r request) (envelope, []byte) {
		t.Helper()
		sig := requireOneHeader(t, r.Header, "X-Teal-Signature")
		require.Regexp(t, `^[0-9a-f]{128}$`, sig, "hex HMAC-SHA512")
		require.True(t, tealVerified(signingSecret, r.Body, sig),
			"X-Teal-Signature %q is not hex HMAC-SHA512 of the body as received", sig)
		require.False(t, tealVerified(signingSecret, tampered(r.Body), sig), "a tampered body must fail")
		require.False(t, tealVerified("another_secret", r.Body, sig), "another secret must fail")
		require.Empty(t, r.Header.Get("webhook-encryption-iv"), "teal's IV travels in X-Teal-Encryption-IV only")
		plain, iv := decryptBody(t, key, requireOneHeader(t, r.Header, "X-Teal-Encryption-IV"), r.Body)
		require.False(t, tealVerified(signingSecret, plain, sig), "encrypt first, then sign: the signature is over the ciphertext")
		require.NotContains(t, string(r.Body), `"type"`, "the body on the wire is not the plaintext")
		return decodeEnvelope(t, plain), iv
	}

	ping, pingIV := receive(rc.nextAny(t))
	require.Equal(t, "webhook.ping", ping.Type, "the ping is encrypted and signed too")

	// From an uploaded payslip: account_id null, document fields set.
	const payslip = `{"payroll_id":"pay_1","user_id":"user_1","account_id":null,"document_external_id":"doc_77","document_filename":"payslip-2026-02.pdf","period_start":"2026-02-01","period_end":"2026-02-28","currency":"EUR","gross_pay":4200.5,"net_pay":3100.25,"submitted_at":"2026-03-14T09:26:53.589Z"}`
	const linked = `{"payroll_id":"pay_2","user_id":"user_2","account_id":"acc_9","currency":"GBP","gross_pay":1000,"net_pay":800}`
	want := map[string]string{
		e.publish(&schemas.Event{TenantID: "default", Type: "payroll.submitted", OrgID: "org_1", Data: json.RawMessage(payslip)}): payslip,
		e.publish(&schemas.Event{TenantID: "default", Type: "payroll.submitted", OrgID: "org_1", Data: json.RawMessage(linked)}):  linked,
	}
	ivs := map[string]bool{string(pingIV): true}
	seen := map[string]bool{}
	for range want {
		ev, iv := receive(rc.nextAny(t))
		require.Equal(t, "payroll.submitted", ev.Type)
		require.Equal(t, "default", ev.TenantID)
		require.Equal(t, "org_1", ev.OrgID)
		data, ok := want[ev.ID]
		require.True(t, ok, "unexpected event %s", ev.ID)
		require.False(t, seen[ev.ID], "event %s delivered twice", ev.ID)
		seen[ev.ID] = true
		require.JSONEq(t, data, string(ev.Data), "account_id null stays null, not absent")
		require.False(t, ivs[string(iv)], "every request has a fresh IV")
		ivs[string(iv)] = true
	}
	require.Len(t, seen, 2)
}

func TestThinEventWhenIncludePayloadIsFalse(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	thin, full := newReceiver(t, nil), newReceiver(t, nil)
	thinHook := e.createWebhook(thin.URL, []string{"sync.*"}, map[string]any{"include_payload": false})
	e.createWebhook(full.URL, []string{"sync.*"}, map[string]any{"include_payload": true})
	verifier, err := standardwebhooks.NewWebhook(thinHook.Secret)
	require.NoError(t, err)

	at := time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)
	ev := syncStarted("org_1")
	ev.OccurredAt = at
	ev.Data = json.RawMessage(`{"sync_session_id":"ss_1","hrms":"darwinbox","record_count":3}`)
	id := e.publish(ev)

	got := thin.next(t)
	require.NoError(t, verifier.Verify(got.Body, got.Header), "the thin event is signed")
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(got.Body, &fields), string(got.Body))
	require.Equal(t, []string{"data", "id", "occurred_at", "org_id", "tenant_id", "type"}, slices.Sorted(maps.Keys(fields)),
		"the envelope: %s", got.Body)
	require.JSONEq(t, `{"sync_session_id":"ss_1","hrms":"darwinbox"}`, string(fields["data"]),
		"the data's identifying fields only")
	env := decodeEnvelope(t, got.Body)
	require.Equal(t, id, env.ID)
	require.Equal(t, "sync.started", env.Type)
	require.Equal(t, "default", env.TenantID)
	require.Equal(t, "org_1", env.OrgID)
	require.True(t, at.Equal(env.OccurredAt), "occurred_at %s, want %s", env.OccurredAt, at)

	// The same event to a webhook that includes the payload carries data:
	// the flag, not the event, left it out.
	f := full.next(t)
	require.Equal(t, id, f.Event.ID)
	require.JSONEq(t, `{"sync_session_id":"ss_1","hrms":"darwinbox","record_count":3}`, string(f.Event.Data))
}

func TestEncryptionWithStandardPresetSignsTheCiphertext(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	key, keyB64 := newAESKey(t)
	wh := e.createWebhook(rc.URL, []string{"sync.started"}, map[string]any{"encryption_key": keyB64})
	verifier, err := standardwebhooks.NewWebhook(wh.Secret)
	require.NoError(t, err)

	receive := func(r request) (envelope, []byte) {
		t.Helper()
		require.NoError(t, verifier.Verify(r.Body, r.Header), "the reference library must accept the signature over the encrypted body")
		require.Error(t, verifier.Verify(tampered(r.Body), r.Header), "a tampered body must fail")
		require.Empty(t, r.Header.Get("X-Teal-Encryption-IV"), "only teal uses X-Teal-Encryption-IV")
		plain, iv := decryptBody(t, key, requireOneHeader(t, r.Header, "webhook-encryption-iv"), r.Body)
		require.Error(t, verifier.Verify(plain, r.Header), "encrypt first, then sign: the plaintext is not what was signed")
		return decodeEnvelope(t, plain), iv
	}

	ping, pingIV := receive(rc.nextAny(t))
	require.Equal(t, "webhook.ping", ping.Type)

	id := e.publish(syncStarted("org_1"))
	got := rc.nextAny(t)
	ev, iv := receive(got)
	require.Equal(t, id, ev.ID)
	require.Equal(t, "sync.started", ev.Type)
	require.Equal(t, "org_1", ev.OrgID)
	require.JSONEq(t, `{"sync_session_id":"ss_1","hrms":"darwinbox"}`, string(ev.Data))
	require.Equal(t, schemas.DeliveryID(id, wh.ID), got.Header.Get("webhook-id"))
	require.NotEqual(t, pingIV, iv, "every request has a fresh IV")
}

func TestExplicitSignatureOptionsVerifyByHand(t *testing.T) {
	t.Parallel()
	const secret = "explicit_secret_key"
	e := start(t, options{})
	rc := newReceiver(t, nil)
	e.createWebhook(rc.URL, []string{"employee.*"}, map[string]any{
		"signature": map[string]any{"algorithm": "sha512", "encoding": "base64", "header": "X-My-Sig", "prefix": "v1="},
		"secret":    secret,
	})
	verified := func(body []byte, sig string) bool {
		want := "v1=" + base64.StdEncoding.EncodeToString(macOf(sha512.New, secret, body))
		return hmac.Equal([]byte(want), []byte(sig))
	}

	ping := rc.nextAny(t)
	require.Equal(t, "webhook.ping", ping.Event.Type)
	require.True(t, verified(ping.Body, ping.Header.Get("X-My-Sig")), "the ping is signed too")

	id := e.publish(employeeCreated("org_1"))
	got := rc.next(t)
	sig := requireOneHeader(t, got.Header, "X-My-Sig")
	require.Len(t, sig, len("v1=")+88, "v1= + base64 of 64 bytes")
	require.True(t, verified(got.Body, sig), "X-My-Sig %q is not v1= + base64 HMAC-SHA512 of the body", sig)
	require.Equal(t, id, got.Event.ID)
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))

	require.False(t, verified(tampered(got.Body), sig), "a tampered body must fail")
	hexSig := "v1=" + hex.EncodeToString(macOf(sha512.New, secret, got.Body))
	require.NotEqual(t, hexSig, sig, "base64, not hex")
}

func TestInvalidEncryptionKeyIsRefused(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	b64 := func(n int) string {
		b := make([]byte, n)
		_, err := rand.Read(b)
		require.NoError(t, err)
		return base64.StdEncoding.EncodeToString(b)
	}
	cases := map[string]string{
		"31 bytes":             b64(31),
		"33 bytes":             b64(33),
		"16 bytes (AES-128)":   b64(16),
		"not base64":           "not base64!!",
		"32 bytes hex encoded": hex.EncodeToString(make([]byte, 32)),
	}
	for name, key := range cases {
		t.Run(name, func(t *testing.T) {
			var out struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
					Field   string `json:"field"`
				} `json:"error"`
			}
			code := e.call(http.MethodPost, "/v1/webhooks", map[string]any{
				"name": "test", "url": rc.URL, "events": []string{"payroll.submitted"},
				"signature": map[string]any{"preset": "teal"}, "secret": "teal_signing_secret", "encryption_key": key,
			}, &out)
			require.Equal(t, http.StatusBadRequest, code)
			require.Equal(t, "invalid_request", out.Error.Code)
			require.Equal(t, "encryption_key", out.Error.Field)
			require.NotEmpty(t, out.Error.Message)
			require.NotContains(t, out.Error.Message, key, "the key is not echoed")
		})
	}

	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks", nil, &list))
	require.Empty(t, list.Data, "no webhook was created")
	e.settle()
	rc.mu.Lock()
	sent := len(rc.got)
	rc.mu.Unlock()
	require.Zero(t, sent, "nothing, not even a ping, was sent")

	// The same request with a good key is accepted: the key was the fault.
	// Its ping arrives encrypted under that key.
	key, good := newAESKey(t)
	e.createWebhook(rc.URL, []string{"payroll.submitted"}, map[string]any{
		"signature": map[string]any{"preset": "teal"}, "secret": "teal_signing_secret", "encryption_key": good,
	})
	ping := rc.nextAny(t)
	require.True(t, tealVerified("teal_signing_secret", ping.Body, ping.Header.Get("X-Teal-Signature")))
	plain, _ := decryptBody(t, key, ping.Header.Get("X-Teal-Encryption-IV"), ping.Body)
	require.Equal(t, "webhook.ping", decodeEnvelope(t, plain).Type)
}
