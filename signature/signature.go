package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // trutac's documented scheme is HMAC-SHA1
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every Standard Webhooks secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a Standard Webhooks timestamp may be from now.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify and New.
var (
	// ErrMissingHeader means the request lacks a signature header.
	ErrMissingHeader = errors.New("signature: missing header")
	// ErrNoMatch means no signature in the request matches any secret.
	ErrNoMatch = errors.New("signature: no matching signature")
	// ErrTimestamp means the Standard Webhooks timestamp is outside the tolerance.
	ErrTimestamp = errors.New("signature: timestamp outside tolerance")
	// ErrConfig means the signature configuration is invalid.
	ErrConfig = errors.New("signature: invalid configuration")
	// ErrSecret means a secret is malformed (a Standard Webhooks secret must be whsec_ + base64).
	ErrSecret = errors.New("signature: malformed secret")
)

// Config chooses a scheme: a Preset name, or the explicit options of an HMAC
// over the body. It has the fields (and JSON names) of a webhook's
// "signature" object, so schemas.SignatureConfig converts to it directly.
type Config struct {
	// Preset is "standard", "tartan", "bindbee", "trutac" or "teal". Empty
	// with no explicit options means "standard".
	Preset string `json:"preset,omitempty"`
	// Algorithm is sha1, sha256 (default) or sha512.
	Algorithm string `json:"algorithm,omitempty"`
	// Encoding of the MAC: hex (default) or base64.
	Encoding string `json:"encoding,omitempty"`
	// Header carries the signature.
	Header string `json:"header,omitempty"`
	// Prefix is written before the encoded MAC, such as "sha1=".
	Prefix string `json:"prefix,omitempty"`
}

// Presets maps each preset name to its configuration. "standard" is the
// Standard Webhooks scheme; the others are HMACs over the body as sent.
var Presets = map[string]Config{
	"standard": {Preset: "standard"},
	"tartan":   {Algorithm: "sha256", Encoding: "hex", Header: "tartan-signature"},
	"bindbee":  {Algorithm: "sha256", Encoding: "hex", Header: "X-Bindbee-Webhook-Signature"},
	"trutac":   {Algorithm: "sha1", Encoding: "hex", Header: "TT-Hook-Signature", Prefix: "sha1="},
	"teal":     {Algorithm: "sha512", Encoding: "hex", Header: "X-Teal-Signature"},
}

// Signer signs and verifies with one scheme. It is immutable and safe for
// concurrent use.
type Signer struct {
	preset   string
	standard bool
	newHash  func() hash.Hash
	valueLen int // of the header value: the prefix and the encoded MAC
	hexEnc   bool
	header   string // canonical form
	prefix   string
}

// New returns the signer for cfg: a preset name, or explicit options. The zero
// config is the standard preset.
func New(cfg Config) (*Signer, error) {
	name := cfg.Preset
	if name == "" && cfg.Algorithm == "" && cfg.Header == "" {
		name = "standard"
	}
	if name != "" {
		p, ok := Presets[name]
		if !ok {
			return nil, fmt.Errorf("%w: unknown preset %q", ErrConfig, name)
		}
		if name == "standard" {
			return &Signer{preset: name, standard: true}, nil
		}
		cfg = p
	}
	s := &Signer{preset: name, prefix: cfg.Prefix, header: http.CanonicalHeaderKey(cfg.Header)}
	switch cfg.Algorithm {
	case "sha1":
		s.newHash = sha1.New
	case "sha256", "":
		s.newHash = sha256.New
	case "sha512":
		s.newHash = sha512.New
	default:
		return nil, fmt.Errorf("%w: algorithm %q (want sha1, sha256 or sha512)", ErrConfig, cfg.Algorithm)
	}
	switch cfg.Encoding {
	case "hex", "":
		s.hexEnc = true
	case "base64":
	default:
		return nil, fmt.Errorf("%w: encoding %q (want hex or base64)", ErrConfig, cfg.Encoding)
	}
	size := s.newHash().Size()
	s.valueLen = len(s.prefix) + base64.StdEncoding.EncodedLen(size)
	if s.hexEnc {
		s.valueLen = len(s.prefix) + hex.EncodedLen(size)
	}
	if cfg.Header == "" || strings.ContainsAny(cfg.Header, " :\r\n") {
		return nil, fmt.Errorf("%w: header name %q", ErrConfig, cfg.Header)
	}
	return s, nil
}

// Preset returns the preset name, or "" for explicit options.
func (s *Signer) Preset() string { return s.preset }

// Standard reports whether s is the Standard Webhooks scheme.
func (s *Signer) Standard() bool { return s.standard }

