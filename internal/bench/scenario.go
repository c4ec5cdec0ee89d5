package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/valyala/fasthttp"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
	"github.com/hookstream/hookstream/signature"
)

// Scenarios in the order they run by default.
var Scenarios = []string{"single", "fanout", "fanout-transformed", "blackhole", "encrypted", "latency", "ceiling"}

// Extra are the scenarios run only when named (--scenario): they take
// longer than the others.
var Extra = []string{"backlog"}

// Options size a run.
type Options struct {
	// Scale multiplies the event counts and the latency run's duration
	// (1 = the documented sizes; a smoke test uses 0.01). Optional; default 1.
	Scale float64
	// Workers is the senders' concurrency, and the ceiling's. Optional;
	// default the sender's.
	Workers int
	// Verify makes the receiver check every signature (and decrypt).
	Verify bool
	// Dir holds the JetStream data. Optional; default a temporary directory.
	Dir string
	// Senders is how many sender replicas run, each with its own NATS
	// connection, HTTP client and Workers, as separate processes would.
	// Optional; default 1.
	Senders int
	// MemoryLimit is each run's soft memory limit, as hookstream's
	// --memory-limit takes it ("256MiB", "off"). Run passes it to the child
	// processes; RunOne leaves applying it to its caller.
	MemoryLimit string
}

