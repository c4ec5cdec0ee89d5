package faults

import (
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hookstream/hookstream/internal/testproc"
)

// binary is the hookstream command built for this run; empty under -short.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	testproc.Main(m, "faults", build)
}

// build compiles ./cmd/hookstream into dir, unless -short skips the tests
// that run it.
func build(dir string) error {
	if testing.Short() {
		return nil
	}
	root, err := testproc.ModuleRoot()
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "hookstream")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/hookstream")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/hookstream: %w\n%s", err, b)
	}
	binary = out
	return nil
}
