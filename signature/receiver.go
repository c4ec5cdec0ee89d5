package signature

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ReceiverConfig describes what a receiving application knows about its
// webhook: the scheme, its secrets and, when deliveries are encrypted, the key.
type ReceiverConfig struct {
	// Scheme is the webhook's signature configuration. Optional; the zero
	// value is Standard Webhooks.
	Scheme Config
	// Secrets are the signing secrets to accept. Required. During a rotation
	// list both the new and the old secret: a request verifies if any
	// signature in it matches any of them.
	Secrets []string
	// EncryptionKey is the base64 32-byte key of an encrypted webhook.
	// Optional; when set, bodies are decrypted after they are verified.
	EncryptionKey string
	// Tolerance is how far a Standard Webhooks timestamp may be from now.
	// Optional; default DefaultTolerance.
	Tolerance time.Duration
	// MaxBodyBytes bounds the body ReadRequest reads. Optional; default 1 MiB.
	MaxBodyBytes int64
	// Now returns the current time. Optional; default time.Now.
	Now func() time.Time
}

// Receiver verifies (and decrypts) webhooks on the receiving side with the
// same code that signs them in Hookstream's sender. It is safe for
// concurrent use.
type Receiver struct {
	signer    *Signer
	cipher    *Cipher
	secrets   []string
	tolerance time.Duration
	maxBody   int64
	now       func() time.Time
}

// NewReceiver checks cfg and returns a Receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	signer, err := New(cfg.Scheme)
	if err != nil {
		return nil, err
	}
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret", ErrSecret)
	}
	for _, sec := range cfg.Secrets {
		if err := signer.CheckSecret(sec); err != nil {
			return nil, err
		}
	}
	r := &Receiver{signer: signer, secrets: cfg.Secrets, tolerance: cfg.Tolerance, maxBody: cfg.MaxBodyBytes, now: cfg.Now}
	if cfg.EncryptionKey != "" {
		if r.cipher, err = NewCipher(cfg.EncryptionKey); err != nil {
			return nil, err
		}
	}
	if r.tolerance <= 0 {
		r.tolerance = DefaultTolerance
	}
	if r.maxBody <= 0 {
		r.maxBody = 1 << 20
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// ErrTooLarge means a request body exceeds ReceiverConfig.MaxBodyBytes.
var ErrTooLarge = errors.New("signature: body too large")

// Open verifies the signature of body (exactly as received) and returns the
// payload: body itself, or its decryption when the receiver has an
// encryption key. The signature covers the body as sent, so an encrypted
// body is verified before it is decrypted.
func (r *Receiver) Open(h http.Header, body []byte) ([]byte, error) {
	if err := r.signer.verify(h, body, r.now(), r.tolerance, r.secrets); err != nil {
		return nil, err
	}
	if r.cipher == nil {
		return body, nil
	}
	iv := h.Get(IVHeader(r.signer.Preset()))
	if iv == "" {
		return nil, fmt.Errorf("%w: %s", ErrMissingHeader, IVHeader(r.signer.Preset()))
	}
	return r.cipher.Decrypt(body, iv)
}

// ReadRequest reads req's body (up to MaxBodyBytes) and opens it.
func (r *Receiver) ReadRequest(req *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(req.Body, r.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("signature: read body: %w", err)
	}
	if int64(len(body)) > r.maxBody {
		return nil, ErrTooLarge
	}
	return r.Open(req.Header, body)
}
