package signature_test

import (
	"net/http"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/signature"
)

// Known answers computed outside Go (Python's hmac module) for the secret
// "my_secret_key" and this body.
func TestPresetKnownAnswers(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"sync.started"}`)
	cases := []struct {
		preset, header, want string
	}{
		{"tartan", "tartan-signature", "1dd59766b425c39bdb8f79f2fdac31b2ca07715a46466ef36b678884961eeb85"},
		{"bindbee", "X-Bindbee-Webhook-Signature", "1dd59766b425c39bdb8f79f2fdac31b2ca07715a46466ef36b678884961eeb85"},
		{"trutac", "TT-Hook-Signature", "sha1=155c7ca1899a7e3b2da6539bee235cfd8958a020"},
		{"teal", "X-Teal-Signature", "bd2154b084c499a62bbaa4372875f01aee37d40b00f6ae12a6146005f8f08c199a6ade193bd23d7b8e33c1cc547d19bdcf5b5ea6917ba704d829943107c73251"},
	}
	for _, tc := range cases {
		t.Run(tc.preset, func(t *testing.T) {
			t.Parallel()
			s, err := signature.New(signature.Config{Preset: tc.preset})
			require.NoError(t, err)
			h := http.Header{}
			require.NoError(t, s.Sign(h, "msg_1", time.Now(), body, []string{"my_secret_key"}))
			require.Equal(t, tc.want, h.Get(tc.header))
			require.NoError(t, s.Verify(h, body, time.Now(), "other_secret", "my_secret_key"))
			require.ErrorIs(t, s.Verify(h, append(body, ' '), time.Now(), "my_secret_key"), signature.ErrNoMatch)
			require.ErrorIs(t, s.Verify(http.Header{}, body, time.Now(), "my_secret_key"), signature.ErrMissingHeader)
		})
	}
}

// Explicit options, each against a value computed independently (Python's
// hmac over the same body and key).
func TestExplicitOptionsKnownAnswers(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"sync.started"}`)
	cases := []struct {
		cfg  signature.Config
		want string
	}{
		{signature.Config{Algorithm: "sha1", Encoding: "base64", Header: "X-Sig"}, "FVx8oYmafjstplOb7iNc/YlYoCA="},
		{signature.Config{Algorithm: "sha256", Encoding: "base64", Header: "X-Sig", Prefix: "v1="}, "v1=HdWXZrQlw5vbj3ny/awxssoHcVpGRm7za2eIhJYe64U="},
		{signature.Config{Algorithm: "sha512", Encoding: "base64", Header: "X-Sig"}, "vSFUsITEmaYruqQ3KHXwGu431AsA9q4SphRgBfjwjBmaat4ZO9I9e44zwcxUfRm9z1teppF7pwTYKZQxB8cyUQ=="},
		{signature.Config{Header: "X-Sig", Prefix: "sha256="}, "sha256=1dd59766b425c39bdb8f79f2fdac31b2ca07715a46466ef36b678884961eeb85"},
	}
	for _, tc := range cases {
		t.Run(tc.cfg.Algorithm+"/"+tc.cfg.Encoding, func(t *testing.T) {
			t.Parallel()
			s, err := signature.New(tc.cfg)
			require.NoError(t, err)
			h := http.Header{}
			require.NoError(t, s.Sign(h, "msg_1", time.Now(), body, []string{"my_secret_key"}))
			require.Equal(t, tc.want, h.Get("X-Sig"))
			require.NoError(t, s.Verify(h, body, time.Now(), "my_secret_key"))
		})
	}
}

// The example of the Standard Webhooks specification.
func TestStandardKnownAnswer(t *testing.T) {
	t.Parallel()
	s, err := signature.New(signature.Config{})
	require.NoError(t, err)
	require.True(t, s.Standard())
	ts := time.Unix(1614265330, 0)
	h := http.Header{}
	body := []byte(`{"test": 2432232314}`)
	require.NoError(t, s.Sign(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body, []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", h.Get("webhook-signature"))
	require.Equal(t, "1614265330", h.Get("webhook-timestamp"))
	require.Equal(t, "msg_p5jXN8AQM9LWM0D4loKWxJek", h.Get("webhook-id"))
	require.NoError(t, s.Verify(h, body, ts.Add(time.Minute), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	require.ErrorIs(t, s.Verify(h, body, ts.Add(time.Hour), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), signature.ErrTimestamp)
}

func TestStandardRotationSignsWithEverySecret(t *testing.T) {
	t.Parallel()
	s, err := signature.New(signature.Config{Preset: "standard"})
	require.NoError(t, err)
	oldSecret, newSecret := s.NewSecret(), s.NewSecret()
	h := http.Header{}
	body := []byte(`{"a":1}`)
	now := time.Now()
	require.NoError(t, s.Sign(h, "msg_1", now, body, []string{newSecret, oldSecret}))
	for _, sec := range []string{oldSecret, newSecret} {
		ref, err := standardwebhooks.NewWebhook(sec)
		require.NoError(t, err)
		require.NoError(t, ref.Verify(body, h), "reference library accepts each secret")
		require.NoError(t, s.Verify(h, body, now, sec))
	}
	require.ErrorIs(t, s.Verify(h, body, now, s.NewSecret()), signature.ErrNoMatch)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []signature.Config{
		{Preset: "nope"},
		{Algorithm: "md5", Header: "X-Sig"},
		{Algorithm: "sha256", Encoding: "base32", Header: "X-Sig"},
		{Algorithm: "sha256", Header: "bad header"},
	} {
		_, err := signature.New(cfg)
		require.ErrorIs(t, err, signature.ErrConfig, "%+v", cfg)
	}
	s, err := signature.New(signature.Config{Algorithm: "sha512", Encoding: "base64", Header: "X-Sig", Prefix: "v="})
	require.NoError(t, err)
	h := http.Header{}
	require.NoError(t, s.Sign(h, "m", time.Now(), []byte("x"), []string{"secret-123"}))
	require.Regexp(t, `^v=[A-Za-z0-9+/]{86}==$`, h.Get("X-Sig"))

	std, _ := signature.New(signature.Config{})
	require.ErrorIs(t, std.CheckSecret("not-whsec"), signature.ErrSecret)
	require.ErrorIs(t, std.CheckSecret("whsec_!!!"), signature.ErrSecret)
	require.NoError(t, std.CheckSecret(std.NewSecret()))
}

func BenchmarkSign(b *testing.B) {
	body := make([]byte, 1024)
	for _, preset := range []string{"standard", "tartan", "trutac", "teal"} {
		b.Run(preset, func(b *testing.B) {
			s, _ := signature.New(signature.Config{Preset: preset})
			secrets := []string{s.NewSecret()}
			h := http.Header{}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Sign(h, "msg_1", now, body, secrets)
			}
		})
	}
}

func BenchmarkEncrypt(b *testing.B) {
	c, err := signature.NewCipher("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	require.NoError(b, err)
	body := make([]byte, 1024)
	var dst []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _, err = c.Encrypt(dst[:0], body)
		if err != nil {
			b.Fatal(err)
		}
	}
}
