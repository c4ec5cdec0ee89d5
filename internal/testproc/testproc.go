package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// LeakOptions are goroutines goleak is not to count as leaked: the
// connection janitors of the senders' HTTP client (fasthttp), one per
// client and one per receiver host, which end on their own once the
// client's connections have been idle for 10 s.
var LeakOptions = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
}

// Main runs a package's tests for TestMain: setup gets a temporary
// directory (to build into), the tests run if it succeeds, goroutines left
// behind by a passing run fail it (as goleak.VerifyTestMain would), and the
// directory is removed before the process exits. name prefixes errors.
func Main(m *testing.M, name string, setup func(dir string) error) {
	os.Exit(run(m, name, setup))
}

func run(m *testing.M, name string, setup func(dir string) error) int {
	dir, err := os.MkdirTemp("", "hookstream-"+name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := setup(dir); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(LeakOptions...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: Errors on successful test run: %v\n", err)
			code = 1
		}
	}
	return code
}

// ModuleRoot is the nearest directory above the working directory holding
// go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Buffer is a bytes.Buffer safe for a process (or any writer) writing
// while a test reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bytes returns a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
