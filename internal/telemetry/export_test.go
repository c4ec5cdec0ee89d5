package telemetry_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/hookstream/hookstream/internal/telemetry"
)

// exportOne sets the process up from the environment as a role does, makes
// one span and flushes it.
func exportOne(t *testing.T) {
	t.Helper()
	require.True(t, telemetry.Enabled())
	shutdown, err := telemetry.Setup(t.Context(), "test", "v0")
	require.NoError(t, err)
	defer telemetry.Install(noop.NewTracerProvider())
	_, span := telemetry.Start(t.Context(), "send EVENTS", trace.SpanKindProducer, nil)
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, shutdown(ctx))
}

// OTLP over HTTP, configured by the standard variables alone.
func TestExportsOTLPOverHTTPFromTheEnvironment(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			got.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	exportOne(t)
	require.Equal(t, int32(1), got.Load(), "one export request to /v1/traces")
}

type traceCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	spans atomic.Int32
}

func (c *traceCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans.Add(int32(len(ss.GetSpans())))
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// OTLP over gRPC, configured by the standard variables alone.
func TestExportsOTLPOverGRPCFromTheEnvironment(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	col := &traceCollector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	exportOne(t)
	require.Equal(t, int32(1), col.spans.Load(), "the span reached the collector")
}

// OTEL_TRACES_EXPORTER=none turns export off even with an endpoint set.
func TestNoExporterWhenTheEnvironmentSaysNone(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	require.False(t, telemetry.Enabled())
}
