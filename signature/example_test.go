package signature_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/hookstream/hookstream/signature"
)

// A receiver of the default scheme, Standard Webhooks, verifying a request.
func ExampleReceiver() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sentAt := time.Unix(1614265330, 0)

	// What Hookstream's sender does.
	body := `{"test": 2432232314}`
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
	signer, _ := signature.New(signature.Config{})
	_ = signer.Sign(req.Header, "msg_p5jXN8AQM9LWM0D4loKWxJek", sentAt, []byte(body), []string{secret})
	fmt.Println(req.Header.Get("webhook-signature"))

	// What the receiving application does.
	rcv, err := signature.NewReceiver(signature.ReceiverConfig{
		Secrets: []string{secret},
		Now:     func() time.Time { return sentAt.Add(time.Second) },
	})
	if err != nil {
		panic(err)
	}
	payload, err := rcv.ReadRequest(req)
	fmt.Println(string(payload), err)
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// {"test": 2432232314} <nil>
}

// A teal receiver: the body is encrypted, then signed with HMAC-SHA512 as
// sent, so it is verified first and decrypted after.
func ExampleReceiver_encrypted() {
	const (
		secret = "mysecret"
		key    = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
	)
	plain := []byte(`{"type":"payroll.submitted","data":{"payroll_id":"pay_1","user_id":"u_1"}}`)

	// What Hookstream's sender does.
	c, _ := signature.NewCipher(key)
	body, iv, _ := c.Encrypt(nil, plain)
	h := http.Header{}
	h.Set(signature.IVHeader("teal"), iv)
	signer, _ := signature.New(signature.Config{Preset: "teal"})
	_ = signer.Sign(h, "msg_1", time.Now(), body, []string{secret})

	// What the receiving application does.
	rcv, _ := signature.NewReceiver(signature.ReceiverConfig{
		Scheme:        signature.Config{Preset: "teal"},
		Secrets:       []string{secret},
		EncryptionKey: key,
	})
	payload, err := rcv.Open(h, body)
	fmt.Println(string(payload), err)

	// A tampered body fails before anything is decrypted.
	body[0] ^= 1
	_, err = rcv.Open(h, body)
	fmt.Println(err)
	// Output:
	// {"type":"payroll.submitted","data":{"payroll_id":"pay_1","user_id":"u_1"}} <nil>
	// signature: no matching signature
}

// During a secret rotation a single-signature scheme (here trutac) is signed
// with the newest secret; a receiver that lists both secrets accepts requests
// signed with either.
func ExampleReceiver_rotation() {
	oldSecret, newSecret := "old-secret-123", "new-secret-456"
	body := []byte(`{"action":"created","clocking":{"id":"CLOCKING-ID-123","is_clock_in":true}}`)
	signer, _ := signature.New(signature.Config{Preset: "trutac"})

	rcv, _ := signature.NewReceiver(signature.ReceiverConfig{
		Scheme:  signature.Config{Preset: "trutac"},
		Secrets: []string{newSecret, oldSecret},
	})
	for _, sec := range []string{oldSecret, newSecret, "someone-else"} {
		h := http.Header{}
		_ = signer.Sign(h, "msg_1", time.Now(), body, []string{sec})
		_, err := rcv.Open(h, body)
		fmt.Printf("signed with %s: %v\n", sec, err)
	}
	// Output:
	// signed with old-secret-123: <nil>
	// signed with new-secret-456: <nil>
	// signed with someone-else: signature: no matching signature
}
