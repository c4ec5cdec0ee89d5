package cli

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/dustin/go-humanize"
)

// minMemoryLimit refuses limits the runtime could only meet by collecting
// garbage without pause.
const minMemoryLimit = 32 << 20

// memoryFlags is --memory-limit, which every long-running command takes.
// Most of a busy process's memory is JetStream's block cache and garbage not
// yet collected; a soft limit makes the Go runtime collect harder as the
// heap nears it, instead of letting it grow to twice what is live.
type memoryFlags struct{ limit string }

func (m *memoryFlags) register(f *flags) {
	f.str(&m.limit, "memory-limit", "HOOKSTREAM_MEMORY_LIMIT", "auto",
		"soft memory limit of the process, e.g. 512MiB or 2GiB (the runtime collects garbage harder as it nears it); "+
			"auto: $GOMEMLIMIT when set, else 90% of the container's (cgroup's) limit, else none; off: none")
}

// apply sets the process's soft memory limit and logs it.
func (m *memoryFlags) apply(logger *slog.Logger) error {
	limit, source, err := setMemoryLimit(m.limit)
	if err != nil {
		return badUsage("--memory-limit: %v", err)
	}
	if limit > 0 {
		logger.Info("soft memory limit", "limit", humanize.IBytes(uint64(limit)), "from", source)
	}
	return nil
}

// setMemoryLimit applies a --memory-limit value and returns the limit in
// effect (0: none) and where it came from.
func setMemoryLimit(value string) (int64, string, error) {
	n, err := parseMemoryLimit(value)
	if err != nil {
		return 0, "", err
	}
	switch n {
	case limitOff:
		debug.SetMemoryLimit(math.MaxInt64)
		return 0, "", nil
	case limitAuto:
		if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
			return current(), "GOMEMLIMIT", nil
		}
		if _, err := memlimit.Set(memlimit.WithProvider(memlimit.FromCgroup), memlimit.WithRatio(0.9)); err != nil {
			// No cgroup, or none readable: there is no limit to follow.
			debug.SetMemoryLimit(math.MaxInt64)
			return 0, "", nil
		}
		return current(), "90% of the cgroup's memory limit", nil
	}
	debug.SetMemoryLimit(n)
	return n, "--memory-limit", nil
}

// What parseMemoryLimit returns for "off" and "auto".
const (
	limitOff  = 0
	limitAuto = -1
)

// parseMemoryLimit reads a --memory-limit value: a size in bytes, limitOff or
// limitAuto.
func parseMemoryLimit(value string) (int64, error) {
	switch v := strings.ToLower(strings.TrimSpace(value)); v {
	case "off", "none", "0":
		return limitOff, nil
	case "auto", "":
		return limitAuto, nil
	default:
		n, err := humanize.ParseBytes(v)
		if err != nil {
			return 0, fmt.Errorf("%q is not a size like 512MiB or 2GiB, auto or off", value)
		}
		if n < minMemoryLimit {
			return 0, fmt.Errorf("%s is below the %s a process needs", humanize.IBytes(n), humanize.IBytes(minMemoryLimit))
		}
		if n > math.MaxInt64 {
			return 0, fmt.Errorf("%q is too large", value)
		}
		return int64(n), nil
	}
}

// current is the soft memory limit in effect, 0 for none.
func current() int64 {
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		return l
	}
	return 0
}