// Sample is the measurement of one run of a scenario.
type Sample struct {
	Scenario   string  `json:"scenario"`
	Deliveries int     `json:"deliveries"`
	Seconds    float64 `json:"seconds"`
	PerSec     float64 `json:"deliveries_per_sec"`
	CPUMicros  float64 `json:"cpu_us_per_delivery"`
	P50, P95   float64 `json:"-"`
	P99, Max   float64 `json:"-"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// The backlog scenario: the most deliveries waiting in DELIVERIES at
	// once, and the most goroutines in the process (sampled every 100 ms).
	PeakBacklog   uint64 `json:"peak_backlog,omitempty"`
	MaxGoroutines int    `json:"max_goroutines,omitempty"`
	// Senders is how many sender replicas ran, and AttemptsBySender how many
	// attempts each made.
	Senders          int      `json:"senders"`
	AttemptsBySender []uint64 `json:"attempts_by_sender,omitempty"`
	// The healthy webhooks of the blackhole scenario.
	HealthyPerSec float64 `json:"healthy_deliveries_per_sec,omitempty"`
	HealthyP99    float64 `json:"healthy_p99_ms,omitempty"`
	// What the senders did besides delivering: attempts made (a delivery
	// that failed or timed out is attempted again), deliveries sent back
	// unattempted because their endpoint was busy or broken, and retries;
	// and the deliveries the router scheduled for the end of their
	// webhook's hold instead.
	Attempts uint64 `json:"attempts"`
	SentBack uint64 `json:"sent_back"`
	Retried  uint64 `json:"retried"`
	Held     uint64 `json:"held"`
	// Latencies in milliseconds.
	LatencyMS struct {
		P50, P95, P99, Max float64
	} `json:"latency_ms"`
}

type shape struct {
	webhooks, blackholes, events int
	encrypted                    bool
	profile                      string        // every webhook's profile (its transform, names, preset)
	rate                         int           // events/s for a steady run; 0 = as fast as possible
	duration                     time.Duration // of a steady run
	sample                       bool          // sample the backlog and the goroutines
}

func shapeOf(name string, scale float64) (shape, error) {
	n := func(v int) int { return max(1, int(float64(v)*scale)) }
	switch name {
	case "single":
		return shape{webhooks: 1, events: n(100_000)}, nil
	case "fanout":
		return shape{webhooks: 100, events: n(2_000)}, nil
	case "fanout-transformed":
		return shape{webhooks: 100, events: n(2_000), profile: "tartan"}, nil
	case "blackhole":
		return shape{webhooks: 100, blackholes: 10, events: n(2_000)}, nil
	case "encrypted":
		return shape{webhooks: 1, events: n(100_000), encrypted: true}, nil
	case "latency":
		d := time.Duration(float64(30*time.Second) * scale)
		return shape{webhooks: 1, rate: 1000, duration: max(d, 200*time.Millisecond)}, nil
	case "ceiling":
		return shape{events: n(100_000)}, nil
	case "backlog":
		return shape{webhooks: 100, events: n(10_000), sample: true}, nil
	}
	return shape{}, fmt.Errorf("bench: unknown scenario %q (have %s)", name, strings.Join(append(slices.Clone(Scenarios), Extra...), ", "))
}

// RunOne runs one scenario once in this process.
func RunOne(ctx context.Context, name string, o Options) (Sample, error) {
	if o.Scale <= 0 {
		o.Scale = 1
	}
	sh, err := shapeOf(name, o.Scale)
	if err != nil {
		return Sample{}, err
	}
	if name == "ceiling" {
		return runCeiling(ctx, sh, o)
	}
	return runPipeline(ctx, name, sh, o)
}

const (
	benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	benchKey    = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	benchTenant = "bench"
)

// receiver counts deliveries and records publish-to-delivery latency from
// the event id in the webhook-id header.
type receiver struct {
	published []atomic.Int64 // publish time (unix ns) by event number
	lat       []float32      // ms, by arrival
	n         atomic.Int64
	healthy   atomic.Int64
	verify    map[string]*signature.Receiver // by webhook URL path
	bad       atomic.Int64
	lastNS    atomic.Int64
	done      chan struct{}
	want      int64
	closeOnce sync.Once
}

// bodies are the receiver's request buffers, reused as any lean receiver's.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(buf)
	buf.Reset()
	_, err := buf.ReadFrom(r.Body)
	body := buf.Bytes()
	now := time.Now().UnixNano()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if rc.verify != nil {
		if v := rc.verify[r.URL.Path]; v == nil {
			rc.bad.Add(1)
		} else if _, err := v.Open(r.Header, body); err != nil {
			rc.bad.Add(1)
		}
	}
	i := rc.n.Add(1) - 1
	if ev := eventNumber(r.Header.Get("webhook-id")); ev >= 0 && ev < len(rc.published) && int(i) < len(rc.lat) {
		rc.lat[i] = float32(float64(now-rc.published[ev].Load()) / 1e6)
	}
	rc.lastNS.Store(now)
	if rc.healthy.Add(1) == rc.want {
		rc.closeOnce.Do(func() { close(rc.done) })
	}
	w.WriteHeader(http.StatusNoContent)
}

// eventIDPrefix starts the ids of the bench's events: evt_bench_<number>.
const eventIDPrefix = "evt_bench_"

func eventID(i int) string { return fmt.Sprintf("%s%08d", eventIDPrefix, i) }

// eventNumber reads the number back from a delivery id
// (evt_bench_<number>:<webhook>), or -1.
func eventNumber(deliveryID string) int {
	rest, ok := strings.CutPrefix(deliveryID, eventIDPrefix)
	if !ok {
		return -1
	}
	digits, _, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(digits)
	if err != nil {
		return -1
	}
	return n
}

// serve starts an HTTP server for h on a loopback port.
func serve(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// blackholeHandler accepts requests and never answers until stopped.
func blackholeHandler(stop <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	})
}

// employeePage is ~1 KiB of employee.updated data.
func employeePage(i int) json.RawMessage {
	recs := make([]schemas.Employee, 3)
	for j := range recs {
		recs[j] = schemas.Employee{ID: fmt.Sprintf("emp_%d_%d", i, j), RemoteID: fmt.Sprintf("D-%06d", i*3+j),
			FirstName: "Asha", LastName: "Krishnamurthy", Email: fmt.Sprintf("asha.%d.%d@acme-india.example", i, j),
			EmploymentStatus: "active", JobTitle: "Senior Software Engineer", Department: "Platform Engineering",
			ManagerID: "emp_manager_0042", StartDate: "2021-04-01"}
	}
	raw, _ := json.Marshal(schemas.EmployeeData{SyncSessionID: "ss_bench", HRMS: "darwinbox", WebhookCounter: i%1000 + 1,
		RecordCount: len(recs), Records: recs})
	return raw
}

func runPipeline(ctx context.Context, name string, sh shape, o Options) (Sample, error) {
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "hookstream-bench-")
		if err != nil {
			return Sample{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: dir, Listen: "-"})
	if err != nil {
		return Sample{}, err
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	b, err := broker.Open(ctx, broker.Config{Server: srv, Name: "bench", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return Sample{}, err
	}
	defer b.Close()

	healthyHooks := sh.webhooks - sh.blackholes
	events := sh.events
	if sh.rate > 0 {
		events = int(sh.duration.Seconds() * float64(sh.rate))
	}
	rc := &receiver{published: make([]atomic.Int64, events), lat: make([]float32, events*healthyHooks),
		done: make(chan struct{}), want: int64(events * healthyHooks)}
	url, stopRC, err := serve(rc)
	if err != nil {
		return Sample{}, err
	}
	defer stopRC()
	stopBH := make(chan struct{})
	defer close(stopBH)
	bhURL := ""
	if sh.blackholes > 0 {
		var stop func()
		if bhURL, stop, err = serve(blackholeHandler(stopBH)); err != nil {
			return Sample{}, err
		}
		defer stop()
	}

	logger := slog.New(slog.DiscardHandler)
	p, err := pipeline.New(pipelineConfig(b, pipeline.Roles{Router: true, Sender: true}, o.Workers, logger))
	if err != nil {
		return Sample{}, err
	}
	if o.Verify {
		rc.verify = map[string]*signature.Receiver{}
	}
	for i := range sh.webhooks {
		id := fmt.Sprintf("wh_bench_%03d", i)
		w := &schemas.Webhook{ID: id, TenantID: benchTenant, Name: id, URL: url + "/" + id, Events: []string{"*"},
			Enabled: true, IncludePayload: true, Secrets: []schemas.Secret{{Value: benchSecret}}}
		if i < sh.blackholes {
			w.URL = bhURL + "/" + id
		}
		if sh.encrypted {
			w.Signature = schemas.SignatureConfig{Preset: "teal"}
			w.EncryptionKey = benchKey
		}
		if sh.profile != "" {
			w.Profile, w.Signature = sh.profile, schemas.SignatureConfig{Preset: sh.profile}
		}
		if rc.verify != nil {
			v, err := signature.NewReceiver(signature.ReceiverConfig{Scheme: signature.Config(w.Signature),
				Secrets: []string{benchSecret}, EncryptionKey: w.EncryptionKey})
			if err != nil {
				return Sample{}, err
			}
			rc.verify["/"+id] = v
		}
		if err := p.Store.Create(ctx, w); err != nil {
			return Sample{}, err
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- p.Run(runCtx) }()
	defer func() { cancel(); <-ran }()
	select {
	case <-p.Ready():
	case err := <-ran:
		ran <- err // for the deferred wait
		return Sample{}, fmt.Errorf("bench: pipeline stopped: %w", err)
	}
	replicas, err := startSenders(runCtx, srv, max(o.Senders, 1)-1, o.Workers, logger)
	if err != nil {
		return Sample{}, err
	}
	defer replicas.stop()
	if err := p.Index.Sync(ctx); err != nil {
		return Sample{}, err
	}

	// Events are built a batch at a time as they are published, as a
	// producer would (about 0.2 µs each); holding all of them from the start
	// would add 15 MiB of pointers to the heap every collection scans. They
	// share a few data pages, so the harness holds little memory.
	pages := make([]json.RawMessage, 64)
	for i := range pages {
		pages[i] = employeePage(i)
	}
	newEvent := func(i int) schemas.Event {
		return schemas.Event{ID: eventID(i), Type: schemas.TypeEmployeeUpdated,
			TenantID: benchTenant, OrgID: "org_bench", Data: pages[i%len(pages)]}
	}
	var peakBacklog atomic.Uint64
	var maxGoroutines atomic.Int64
	if sh.sample {
		stopSampling := make(chan struct{})
		sampled := make(chan struct{})
		defer func() { close(stopSampling); <-sampled }()
		go func() {
			defer close(sampled)
			sampleBacklog(ctx, b, stopSampling, &peakBacklog, &maxGoroutines)
		}()
	}
	cpu0 := cpuTime()
	start := time.Now()
	if sh.rate > 0 {
		err = publishSteady(ctx, p, rc, events, newEvent, sh.rate)
	} else {
		err = publishAll(ctx, p, rc, events, newEvent)
	}
	if err != nil {
		return Sample{}, err
	}
	timeout := time.Duration(max(120, events*max(healthyHooks, 1)/500)) * time.Second
	select {
	case <-rc.done:
	case err := <-ran:
		ran <- err // for the deferred wait
		return Sample{}, fmt.Errorf("bench: %s: pipeline stopped after %d of %d deliveries: %w", name, rc.healthy.Load(), rc.want, err)
	case <-time.After(timeout):
		return Sample{}, fmt.Errorf("bench: %s: %d of %d deliveries after %s", name, rc.healthy.Load(), rc.want, timeout)
	case <-ctx.Done():
		return Sample{}, ctx.Err()
	}
	elapsed := time.Duration(rc.lastNS.Load() - start.UnixNano())
	cpu := cpuTime() - cpu0
	if bad := rc.bad.Load(); bad > 0 {
		return Sample{}, fmt.Errorf("bench: %s: %d deliveries failed signature verification", name, bad)
	}
	delivered := int(rc.healthy.Load())
	s := Sample{Scenario: name, Deliveries: delivered, Seconds: elapsed.Seconds(),
		PerSec: float64(delivered) / elapsed.Seconds(), CPUMicros: float64(cpu.Microseconds()) / float64(delivered),
		PeakRSSMiB: peakRSSMiB()}
	for _, snd := range append([]*sender.Sender{p.Sender}, replicas.senders...) {
		st := snd.Stats()
		s.Attempts, s.SentBack, s.Retried = s.Attempts+st.Attempts, s.SentBack+st.SentBack, s.Retried+st.Retried
		s.AttemptsBySender = append(s.AttemptsBySender, st.Attempts)
	}
	s.Senders = 1 + len(replicas.senders)
	s.Held = p.Router.Stats().Held
	s.PeakBacklog, s.MaxGoroutines = peakBacklog.Load(), int(maxGoroutines.Load())
	s.LatencyMS.P50, s.LatencyMS.P95, s.LatencyMS.P99, s.LatencyMS.Max = percentiles(rc.lat[:min(int(rc.n.Load()), len(rc.lat))])
	if sh.blackholes > 0 {
		s.HealthyPerSec, s.HealthyP99 = s.PerSec, s.LatencyMS.P99
	}
	return s, nil
}

// pipelineConfig is the configuration of the bench's pipeline and of its
// sender replicas: a 5 s attempt timeout, receivers on this machine allowed.
func pipelineConfig(b *broker.Broker, roles pipeline.Roles, workers int, logger *slog.Logger) pipeline.Config {
	return pipeline.Config{
		Broker: b, Roles: roles, Logger: logger,
		Sender: sender.Config{Workers: workers},
		Client: sender.ClientConfig{Timeout: 5 * time.Second},
		Egress: egress.Policy{AllowLoopback: true},
	}
}

// senderReplicas are the senders started besides the pipeline's own.
type senderReplicas struct {
	senders []*sender.Sender
	cancel  context.CancelFunc
	done    []chan error
	closers []func()
}

// stop stops the replicas and closes their connections.
func (r *senderReplicas) stop() {
	r.cancel()
	for _, d := range r.done {
		<-d
	}
	for _, c := range r.closers {
		c()
	}
}

// startSenders starts n sender replicas on srv, each a pipeline of the
// sender role alone on its own connection, as a separate process would be.
func startSenders(ctx context.Context, srv *server.Server, n, workers int, logger *slog.Logger) (*senderReplicas, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &senderReplicas{cancel: cancel}
	for i := range n {
		b, err := broker.Open(ctx, broker.Config{Server: srv, Name: fmt.Sprintf("bench-sender-%d", i+2), Logger: logger})
		if err != nil {
			r.stop()
			return nil, err
		}
		r.closers = append(r.closers, b.Close)
		p, err := pipeline.New(pipelineConfig(b, pipeline.Roles{Sender: true}, workers, logger))
		if err != nil {
			r.stop()
			return nil, err
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		r.senders, r.done = append(r.senders, p.Sender), append(r.done, done)
		select {
		case <-p.Ready():
		case err := <-done:
			done <- err // for stop
			r.stop()
			return nil, fmt.Errorf("bench: sender replica stopped: %w", err)
		}
	}
	return r, nil
}

// sampleBacklog records, every 100 ms until stop, the most deliveries
// waiting in DELIVERIES and the most goroutines in the process.
func sampleBacklog(ctx context.Context, b *broker.Broker, stop <-chan struct{}, peak *atomic.Uint64, goroutines *atomic.Int64) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if n := int64(runtime.NumGoroutine()); n > goroutines.Load() {
			goroutines.Store(n)
		}
		if s, err := b.JS.Stream(ctx, broker.StreamDeliveries); err == nil {
			if n := s.CachedInfo().State.Msgs; n > peak.Load() {
				peak.Store(n)
			}
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// publishAll publishes n events as fast as the producer's async batches go.
func publishAll(ctx context.Context, p *pipeline.Pipeline, rc *receiver, n int, newEvent func(int) schemas.Event) error {
	const batch = 1000
	chunk := make([]schemas.Event, 0, batch)
	for i := 0; i < n; i += batch {
		chunk = chunk[:0]
		for j := i; j < min(i+batch, n); j++ {
			chunk = append(chunk, newEvent(j))
		}
		now := time.Now().UnixNano()
		for j := range chunk {
			rc.published[i+j].Store(now)
		}
		if _, err := p.Producer.PublishBatch(ctx, chunk); err != nil {
			return fmt.Errorf("bench: publish: %w", err)
		}
	}
	return nil
}

// publishSteady publishes n events at rate per second, one at a time.
func publishSteady(ctx context.Context, p *pipeline.Pipeline, rc *receiver, n int, newEvent func(int) schemas.Event, rate int) error {
	interval := time.Second / time.Duration(rate)
	next := time.Now()
	for i := range n {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		ev := newEvent(i)
		rc.published[i].Store(time.Now().UnixNano())
		if _, err := p.Producer.Publish(ctx, &ev); err != nil {
			return fmt.Errorf("bench: publish: %w", err)
		}
	}
	return nil
}

func percentiles(ms []float32) (p50, p95, p99, maxv float64) {
	if len(ms) == 0 {
		return 0, 0, 0, 0
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[min(len(s)-1, int(q*float64(len(s))))]) }
	return at(0.50), at(0.95), at(0.99), float64(s[len(s)-1])
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

// runCeiling is the bare loop: a Go HTTP client with the senders'
// concurrency posting 1 KiB bodies to the same receiver.
func runCeiling(ctx context.Context, sh shape, o Options) (Sample, error) {
	workers := o.Workers
	if workers <= 0 {
		workers = defaultWorkers
	}
	rc := &receiver{lat: make([]float32, sh.events), done: make(chan struct{}), want: int64(sh.events)}
	url, stop, err := serve(rc)
	if err != nil {
		return Sample{}, err
	}
	defer stop()
	client := sender.NewHTTPClient(workers, egress.Policy{AllowLoopback: true})
	body := []byte(base64.StdEncoding.EncodeToString(make([]byte, 768))) // 1 KiB
	var next atomic.Int64
	lat := make([]float32, sh.events)
	var failed atomic.Int64
	var firstErr atomic.Value
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if int(i) >= sh.events || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI(url + "/ceiling")
				req.Header.SetMethod(http.MethodPost)
				req.Header.SetContentType("application/json")
				req.SetBodyRaw(body)
				err := client.Do(req, resp)
				if stream := resp.BodyStream(); err == nil && stream != nil {
					_, _ = io.Copy(io.Discard, stream)
					_ = resp.CloseBodyStream()
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
				if err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(err)
					}
					continue
				}
				lat[i] = float32(float64(time.Since(t0)) / 1e6)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	if f := failed.Load(); f > 0 {
		return Sample{}, fmt.Errorf("bench: ceiling: %d requests failed, the first with %v", f, firstErr.Load())
	}
	if ctx.Err() != nil {
		return Sample{}, ctx.Err()
	}
	s := Sample{Scenario: "ceiling", Deliveries: sh.events, Seconds: elapsed.Seconds(), PerSec: float64(sh.events) / elapsed.Seconds(),
		CPUMicros: float64(cpu.Microseconds()) / float64(sh.events), PeakRSSMiB: peakRSSMiB()}
	s.LatencyMS.P50, s.LatencyMS.P95, s.LatencyMS.P99, s.LatencyMS.Max = percentiles(lat)
	return s, nil
}

// defaultWorkers is the senders' default concurrency, which the ceiling uses
// when none is given.
const defaultWorkers = 256
