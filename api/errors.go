package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Error codes of the JSON error body.
const (
	codeInvalid          = "invalid_request"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeNotFound         = "not_found"
	codeConflict         = "conflict"
	codeTooLarge         = "too_large"
	codeMethodNotAllowed = "method_not_allowed"
	codeTooMany          = "too_many_requests"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal"
)

// Error is the error object of every failed response:
//
//	{"error": {"code": "invalid_request", "message": "...", "field": "url"}}
//
// Handlers return it to answer with its status; any other error they return
// is an internal error.
type Error struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Code is a stable machine-readable code, such as "invalid_request".
	Code string `json:"code"`
	// Message is a human-readable explanation; it never holds a secret.
	Message string `json:"message"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// Position is where in a transform or filter the fault is, when it
	// is one that does not compile.
	Position *Position `json:"position,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Code + ": " + e.Field + ": " + e.Message
	}
	return e.Code + ": " + e.Message
}

// errorResponse is the body of every error answer.
type errorResponse struct {
	Error *Error `json:"error"`
}

// invalid is a 400 naming the field at fault.
func invalid(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: what + " not found"}
}

func tooLarge(message string) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge, Message: message}
}

var (
	errInternal    = &Error{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal error"}
	errUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "JetStream is unavailable, try again"}
)

// unavailable reports whether err means NATS could not be reached in time,
// which is worth a 503 (retry later) rather than a 500.
func unavailable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionDraining) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own response types get here; they always encode.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, errorResponse{Error: e})
}

// decodeJSON decodes the request body, a single JSON object, into dst,
// refusing unknown fields, trailing data and bodies over the size limit
// (the caller wraps r.Body in http.MaxBytesReader). Its errors are *Error
// and say what is wrong.
func decodeJSON(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return jsonError(err)
		}
		return invalid("", "malformed JSON: unexpected data after the JSON object")
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for routes whose body may be empty: an
// empty body leaves dst as it is.
func decodeOptionalJSON(r *http.Request, dst any) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return nil
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	return decodeJSON(r, dst)
}

func jsonError(err error) *Error {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		unknown = "json: unknown field "
	)
	switch {
	case errors.As(err, &tooBig):
		return tooLarge(fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit))
	case errors.Is(err, io.EOF):
		return invalid("", "request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "malformed JSON: unexpected end of input")
	case errors.As(err, &syntax):
		return invalid("", "malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid("", "the request body must be a JSON object, not %s", typ.Value)
		}
		return invalid(typ.Field, "must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), unknown):
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), unknown))
		if uerr != nil {
			name = strings.TrimPrefix(err.Error(), unknown)
		}
		return invalid(name, "unknown field %q", name)
	default:
		return invalid("", "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	default:
		return "a " + kind
	}
}
