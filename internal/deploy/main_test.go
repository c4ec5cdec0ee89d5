package deploy

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testproc"
)

// binary is the hookstream command built for this run, and root the
// module's directory (where docker-compose.yml and deploy/ are).
var binary, root string

func TestMain(m *testing.M) {
	flag.Parse()
	testproc.Main(m, "deploy", func(dir string) (err error) {
		if root, err = testproc.ModuleRoot(); err != nil {
			return err
		}
		return build(dir)
	})
}

// build compiles ./cmd/hookstream into dir as deploy/Dockerfile does: with
// its environment and flags, and version stampVersion.
func build(dir string) error {
	out := filepath.Join(dir, "hookstream")
	env, args, err := dockerfileBuild(stampVersion)
	if err != nil {
		return err
	}
	args = append(args, "-o", out, "./cmd/hookstream")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	binary = out
	return nil
}

// stampVersion is the version the test binary is built with.
const stampVersion = "deploy-test"

// dockerfileBuild reads the `go build` of deploy/Dockerfile: the variables
// it sets and its arguments up to the output, with ${VERSION} as version.
func dockerfileBuild(version string) (env, args []string, err error) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/Dockerfile"))
	if err != nil {
		return nil, nil, err
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for line := range strings.SplitSeq(text, "\n") {
		run, ok := strings.CutPrefix(strings.TrimSpace(line), "RUN ")
		if !ok || !strings.Contains(run, " go build ") {
			continue
		}
		words, err := shellWords(strings.ReplaceAll(run, "${VERSION}", version))
		if err != nil {
			return nil, nil, fmt.Errorf("deploy/Dockerfile: %w", err)
		}
		for len(words) > 0 && strings.Contains(words[0], "=") {
			env, words = append(env, words[0]), words[1:]
		}
		if len(words) < 2 || words[0] != "go" || words[1] != "build" {
			return nil, nil, fmt.Errorf("deploy/Dockerfile: unexpected build line %q", run)
		}
		for _, w := range words[1:] {
			if w == "-o" {
				return env, args, nil
			}
			args = append(args, w)
		}
	}
	return nil, nil, errors.New("deploy/Dockerfile: no RUN ... go build ... -o line")
}

// shellWords splits s as a shell would for the simple quoting a Dockerfile
// RUN line uses (double quotes, no escapes inside).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unbalanced quotes")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// help returns the output of `hookstream <command> --help`, failing if
// there is no such command.
var help = func() func(t *testing.T, command string) string {
	var mu sync.Mutex
	cache := map[string]string{}
	return func(t *testing.T, command string) string {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if h, ok := cache[command]; ok {
			return h
		}
		cmd := exec.Command(binary, command, "--help")
		cmd.Env = []string{} // the help must not depend on this environment
		out, _ := cmd.CombinedOutput()
		if !strings.HasPrefix(string(out), "Usage: hookstream "+command) {
			t.Fatalf("hookstream %s --help: not a command:\n%s", command, out)
		}
		cache[command] = string(out)
		return cache[command]
	}
}()

// envOfCommand returns the environment variables `hookstream <command>`
// reads, as its --help lists them ("[$HOOKSTREAM_X]").
func envOfCommand(t *testing.T, command string) []string {
	t.Helper()
	var vars []string
	for _, m := range envInHelp.FindAllStringSubmatch(help(t, command), -1) {
		vars = append(vars, m[1])
	}
	return vars
}

var envInHelp = regexp.MustCompile(`\[\$([A-Z0-9_]+)\]`)

// checkEnv fails for every name in env that none of commands reads: a
// shared environment (a compose anchor, a ConfigMap) may carry a variable
// to every role that only some read, but not one that none reads, such as
// a misspelt one. OTEL_* (the OpenTelemetry SDK's) and GOMEMLIMIT (the Go
// runtime's) are read by every command.
func checkEnv(t *testing.T, where string, commands []string, env []string) {
	t.Helper()
	var known []string
	for _, c := range commands {
		known = append(known, envOfCommand(t, c)...)
	}
	for _, name := range env {
		if strings.HasPrefix(name, "OTEL_") || name == "GOMEMLIMIT" {
			continue
		}
		if !slices.Contains(known, name) {
			t.Errorf("%s: $%s is read by none of hookstream %v", where, name, commands)
		}
	}
}

// roles are the commands a deployment runs for the pipeline.
var roles = []string{"api", "router", "sender", "scheduler"}

// proc is a hookstream process of a test, stopped (SIGTERM) when it ends.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testproc.Buffer
	done chan struct{}
	err  error
}

func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testproc.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.stop(30*time.Second) != nil || t.Failed() {
			t.Logf("--- %s (%v):\n%s", name, p.err, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// d. It returns how the process exited.
func (p *proc) stop(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.name, d)
	}
	return p.err
}

// freePorts returns n loopback ports free right now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return ports
}
