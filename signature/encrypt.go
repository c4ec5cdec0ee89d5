package signature

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// Encryption-IV header names: teal's, and the one every other preset uses.
const (
	HeaderTealIV = "X-Teal-Encryption-IV"
	HeaderIV     = "webhook-encryption-iv"
)

// IVHeader returns the header that carries the IV for a preset.
func IVHeader(preset string) string {
	if preset == "teal" {
		return HeaderTealIV
	}
	return HeaderIV
}

// ErrKey means an encryption key is not base64 of exactly 32 bytes.
var ErrKey = errors.New("signature: encryption key must be base64 of exactly 32 bytes")

// Cipher encrypts webhook bodies with AES-256-GCM, as Java's
// AES/GCM/NoPadding and Go's cipher.AEAD do: a fresh 12-byte IV per message,
// body = base64(ciphertext ‖ 16-byte tag). It is safe for concurrent use.
type Cipher struct {
	aead cipher.AEAD
}

// NewCipher parses a base64 (standard encoding) 32-byte key.
func NewCipher(keyB64 string) (*Cipher, error) {
	key, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil || len(key) != 32 {
		return nil, ErrKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return &Cipher{aead: aead}, nil
}

// Encrypt appends base64(ciphertext‖tag) of plaintext to dst and returns it
// with the base64 IV to send in the IV header.
func (c *Cipher) Encrypt(dst, plaintext []byte) (body []byte, ivB64 string, err error) {
	iv := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return nil, "", fmt.Errorf("signature: iv: %w", err)
	}
	sealed := c.aead.Seal(nil, iv, plaintext, nil)
	n := base64.StdEncoding.EncodedLen(len(sealed))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	base64.StdEncoding.Encode(dst[start:], sealed)
	return dst, base64.StdEncoding.EncodeToString(iv), nil
}

// Decrypt reverses Encrypt: body is base64(ciphertext‖tag), ivB64 the IV header.
func (c *Cipher) Decrypt(body []byte, ivB64 string) ([]byte, error) {
	iv, err := base64.StdEncoding.DecodeString(ivB64)
	if err != nil || len(iv) != c.aead.NonceSize() {
		return nil, errors.New("signature: IV header must be base64 of 12 bytes")
	}
	sealed := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Decode(sealed, body)
	if err != nil {
		return nil, errors.New("signature: body is not base64")
	}
	plain, err := c.aead.Open(nil, iv, sealed[:n], nil)
	if err != nil {
		return nil, errors.New("signature: decryption failed (wrong key or tampered body)")
	}
	return plain, nil
}
