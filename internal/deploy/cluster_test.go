package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// The compose topology, run as processes: three NATS nodes from
// deploy/nats/nats.conf, and every role (with its replicas) and the
// receiver with the command and environment docker-compose.yml gives them.
// Only what a single machine must change changes: addresses (each process
// its own loopback port), the data directories, egress to loopback instead
// of the compose network, and no OTLP collector. Then the walk-through: a
// tenant, a webhook, events through the API and the CLI, every delivery
// verified by `hookstream receive`, the delivery log, health and metrics,
// and a clean stop of everything.
func TestComposeTopologyAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster and ten processes; skipped under -short")
	}
	t.Parallel()
	f := loadCompose(t)

	// Three NATS nodes, one configuration file.
	ports := freePorts(t, 9)
	client, route, monitor := ports[0:3], ports[3:6], ports[6:9]
	var routes, natsURLs []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", route[i]))
		natsURLs = append(natsURLs, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
	}
	for i := range 3 {
		name := fmt.Sprintf("nats%d", i+1)
		svc := f.Services[name]
		require.Equal(t, []string{"--config", "/etc/hookstream/nats.conf"}, svc.Command)
		env := []string{"NATS_SERVER_NAME=" + svc.Environment["NATS_SERVER_NAME"]}
		for j, r := range routes {
			env = append(env, fmt.Sprintf("NATS_ROUTE_%d=%s", j+1, r))
		}
		start(t, name, env, "nats", "--config", filepath.Join(root, "deploy/nats/nats.conf"),
			"--data", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", client[i]),
			"--cluster-listen", fmt.Sprintf("127.0.0.1:%d", route[i]),
			"--monitor", fmt.Sprintf("127.0.0.1:%d", monitor[i]))
	}

	// The roles, as many of each as compose runs.
	type role struct {
		name string
		ops  string
		p    *proc
	}
	var running []role
	apiAddr := ""
	receiverAddr := ""
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const admin = "admin-token-of-the-deploy-test-0123456789"
	names := make([]string, 0, len(f.Services))
	for name := range f.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		svc := f.Services[name]
		if !svc.isHookstream() {
			continue
		}
		replicas := max(svc.Deploy.Replicas, 1)
		for r := range replicas {
			args := slices.Clone(svc.Command)
			var env []string
			for k, v := range svc.Environment {
				switch {
				case strings.HasPrefix(k, "OTEL_"), k == "HOOKSTREAM_EGRESS_ALLOW", k == "HOOKSTREAM_OPS_ADDR":
					continue // no collector here; loopback instead; below
				case k == "HOOKSTREAM_NATS_URL":
					v = strings.Join(natsURLs, ",")
				case k == "HOOKSTREAM_ADMIN_TOKEN":
					v = admin
				case k == "HOOKSTREAM_RECEIVE_SECRET":
					v = secret
				}
				env = append(env, k+"="+v)
			}
			ro := role{name: fmt.Sprintf("%s-%d", name, r+1)}
			if _, ok := svc.Environment["HOOKSTREAM_OPS_ADDR"]; ok {
				ro.ops = fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
				env = append(env, "HOOKSTREAM_OPS_ADDR="+ro.ops, "HOOKSTREAM_EGRESS_ALLOW_LOOPBACK=true")
			}
			// Listen addresses in the arguments move to a loopback port.
			for i, a := range args {
				if strings.HasPrefix(a, "0.0.0.0:") {
					args[i] = fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
					switch name {
					case "api":
						apiAddr = args[i]
					case "receiver":
						receiverAddr = args[i]
					}
				}
			}
			ro.p = start(t, ro.name, env, args...)
			running = append(running, ro)
		}
	}
	require.NotEmpty(t, apiAddr)
	require.NotEmpty(t, receiverAddr)
	require.Len(t, running, 1+2+3+2+1, "api, 2 routers, 3 senders, 2 schedulers, the receiver")

	// Every role becomes ready (its /readyz: JetStream answers), as the
	// image's HEALTHCHECK (`hookstream healthcheck`) and the probes see it.
	for _, r := range running {
		if r.ops == "" {
			continue
		}
		require.Eventually(t, func() bool {
			return exec.Command(binary, "healthcheck", "--url", "http://"+r.ops+"/readyz").Run() == nil
		}, 90*time.Second, 200*time.Millisecond, "%s ready:\n%s", r.name, r.p.out.String())
	}

	// The HEALTHCHECK as the image runs it: no flags, the role's environment.
	hc := exec.Command(binary, "healthcheck")
	hc.Env = []string{"HOOKSTREAM_OPS_ADDR=" + running[0].ops}
	out, err := hc.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// The roles declared every stream and bucket at R3, as the compose
	// environment asks (HOOKSTREAM_REPLICAS), across the three nodes.
	nc, err := nats.Connect(strings.Join(natsURLs, ","))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	streams := js.ListStreams(t.Context())
	n := 0
	for info := range streams.Info() {
		require.Equal(t, 3, info.Config.Replicas, "stream %s", info.Config.Name)
		require.NotNil(t, info.Cluster, "stream %s", info.Config.Name)
		require.Len(t, info.Cluster.Replicas, 2, "stream %s: a leader and two replicas", info.Config.Name)
		n++
	}
	require.NoError(t, streams.Err())
	require.GreaterOrEqual(t, n, 8, "the streams and the KV buckets' streams")

	// The walk-through: a tenant, a webhook to the receiver, events.
	api := "http://" + apiAddr
	call := func(method, path, token string, body any, want int) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, api+path, rd)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, b)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return out
	}
	tenant := call(http.MethodPost, "/v1/tenants", admin, map[string]any{"name": "Acme HR"}, http.StatusCreated)
	token, tenantID := tenant["token"].(string), tenant["id"].(string)
	wh := call(http.MethodPost, "/v1/webhooks", token, map[string]any{
		"name": "Acme receiver", "url": "http://" + receiverAddr + "/hooks", "events": []string{"sync.*", "employee.created"}, "secret": secret,
	}, http.StatusCreated)
	whID := wh["id"].(string)

	var ids []string
	for i := range 10 {
		ev := call(http.MethodPost, "/v1/events", token, map[string]any{
			"type": "employee.created", "org_id": "org_1",
			"data": map[string]any{"sync_session_id": "ss_1", "webhook_counter": i + 1,
				"records": []map[string]any{{"id": "emp_" + strconv.Itoa(i), "first_name": "Ada"}}},
		}, http.StatusAccepted)
		ids = append(ids, ev["id"].(string))
	}
	out, err = exec.Command(binary, "publish", "--nats", strings.Join(natsURLs, ","), "--tenant", tenantID,
		"--type", "sync.completed", "--org", "org_1",
		"--data", `{"sync_session_id":"ss_1","hrms":"darwinbox"}`).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var published struct{ ID string }
	require.NoError(t, json.Unmarshal(out, &published), "%s", out)
	ids = append(ids, published.ID)
	// An event no subscription matches is not delivered.
	call(http.MethodPost, "/v1/events", token, map[string]any{"type": "payroll.submitted", "org_id": "org_1",
		"data": map[string]any{"payroll_id": "pr_1", "user_id": "usr_1"}}, http.StatusAccepted)

	// The receiver verified every delivery's signature, once each.
	receiver := running[slices.IndexFunc(running, func(r role) bool { return strings.HasPrefix(r.name, "receiver") })]
	require.Eventually(t, func() bool {
		got := receiver.p.out.String()
		for _, id := range ids {
			if !strings.Contains(got, id+":"+whID) {
				return false
			}
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "every event delivered:\n%s", receiver.p.out.String())
	got := receiver.p.out.String()
	require.NotContains(t, got, "REJECTED")
	require.NotContains(t, got, "payroll.submitted")
	// Each event once, and the webhook.ping sent on creation.
	require.Equal(t, len(ids)+1, strings.Count(got, " verified"), got)

	// The delivery log shows them, and the senders' metrics count them.
	require.Eventually(t, func() bool {
		log := call(http.MethodGet, "/v1/webhooks/"+whID+"/attempts?limit=100", token, nil, http.StatusOK)
		data, _ := log["data"].([]any)
		return len(data) == len(ids)+1
	}, 30*time.Second, 200*time.Millisecond, "the delivery log")
	var attempts float64
	for _, r := range running {
		if !strings.HasPrefix(r.name, "sender") {
			continue
		}
		resp, err := http.Get("http://" + r.ops + "/metrics")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, `hookstream_attempts_total{class="2xx"} `); ok {
				n, err := strconv.ParseFloat(v, 64)
				require.NoError(t, err)
				attempts += n
			}
		}
	}
	require.Equal(t, float64(len(ids)+1), attempts, "2xx attempts over the three senders")

	// Everything stops cleanly on SIGTERM: the roles, then the nodes.
	for _, r := range running {
		require.NoError(t, r.p.stop(30*time.Second), "%s:\n%s", r.name, r.p.out.String())
	}
}
