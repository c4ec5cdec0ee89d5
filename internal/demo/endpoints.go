package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hookstream/hookstream/signature"
)

// endpoint is an HTTP server on a loopback port.
type endpoint struct {
	url  string
	srv  *http.Server
	done chan struct{}
}

func listen(ctx context.Context, h http.Handler) (*endpoint, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	e := &endpoint{url: "http://" + ln.Addr().String(), done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(e.done)
		_ = e.srv.Serve(ln) // http.ErrServerClosed after close
	}()
	return e, nil
}

// close stops the server, letting requests in flight finish (briefly).
func (e *endpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		_ = e.srv.Close()
	}
	<-e.done
}

// receiver is the sample receiver: it verifies each delivery's signature as
// a customer's endpoint would, answers 200, and logs nothing but rejections.
type receiver struct {
	*endpoint
	d   *Demo
	mu  sync.Mutex
	rcv *signature.Receiver
}

func (d *Demo) startReceiver(ctx context.Context) (*receiver, error) {
	r := &receiver{d: d}
	e, err := listen(ctx, http.HandlerFunc(r.serve))
	if err != nil {
		return nil, err
	}
	r.endpoint = e
	return r, nil
}

// setSecret sets the scheme and secret deliveries are verified with.
func (r *receiver) setSecret(scheme signature.Config, secret string) error {
	rcv, err := signature.NewReceiver(signature.ReceiverConfig{Scheme: scheme, Secrets: []string{secret}})
	if err != nil {
		return fmt.Errorf("demo: receiver: %w", err)
	}
	r.mu.Lock()
	r.rcv = rcv
	r.mu.Unlock()
	return nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	rcv := r.rcv
	r.mu.Unlock()
	typ := req.Header.Get("webhook-event-type")
	if rcv == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if _, err := rcv.Open(req.Header, body); err != nil {
		n := r.d.count(func(c *Counts) int { c.Rejected++; return c.Rejected })
		if n == 1 || n%100 == 0 {
			// Someone rotated the secret or changed the scheme in the console.
			r.d.logger.Warn("demo receiver: signature rejected", "event_type", typ, "rejected", n, "err", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"signature did not verify"}`)
		return
	}
	r.d.count(func(c *Counts) int { c.Verified++; c.Types[typ]++; return c.Verified })
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true,"verified":true}`)
}

// startFailing starts the endpoint that answers every request with 503, so
// its deliveries are retried and end in the dead letters.
func startFailing(ctx context.Context, d *Demo) (*endpoint, error) {
	return listen(ctx, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 8<<20))
		d.count(func(c *Counts) int { c.Failed++; return c.Failed })
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"the demo's failing endpoint is always unavailable"}`)
	}))
}

// count changes the counts under the lock and returns what fn returns.
func (d *Demo) count(fn func(*Counts) int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fn(&d.counts)
}
