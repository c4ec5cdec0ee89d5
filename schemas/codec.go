package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ContentTypeJSON is the Content-Type header value that marks a JSON event on
// the events subject; without it the router expects msgpack.
const ContentTypeJSON = "application/json"

type encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var (
	encoders = sync.Pool{New: func() any {
		e := &encoder{}
		e.enc = msgpack.NewEncoder(&e.buf)
		e.enc.UseCompactInts(true)
		return e
	}}
	decoders = sync.Pool{New: func() any {
		d := &decoder{}
		d.dec = msgpack.NewDecoder(&d.r)
		return d
	}}
)

func init() {
	// msgpack decodes timestamps in time.Local; keep every time in UTC so
	// values compare equal after a round trip and render with "Z" in JSON.
	msgpack.Register(time.Time{}, nil, func(d *msgpack.Decoder, v reflect.Value) error {
		tm, err := d.DecodeTime()
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(tm.UTC()))
		return nil
	})
}

// maxPooledBuffer keeps a huge message from pinning its buffer in the pool.
const maxPooledBuffer = 64 << 10

// Marshal encodes v (an Event, Delivery, Attempt, DeadLetter, Webhook or Tenant)
// as msgpack, appending to dst. Pass dst[:0] of a reused buffer to avoid
// allocating.
func Marshal(dst []byte, v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	if err == nil {
		dst = append(dst, e.buf.Bytes()...)
	}
	if e.buf.Cap() <= maxPooledBuffer {
		encoders.Put(e)
	}
	if err != nil {
		return dst, fmt.Errorf("schemas: msgpack encode %T: %w", v, err)
	}
	return dst, nil
}

// Unmarshal decodes msgpack data into v. Decoded byte slices and strings do
// not alias data.
func Unmarshal(data []byte, v any) error {
	d := decoders.Get().(*decoder)
	d.r.Reset(data)
	d.dec.ResetReader(&d.r)
	err := d.dec.Decode(v)
	if err == nil && d.r.Len() != 0 {
		err = fmt.Errorf("%d trailing bytes", d.r.Len())
	}
	d.r.Reset(nil)
	decoders.Put(d)
	if err != nil {
		return fmt.Errorf("schemas: msgpack decode %T: %w", v, err)
	}
	return nil
}

// UnmarshalAttempts decodes a delivery-log message: one or more Attempts,
// each msgpack-encoded with Marshal, back to back (a sender logs a
// webhook's attempts of the last moment in one message). It calls fn with
// each in order and its index in the message, and stops at fn's first error.
func UnmarshalAttempts(data []byte, fn func(i int, a *Attempt) error) error {
	if len(data) == 0 {
		return fmt.Errorf("schemas: msgpack decode %T: empty message", Attempt{})
	}
	d := decoders.Get().(*decoder)
	defer func() {
		d.r.Reset(nil)
		decoders.Put(d)
	}()
	d.r.Reset(data)
	d.dec.ResetReader(&d.r)
	for i := 0; d.r.Len() > 0; i++ {
		var a Attempt
		if err := d.dec.Decode(&a); err != nil {
			return fmt.Errorf("schemas: msgpack decode attempt %d: %w", i, err)
		}
		if err := fn(i, &a); err != nil {
			return err
		}
	}
	return nil
}

// DecodeEvent decodes an event as it arrives on the events subject: JSON when
// contentType is application/json, msgpack otherwise.
func DecodeEvent(data []byte, contentType string, ev *Event) error {
	if contentType == ContentTypeJSON {
		if err := json.Unmarshal(data, ev); err != nil {
			return fmt.Errorf("schemas: json decode event: %w", err)
		}
		return nil
	}
	return Unmarshal(data, ev)
}

// AppendJSON appends ev's JSON body as a receiver gets it. With full false it
// is the thin event of include_payload: false, whose data keeps only the
// identifying fields of its type (EventType.ThinFields), if any.
func AppendJSON(dst []byte, ev *Event, full bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, ev.ID)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, ev.Type)
	dst = append(dst, `,"tenant_id":`...)
	dst = appendJSONString(dst, ev.TenantID)
	dst = append(dst, `,"org_id":`...)
	dst = appendJSONString(dst, ev.OrgID)
	dst = append(dst, `,"occurred_at":"`...)
	dst = ev.OccurredAt.UTC().AppendFormat(dst, "2006-01-02T15:04:05.999999999Z07:00")
	dst = append(dst, '"')
	switch {
	case full && len(ev.Data) > 0:
		dst = append(dst, `,"data":`...)
		dst = append(dst, ev.Data...)
	case !full:
		dst = appendThinData(dst, ev)
	}
	return append(dst, '}')
}

// appendThinData appends `,"data":{...}` with the identifying fields of ev's
// data, or nothing when its type has none or the data holds none of them.
func appendThinData(dst []byte, ev *Event) []byte {
	e, ok := (*catalog.Load())[ev.Type]
	if !ok || len(e.ThinFields) == 0 || len(ev.Data) == 0 {
		return dst
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(ev.Data, &data) != nil {
		return dst
	}
	// Group key.subkey fields under their key, in the order given.
	var keys []string
	subs := map[string][]string{}
	for _, f := range e.ThinFields {
		k, sub, nested := strings.Cut(f, ".")
		if _, seen := subs[k]; !seen {
			keys = append(keys, k)
			subs[k] = nil
		}
		if nested {
			subs[k] = append(subs[k], sub)
		}
	}
	start := len(dst)
	dst = append(dst, `,"data":{`...)
	n := 0
	for _, k := range keys {
		raw, ok := data[k]
		if !ok {
			continue
		}
		if len(subs[k]) > 0 {
			if raw, ok = pick(raw, subs[k]); !ok {
				continue
			}
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = append(dst, raw...)
		n++
	}
	if n == 0 {
		return dst[:start]
	}
	return append(dst, '}')
}

// pick keeps keys of an object, or of each object of an array.
func pick(raw json.RawMessage, keys []string) (json.RawMessage, bool) {
	one := func(raw json.RawMessage) (json.RawMessage, bool) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil, false
		}
		out := []byte{'{'}
		for _, k := range keys {
			if v, ok := obj[k]; ok {
				if len(out) > 1 {
					out = append(out, ',')
				}
				out = appendJSONString(out, k)
				out = append(out, ':')
				out = append(out, v...)
			}
		}
		return append(out, '}'), true
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return one(raw)
	}
	out := []byte{'['}
	for i, it := range items {
		v, ok := one(it)
		if !ok {
			return nil, false
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, v...)
	}
	return append(out, ']'), true
}

// appendJSONString appends s as a JSON string. Ids and types are plain ASCII
// in practice; anything else goes through encoding/json for correct escaping.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
