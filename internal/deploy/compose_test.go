package deploy

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// composeFile is the part of the Compose specification docker-compose.yml
// uses; decoding is strict, so a misspelt key fails.
type composeFile struct {
	XHookstream any                       `yaml:"x-hookstream"`
	XNATS       any                       `yaml:"x-nats"`
	Services    map[string]composeService `yaml:"services"`
	Networks    map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string `yaml:"image"`
	Restart     string `yaml:"restart"`
	StopGrace   string `yaml:"stop_grace_period"`
	Healthcheck *struct {
		Disable bool `yaml:"disable"`
	} `yaml:"healthcheck"`
	Hostname    string            `yaml:"hostname"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   []string          `yaml:"depends_on"`
	Networks    []string          `yaml:"networks"`
	Deploy      struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

// isHookstream reports whether the service runs the image built from
// deploy/Dockerfile.
func (s composeService) isHookstream() bool { return s.Build != nil }

// interpolate resolves ${VAR:-default} the way Compose does with VAR unset.
var interpolation = regexp.MustCompile(`\$\{[A-Z0-9_]+(?::?-([^}]*))?\}`)

func interpolate(s string) string {
	return interpolation.ReplaceAllString(s, "$1")
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f composeFile
	require.NoError(t, dec.Decode(&f), "docker-compose.yml")
	for name, s := range f.Services {
		for k, v := range s.Environment {
			s.Environment[k] = interpolate(v)
		}
		f.Services[name] = s
	}
	return f
}

// docker-compose.yml runs commands the binary has, with variables it reads,
// and refers only to services, files, volumes and networks that exist.
// Not parallel: it sets the NATS nodes' environment to parse nats.conf.
func TestComposeFile(t *testing.T) {
	f := loadCompose(t)
	natsNodes := map[string]bool{}
	for name, s := range f.Services {
		if slices.Equal(s.Command, []string{"--config", "/etc/hookstream/nats.conf"}) {
			natsNodes[name] = true
		}
	}
	require.Len(t, natsNodes, 3, "three NATS nodes")
	grace := func(name string) time.Duration {
		d, err := time.ParseDuration(f.Services[name].StopGrace)
		require.NoError(t, err, "%s: stop_grace_period", name)
		return d
	}

	for name, s := range f.Services {
		for _, dep := range s.DependsOn {
			require.Contains(t, f.Services, dep, "%s depends on an unknown service", name)
		}
		for _, n := range s.Networks {
			require.Contains(t, f.Networks, n, "%s: network", name)
		}
		for _, v := range s.Volumes {
			src, _, ok := strings.Cut(v, ":")
			require.True(t, ok, "%s: volume %q", name, v)
			if strings.HasPrefix(src, ".") {
				require.FileExists(t, filepath.Join(root, src), "%s mounts it", name)
			} else {
				require.Contains(t, f.Volumes, src, "%s: named volume", name)
			}
		}
		if !s.isHookstream() {
			continue
		}
		require.FileExists(t, filepath.Join(root, s.Build.Context, s.Build.Dockerfile), name)
		require.Greater(t, grace(name), 15*time.Second, "%s: SIGKILL only after a drain (--timeout)", name)
		// The image's HEALTHCHECK (`hookstream healthcheck`) asks the
		// ops address; a service without one turns it off.
		if s.Environment["HOOKSTREAM_OPS_ADDR"] == "" {
			require.True(t, s.Healthcheck != nil && s.Healthcheck.Disable, "%s: no ops address, so no HEALTHCHECK", name)
		}
		require.NotEmpty(t, s.Command, name)
		env := make([]string, 0, len(s.Environment))
		for k := range s.Environment {
			env = append(env, k)
		}
		checkEnv(t, "docker-compose.yml service "+name, append([]string{s.Command[0]}, roles...), env)
		if u := s.Environment["HOOKSTREAM_NATS_URL"]; u != "" {
			for _, n := range strings.Split(u, ",") {
				pu, err := url.Parse(n)
				require.NoError(t, err)
				require.True(t, natsNodes[pu.Hostname()], "%s: %s is not a NATS node", name, n)
			}
			require.Equal(t, "3", s.Environment["HOOKSTREAM_REPLICAS"], "%s: streams are R3 on three nodes", name)
		}
		if e := s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; e != "" {
			pu, err := url.Parse(e)
			require.NoError(t, err)
			require.Contains(t, f.Services, pu.Hostname(), "%s: OTLP endpoint", name)
		}
		if cidr := s.Environment["HOOKSTREAM_EGRESS_ALLOW"]; cidr != "" {
			var subnets []string
			for _, n := range f.Networks {
				for _, c := range n.IPAM.Config {
					subnets = append(subnets, c.Subnet)
				}
			}
			require.Contains(t, subnets, cidr, "%s: egress is allowed to the compose network", name)
		}
	}
	for _, r := range roles {
		require.Contains(t, f.Services, r, "every role runs")
		require.Equal(t, r, f.Services[r].Command[0])
	}

	// The NATS nodes' configuration parses with each node's environment,
	// and its routes name the nodes.
	conf, err := os.ReadFile(filepath.Join(root, "deploy/nats/nats.conf"))
	require.NoError(t, err)
	conf = regexp.MustCompile(`(?m)#.*$`).ReplaceAll(conf, nil)
	vars := regexp.MustCompile(`\$([A-Z0-9_]+)`).FindAllStringSubmatch(string(conf), -1)
	require.NotEmpty(t, vars)
	for name := range natsNodes {
		s := f.Services[name]
		for _, v := range vars {
			require.Contains(t, s.Environment, v[1], "%s sets what nats.conf reads", name)
		}
		require.Equal(t, name, s.Environment["NATS_SERVER_NAME"])
		for k, v := range s.Environment {
			if strings.HasPrefix(k, "NATS_ROUTE_") {
				pu, err := url.Parse(v)
				require.NoError(t, err)
				require.True(t, natsNodes[pu.Hostname()], "%s: route %s", name, v)
			}
		}
	}
	opts := natsOptions(t, "nats1", f.Services["nats1"].Environment)
	require.True(t, opts.JetStream)
	require.Equal(t, "/data", opts.StoreDir, "the named volume")
	require.Equal(t, "hookstream", opts.Cluster.Name)
	require.Len(t, opts.Routes, 3)
	require.Greater(t, grace("nats1"), opts.LameDuckDuration+opts.LameDuckGracePeriod, "SIGKILL only after lame duck")

	// Prometheus scrapes the roles on the port of HOOKSTREAM_OPS_ADDR.
	prom, err := os.ReadFile(filepath.Join(root, "deploy/prometheus.yml"))
	require.NoError(t, err)
	var pc struct {
		ScrapeConfigs []struct {
			DNSSD []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(prom, &pc))
	require.NotEmpty(t, pc.ScrapeConfigs)
	_, opsPort, err := net.SplitHostPort(f.Services["sender"].Environment["HOOKSTREAM_OPS_ADDR"])
	require.NoError(t, err)
	for _, sd := range pc.ScrapeConfigs[0].DNSSD {
		require.ElementsMatch(t, roles, sd.Names)
		require.Equal(t, opsPort, strconv.Itoa(sd.Port))
	}

	// Where Compose is installed, it agrees the file is valid.
	if compose := composeCommand(); compose != nil {
		cmd := exec.Command(compose[0], append(compose[1:], "-f", filepath.Join(root, "docker-compose.yml"), "config", "-q")...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s config:\n%s", strings.Join(compose, " "), out)
	} else {
		t.Log("no docker compose or docker-compose installed: checked the file without it")
	}
}

// natsOptions parses deploy/nats/nats.conf as the node with env would.
func natsOptions(t *testing.T, node string, env map[string]string) *server.Options {
	t.Helper()
	// nats-server substitutes $VARS from the process environment.
	for k, v := range env {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile(filepath.Join(root, "deploy/nats/nats.conf"))
	require.NoError(t, err, "nats.conf as %s", node)
	return opts
}

// composeCommand is `docker compose` or `docker-compose`, whichever works.
func composeCommand() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	return nil
}