// NewSecret returns a fresh random secret in the form the scheme expects.
func (s *Signer) NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	if s.standard {
		return SecretPrefix + base64.StdEncoding.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

// CheckSecret reports whether secret can be used with the scheme.
func (s *Signer) CheckSecret(secret string) error {
	if s.standard {
		_, err := standardKey(secret)
		return err
	}
	if len(secret) < 8 {
		return fmt.Errorf("%w: at least 8 characters", ErrSecret)
	}
	return nil
}

func standardKey(secret string) ([]byte, error) {
	return appendStandardKey(nil, secret)
}

// appendStandardKey appends the key a whsec_ secret encodes to dst.
func appendStandardKey(dst []byte, secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: must start with %s", ErrSecret, SecretPrefix)
	}
	n := len(dst)
	key, err := base64.StdEncoding.AppendDecode(dst, []byte(raw))
	if err != nil || len(key)-n < 16 || len(key)-n > 64 {
		return nil, fmt.Errorf("%w: %s must be followed by base64 of 16 to 64 bytes", ErrSecret, SecretPrefix)
	}
	return key, nil
}

// Sign sets the signature headers on h for body. msgID and ts are used by the
// Standard Webhooks scheme (and msgID is always sent as webhook-id). Several
// secrets give several signatures where the scheme allows it (Standard
// Webhooks); the HMAC presets carry one value, signed with the first secret.
func (s *Signer) Sign(h http.Header, msgID string, ts time.Time, body []byte, secrets []string) error {
	if len(secrets) == 0 {
		return fmt.Errorf("%w: no secret", ErrSecret)
	}
	if !s.standard {
		sc := scratchPool.Get().(*scratch)
		defer scratchPool.Put(sc)
		sc.key = append(sc.key[:0], secrets[0]...)
		v := append(make([]byte, 0, s.valueLen), s.prefix...)
		h[s.header] = []string{string(s.appendMAC(v, sc, sc.key, body))}
		return nil
	}
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sig := make([]byte, 0, len(secrets)*48)
	for i, sec := range secrets {
		key, err := appendStandardKey(sc.key[:0], sec)
		if err != nil {
			return err
		}
		sc.key = key
		if i > 0 {
			sig = append(sig, ' ')
		}
		sig = append(sig, "v1,"...)
		sig = sc.appendStandardMAC(sig, key, msgID, tsStr, body)
	}
	h["Webhook-Id"] = []string{msgID}
	h["Webhook-Timestamp"] = []string{tsStr}
	h["Webhook-Signature"] = []string{string(sig)}
	return nil
}

func (s *Signer) mac(key, body []byte) string {
	return string(s.appendMAC(nil, new(scratch), key, body))
}

// appendMAC appends the encoded HMAC of body under key to dst.
func (s *Signer) appendMAC(dst []byte, sc *scratch, key, body []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(body)
	sc.buf = m.Sum(sc.buf[:0])
	if s.hexEnc {
		return hex.AppendEncode(dst, sc.buf)
	}
	return base64.StdEncoding.AppendEncode(dst, sc.buf)
}

// scratch holds the bytes of one signature while it is made: the key, the
// signed prefix and the MAC, so that signing allocates little more than the
// HMAC state and the header values.
type scratch struct{ key, buf []byte }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// appendStandardMAC appends the base64 Standard Webhooks MAC of
// msgID.ts.body under key to dst.
func (sc *scratch) appendStandardMAC(dst, key []byte, msgID, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	b := append(sc.buf[:0], msgID...)
	b = append(b, '.')
	b = append(b, ts...)
	b = append(b, '.')
	m.Write(b)
	m.Write(body)
	b = m.Sum(b[:0])
	sc.buf = b
	return base64.StdEncoding.AppendEncode(dst, b)
}

// Verify checks the request's signature against each secret and returns nil
// if any matches, comparing in constant time. For Standard Webhooks it also
// requires the timestamp within DefaultTolerance of now.
func (s *Signer) Verify(h http.Header, body []byte, now time.Time, secrets ...string) error {
	return s.verify(h, body, now, DefaultTolerance, secrets)
}

func (s *Signer) verify(h http.Header, body []byte, now time.Time, tolerance time.Duration, secrets []string) error {
	if !s.standard {
		got := h.Get(s.header)
		if got == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, s.header)
		}
		for _, sec := range secrets {
			if hmac.Equal([]byte(got), []byte(s.prefix+s.mac([]byte(sec), body))) {
				return nil
			}
		}
		return ErrNoMatch
	}
	id, tsStr, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsStr == "" || sigs == "" {
		return fmt.Errorf("%w: %s, %s and %s are required", ErrMissingHeader, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a number", ErrTimestamp, HeaderTimestamp)
	}
	if math.Abs(float64(now.Unix()-ts)) > tolerance.Seconds() {
		return ErrTimestamp
	}
	for _, sec := range secrets {
		key, err := standardKey(sec)
		if err != nil {
			return err
		}
		want := new(scratch).appendStandardMAC(nil, key, id, tsStr, body)
		for _, part := range strings.Fields(sigs) {
			if v, ok := strings.CutPrefix(part, "v1,"); ok && hmac.Equal([]byte(v), want) {
				return nil
			}
		}
	}
	return ErrNoMatch
}
