package bench

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hookstream/hookstream/internal/telemetry"
)

// dropProcessor records every span (so each is built in full) and exports
// nothing.
type dropProcessor struct{}

func (dropProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropProcessor) Shutdown(context.Context) error                  { return nil }
func (dropProcessor) ForceFlush(context.Context) error                { return nil }

// BenchmarkTracing compares the fanout scenario (at 5 %) with tracing off —
// the default, no OTEL_* variable — and on, every span recorded. It reports
// CPU µs per delivery; run with -benchtime=1x -count=3.
func BenchmarkTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "on" {
				telemetry.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(dropProcessor{})))
				defer telemetry.Install(noop.NewTracerProvider())
			}
			var cpu, perSec float64
			for b.Loop() {
				s, err := RunOne(context.Background(), "fanout", Options{Scale: 0.05, Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				cpu += s.CPUMicros
				perSec += s.PerSec
			}
			b.ReportMetric(cpu/float64(b.N), "cpu-µs/delivery")
			b.ReportMetric(perSec/float64(b.N), "deliveries/s")
		})
	}
}
