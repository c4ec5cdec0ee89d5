package console_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/testproc"
)

// binary is the hookstream binary TestMain built, or "" when the tests skip.
var binary string

// skipReason says why the browser tests do not run here.
var skipReason string

func TestMain(m *testing.M) {
	flag.Parse()
	switch {
	case testing.Short():
		skipReason = "browser tests are slow: skipped with -short"
	case chromium() == "":
		skipReason = "no Chromium at " + cmp.Or(os.Getenv("HOOKSTREAM_CHROMIUM"), "/usr/bin/chromium") +
			": install Debian's chromium (apt-get install chromium) or set HOOKSTREAM_CHROMIUM to a Chromium binary to run the console's browser tests"
	}
	testproc.Main(m, "console", func(dir string) error {
		if skipReason != "" {
			return nil
		}
		binary = filepath.Join(dir, "hookstream")
		gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gocmd); err != nil {
			gocmd = "go"
		}
		build := exec.Command(gocmd, "build", "-o", binary, "github.com/hookstream/hookstream/cmd/hookstream")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build hookstream: %w", err)
		}
		return nil
	})
}

// chromium is the browser to drive: $HOOKSTREAM_CHROMIUM when set, else
// Debian's /usr/bin/chromium; "" when it is not there.
func chromium() string {
	p := cmp.Or(os.Getenv("HOOKSTREAM_CHROMIUM"), "/usr/bin/chromium")
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return ""
	}
	return p
}

const token = "hs_console_browser_test_token"

// dev is a running `hookstream dev`.
type dev struct {
	url string // http://127.0.0.1:port
	cmd *exec.Cmd
	log testproc.Buffer // what it logged
	out testproc.Buffer // what it printed
}

// stdout is what the command printed so far.
func (d *dev) stdout() string { return d.out.String() }

// startDev runs the binary's dev command on a fresh data directory.
func startDev(t *testing.T, extra ...string) *dev {
	t.Helper()
	args := append([]string{"dev", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "-",
		"--token", token, "--log-level", "warn"}, extra...)
	cmd := exec.Command(binary, args...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	d := &dev{cmd: cmd}
	cmd.Stderr = &d.log
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			require.NoError(t, err, "hookstream dev exits 0 on SIGINT")
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("hookstream dev did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("hookstream dev stderr:\n%s", d.log.String())
		}
	})
	api := regexp.MustCompile(`API:\s+(http://\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			_, _ = d.out.Write([]byte(sc.Text() + "\n"))
			if m := api.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case d.url = <-found:
	case err := <-exited:
		t.Fatalf("hookstream dev exited: %v\n%s", err, d.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("hookstream dev printed no API address\n%s", d.log.String())
	}
	return d
}

// call makes an API request with the tenant token; out, when not nil,
// receives the JSON answer. It returns the status.
func (d *dev) call(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.url+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode
}

// publish publishes a sync.started event and returns its id.
func (d *dev) publish(t *testing.T, session string) string {
	t.Helper()
	var res struct{ ID string }
	code := d.call(t, http.MethodPost, "/v1/events", map[string]any{"type": "sync.started", "org_id": "org_42",
		"data": map[string]any{"sync_session_id": session, "hrms": "darwinbox"}}, &res)
	require.Equal(t, http.StatusAccepted, code)
	return res.ID
}

// receiver is a webhook endpoint that records event ids and answers with
// the status it is told.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    map[string]int // event id -> deliveries answered 2xx
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{got: map[string]int{}}
	rc.status.Store(http.StatusOK)
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ ID string }
		_ = json.NewDecoder(r.Body).Decode(&ev)
		status := int(rc.status.Load())
		if status < 300 {
			rc.mu.Lock()
			rc.got[ev.ID]++
			rc.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"answered":%d}`, status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) delivered(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.got[id]
}

// browser is a headless Chromium tab.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
	n     int
	w, h  int // the viewport

	mu     sync.Mutex
	errors []string // uncaught exceptions, console errors, CSP violations
}

// newBrowser starts headless Chromium with a fresh profile and a viewport of
// width x height.
func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	shots := os.Getenv("HOOKSTREAM_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots = filepath.Join(shots, t.Name())
	require.NoError(t, os.MkdirAll(shots, 0o755))
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	b := &browser{t: t, ctx: ctx, shots: shots, w: width, h: height}
	// The first call starts the browser: no timeout on it, or the timeout
	// would end the browser.
	messages := chromedp.Console(ctx)
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return
			}
			switch {
			case m.IsException(), m.Type == chromedp.ConsoleError && m.Source != "network":
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-read
	})
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))))
	return b
}

// noErrors checks the page threw nothing and logged no error (a CSP
// violation is one).
func (b *browser) noErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(b.t, b.errors, "the page's errors")
}

// timeout bounds each wait of the tests.
const timeout = 45 * time.Second

// do runs actions, bounded by the timeout.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

// value runs one action and returns its value.
func value[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(b.t, err)
	return v
}

func (b *browser) navigate(url string) { b.t.Helper(); b.do(chromedp.Navigate(url)) }

// waitVisible waits until the CSS selector matches a visible element.
func (b *browser) waitVisible(sel string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (b *browser) click(sel string) { b.t.Helper(); b.do(chromedp.Click(chromedp.CSS(sel))) }

// typeInto types text into the element, as keystrokes ("\r" is Enter).
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.CSS(sel), text))
}

// setValue sets a form control's value, as a change by the user would.
func (b *browser) setValue(sel, v string) {
	b.t.Helper()
	args, err := json.Marshal([]string{sel, v})
	require.NoError(b.t, err)
	require.True(b.t, b.boolean(`(([sel, v]) => {
		const el = document.querySelector(sel);
		if (!el) return false;
		el.value = v;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})(`+string(args)+`)`), "no %s", sel)
}

func (b *browser) key(keys string) { b.t.Helper(); b.do(chromedp.KeyEvent(keys)) }

// text is the visible text of the element.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return value(b, chromedp.Text(chromedp.CSS(sel)))
}

// str evaluates a JavaScript expression of a string value.
func (b *browser) str(js string) string { b.t.Helper(); return value(b, chromedp.Evaluate[string](js)) }

// boolean evaluates a JavaScript expression of a boolean value.
func (b *browser) boolean(js string) bool { b.t.Helper(); return value(b, chromedp.Evaluate[bool](js)) }

// poll waits until the JavaScript expression is truthy. An expression that
// throws (an element not there yet while the page re-renders) counts as not
// yet, rather than ending the wait.
func (b *browser) poll(js string) {
	b.t.Helper()
	guarded := "(() => { try { return (" + js + "); } catch (e) { return false; } })()"
	value(b, chromedp.Poll[chromedp.Void](guarded, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second)))
}

// shot writes a PNG screenshot of the whole page and logs its path.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := value(b, chromedp.FullScreenshot(100))
	// The capture grows the viewport to the page for a moment; wait until it
	// is back, or a click that follows could aim outside it.
	b.poll(fmt.Sprintf(`window.innerWidth === %d && window.innerHeight === %d`, b.w, b.h))
	b.n++
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
}
