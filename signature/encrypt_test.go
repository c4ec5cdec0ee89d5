package signature_test

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/signature"
)

func TestEncryptDecryptAndIndependentOpen(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	keyB64 := base64.StdEncoding.EncodeToString(key)
	c, err := signature.NewCipher(keyB64)
	require.NoError(t, err)
	plain := []byte(`{"type":"payroll.submitted"}`)
	body, iv, err := c.Encrypt(nil, plain)
	require.NoError(t, err)
	body2, iv2, err := c.Encrypt(nil, plain)
	require.NoError(t, err)
	require.NotEqual(t, iv, iv2, "fresh IV per message")
	require.NotEqual(t, body, body2)

	// Opened by hand with the standard library, as a receiver would.
	ivRaw, err := base64.StdEncoding.DecodeString(iv)
	require.NoError(t, err)
	require.Len(t, ivRaw, 12)
	sealed, err := base64.StdEncoding.DecodeString(string(body))
	require.NoError(t, err)
	require.Len(t, sealed, len(plain)+16, "ciphertext then 16-byte tag")
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	opened, err := gcm.Open(nil, ivRaw, sealed, nil)
	require.NoError(t, err)
	require.Equal(t, plain, opened)

	got, err := c.Decrypt(body, iv)
	require.NoError(t, err)
	require.Equal(t, plain, got)
	body[3] ^= 1
	_, err = c.Decrypt(body, iv)
	require.Error(t, err)
}

func TestCipherKeyValidation(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 31)), base64.StdEncoding.EncodeToString(make([]byte, 33))} {
		_, err := signature.NewCipher(k)
		require.ErrorIs(t, err, signature.ErrKey, k)
	}
	require.Equal(t, "X-Teal-Encryption-IV", signature.IVHeader("teal"))
	require.Equal(t, "webhook-encryption-iv", signature.IVHeader("standard"))
}
