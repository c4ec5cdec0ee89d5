package sender

import (
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// The delivery log's batching: a sender writes the attempts it made to one
// webhook within attemptLogLinger as one ATTEMPTS message (at most
// maxLoggedTogether of them, or maxLogMessage bytes). One message per
// attempt was a third of the messages a one-to-one delivery stored and
// about 12 % of its CPU (docs/BENCHMARKS.md); this way a busy webhook's log
// takes about ten messages a second.
const (
	attemptLogLinger  = 100 * time.Millisecond
	maxLoggedTogether = 64
	maxLogMessage     = 32 << 10
	// logFlushWait bounds how long a stopping sender waits for its last
	// log writes to be confirmed (milliseconds when NATS is reachable).
	logFlushWait = 2 * time.Second
)

// attemptLog gathers attempts by webhook and writes each webhook's as one
// ATTEMPTS message when it is full or every attemptLogLinger: Marshal'd
// attempts back to back, which schemas.UnmarshalAttempts reads (a message
// of one attempt, as LogAttempt writes, is the same format).
//
// The log is written asynchronously, as it was one message at a time:
// nothing waits for it, so an attempt costs no round trip, and a write that
// fails is logged by the broker's asynchronous error handler. A sender that
// stops flushes what it holds and waits for the writes (Run); one that
// crashes loses at most the last attemptLogLinger of its attempts from the
// log, never a delivery.
type attemptLog struct {
	js     jetstream.JetStream
	logger *slog.Logger
	linger time.Duration // attemptLogLinger; longer in tests

	mu   sync.Mutex
	open map[string]*loggedTogether // by subject
	bufs sync.Pool                  // *[]byte, an attempt being encoded
}

// loggedTogether is one webhook's attempts waiting to be written.
type loggedTogether struct {
	data []byte
	n    int
}

func newAttemptLog(js jetstream.JetStream, logger *slog.Logger) *attemptLog {
	return &attemptLog{js: js, logger: logger, linger: attemptLogLinger, open: make(map[string]*loggedTogether),
		bufs: sync.Pool{New: func() any { return new([]byte) }}}
}

// add logs a: it joins its webhook's open message, which is written now if
// that fills it.
func (l *attemptLog) add(a *schemas.Attempt) {
	buf := l.bufs.Get().(*[]byte)
	defer l.bufs.Put(buf)
	var err error
	*buf, err = schemas.Marshal((*buf)[:0], a)
	if err != nil {
		l.logger.Warn("attempt not logged", "delivery_id", a.DeliveryID, "err", err)
		return
	}
	subject := broker.AttemptSubject(a.TenantID, a.WebhookID)
	// Writes happen under the lock, so a webhook's messages are stored in
	// the order their attempts were added. A write only queues the message
	// on the connection.
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.open[subject]
	if b != nil && len(b.data)+len(*buf) > maxLogMessage {
		l.write(subject, b) // no room: write it, and start another
		b = nil
	}
	if b == nil {
		b = &loggedTogether{data: make([]byte, 0, min(8*len(*buf), maxLogMessage))}
		l.open[subject] = b
	}
	b.data = append(b.data, *buf...)
	b.n++
	if b.n >= maxLoggedTogether {
		l.write(subject, b)
	}
}

// flush writes every open message.
func (l *attemptLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for subject, b := range l.open {
		l.write(subject, b)
	}
}

// write publishes b and closes it; it owns b.data from here (the client
// keeps the message until the stream acknowledges it). l.mu is held.
func (l *attemptLog) write(subject string, b *loggedTogether) {
	delete(l.open, subject)
	if _, err := l.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: b.data}); err != nil {
		l.logger.Warn("attempts not logged", "subject", subject, "attempts", b.n, "err", err)
	}
}

// run flushes every l.linger until stop is closed, then flushes once more.
func (l *attemptLog) run(stop <-chan struct{}) {
	t := time.NewTicker(l.linger)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.flush()
		case <-stop:
			l.flush()
			return
		}
	}
}
