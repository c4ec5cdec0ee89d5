package faults

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// binary is the hookstream command built for this run; empty under -short.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "hookstream-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
	} else {
		code = m.Run()
		// What goleak.VerifyTestMain does, but the temporary directory is
		// removed afterwards.
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintf(os.Stderr, "goleak: Errors on successful test run: %v\n", err)
				code = 1
			}
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles ./cmd/hookstream into dir, unless -short skips the tests
// that run it.
func build(dir string) error {
	if testing.Short() {
		return nil
	}
	root, err := moduleRoot()
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

// moduleRoot is the nearest directory above the working directory holding
// go.mod.
func moduleRoot() (string, error) {
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
