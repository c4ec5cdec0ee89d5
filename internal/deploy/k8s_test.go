package deploy

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// the manifests use (its Go types would bring the operator's module).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests are the objects of deploy/k8s, decoded strictly into the
// Kubernetes API types: an unknown or misplaced field fails.
type manifests struct {
	deployments []appsv1.Deployment
	services    []corev1.Service
	pdbs        []policyv1.PodDisruptionBudget
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	configMaps  map[string]corev1.ConfigMap
	secrets     map[string]corev1.Secret
	monitors    []serviceMonitor
	namespaces  []corev1.Namespace
}

func loadManifests(t *testing.T, files []string) manifests {
	t.Helper()
	m := manifests{configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}}
	for _, file := range files {
		b, err := os.ReadFile(filepath.Join(root, "deploy/k8s", file))
		require.NoError(t, err)
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			require.NoError(t, yaml.Unmarshal(doc, &head))
			where := file + " document " + strconv.Itoa(i+1) + " (" + head.Kind + ")"
			strict := func(v any) {
				require.NoError(t, yaml.UnmarshalStrict(doc, v), where)
			}
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				var d appsv1.Deployment
				strict(&d)
				m.deployments = append(m.deployments, d)
			case "v1 Service":
				var s corev1.Service
				strict(&s)
				m.services = append(m.services, s)
			case "policy/v1 PodDisruptionBudget":
				var p policyv1.PodDisruptionBudget
				strict(&p)
				m.pdbs = append(m.pdbs, p)
			case "autoscaling/v2 HorizontalPodAutoscaler":
				var h autoscalingv2.HorizontalPodAutoscaler
				strict(&h)
				m.hpas = append(m.hpas, h)
			case "v1 ConfigMap":
				var c corev1.ConfigMap
				strict(&c)
				m.configMaps[c.Name] = c
			case "v1 Secret":
				var s corev1.Secret
				strict(&s)
				m.secrets[s.Name] = s
			case "v1 Namespace":
				var n corev1.Namespace
				strict(&n)
				m.namespaces = append(m.namespaces, n)
			case "monitoring.coreos.com/v1 ServiceMonitor":
				var s serviceMonitor
				strict(&s)
				m.monitors = append(m.monitors, s)
			default:
				t.Fatalf("%s: unexpected %s %s", where, head.APIVersion, head.Kind)
			}
		}
	}
	return m
}

// matches reports whether labels satisfy selector (every pair present).
func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// The Kubernetes manifests are valid API objects that fit together and run
// commands, flags and variables the binary has.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "deploy/k8s/kustomization.yaml"))
	require.NoError(t, err)
	var k kustomization
	require.NoError(t, yaml.UnmarshalStrict(b, &k), "kustomization.yaml")
	// Every manifest in the directory is applied; nats-values.yaml is the
	// NATS chart's values, not a manifest, and validate the script that
	// runs kubeconform.
	entries, err := os.ReadDir(filepath.Join(root, "deploy/k8s"))
	require.NoError(t, err)
	var files []string
	for _, e := range entries {
		if n := e.Name(); n != "kustomization.yaml" && n != "nats-values.yaml" && n != "validate" {
			files = append(files, n)
		}
	}
	require.ElementsMatch(t, files, k.Resources, "kustomization.yaml lists every manifest")
	require.Len(t, k.Images, 1)
	m := loadManifests(t, k.Resources)
	// Tokens are created by the operator (the README's kubectl create
	// secret), never committed: a Secret here would be applied over theirs.
	require.Empty(t, m.secrets, "deploy/k8s holds no Secret")
	m.secrets = readmeSecrets(t)
	require.Contains(t, m.secrets, "hookstream", "the README creates the Secret the roles read")
	require.NotEmpty(t, m.secrets["hookstream"].StringData, "with the keys the README gives it")
	require.Len(t, m.namespaces, 1)
	require.Equal(t, k.Namespace, m.namespaces[0].Name)

	var valuesDoc map[string]any
	b, err = os.ReadFile(filepath.Join(root, "deploy/k8s/nats-values.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &valuesDoc), "nats-values.yaml")

	shared := m.configMaps["hookstream"].Data
	require.NotEmpty(t, shared, "the shared ConfigMap")
	require.Equal(t, "3", shared["HOOKSTREAM_REPLICAS"], "streams are R3 on the chart's three nodes")
	var sharedEnv []string
	for name := range shared {
		sharedEnv = append(sharedEnv, name)
	}
	checkEnv(t, "ConfigMap hookstream", roles, sharedEnv)
	_, opsPort, err := net.SplitHostPort(shared["HOOKSTREAM_OPS_ADDR"])
	require.NoError(t, err)

	byRole := map[string]appsv1.Deployment{}
	for _, d := range m.deployments {
		where := "Deployment " + d.Name
		spec := d.Spec.Template.Spec
		require.True(t, matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels), "%s: its selector picks its pods", where)
		require.Len(t, spec.Containers, 1, where)
		c := spec.Containers[0]
		require.Equal(t, k.Images[0].Name, c.Image, "%s: the image kustomize replaces", where)
		require.NotEmpty(t, c.Args, where)
		command := c.Args[0]
		require.Contains(t, roles, command, where)
		byRole[command] = d

		// The arguments parse: the command's --help lists each flag.
		usage := help(t, command)
		for _, a := range c.Args[1:] {
			if strings.HasPrefix(a, "-") {
				name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
				require.Contains(t, usage, "  -"+name+" ", "%s: hookstream %s has no --%s", where, command, name)
			}
		}
		var env []string
		for _, e := range c.Env {
			env = append(env, e.Name)
		}
		checkEnv(t, where, []string{command}, env)
		for _, from := range c.EnvFrom {
			switch {
			case from.ConfigMapRef != nil:
				require.Contains(t, m.configMaps, from.ConfigMapRef.Name, where)
			case from.SecretRef != nil:
				require.Contains(t, m.secrets, from.SecretRef.Name, where)
				var keys []string
				for key := range m.secrets[from.SecretRef.Name].StringData {
					keys = append(keys, key)
				}
				checkEnv(t, where+" Secret "+from.SecretRef.Name, []string{command}, keys)
			}
		}
		portNames := map[string]int32{}
		for _, p := range c.Ports {
			portNames[p.Name] = p.ContainerPort
		}
		require.Equal(t, opsPort, strconv.Itoa(int(portNames["ops"])), "%s: the ops port is HOOKSTREAM_OPS_ADDR's", where)
		for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			require.NotNil(t, probe, "%s: probes", where)
			require.NotNil(t, probe.HTTPGet, where)
			require.Contains(t, []string{"/healthz", "/readyz"}, probe.HTTPGet.Path, where)
			require.Contains(t, portNames, probe.HTTPGet.Port.String(), "%s: probe port", where)
		}
		require.NotNil(t, spec.SecurityContext, where)
		require.True(t, *spec.SecurityContext.RunAsNonRoot, "%s: non-root", where)
		require.NotNil(t, c.SecurityContext, where)
		require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem, "%s: read-only root", where)
		require.NotNil(t, spec.TerminationGracePeriodSeconds, where)
		require.Greater(t, *spec.TerminationGracePeriodSeconds, int64(15), "%s: SIGKILL only after a drain (--timeout)", where)
		require.False(t, c.Resources.Limits.Memory().IsZero(), "%s: a memory limit", where)
		require.False(t, c.Resources.Requests.Cpu().IsZero(), "%s: a CPU request", where)
		require.False(t, c.Resources.Requests.Memory().IsZero(), "%s: a memory request", where)
	}
	for _, r := range roles {
		require.Contains(t, byRole, r, "a Deployment for every role")
	}

	podLabels := func(where string, selector map[string]string) appsv1.Deployment {
		for _, d := range m.deployments {
			if matches(selector, d.Spec.Template.Labels) {
				return d
			}
		}
		t.Fatalf("%s: selects no Deployment's pods (%v)", where, selector)
		return appsv1.Deployment{}
	}
	for _, s := range m.services {
		d := podLabels("Service "+s.Name, s.Spec.Selector)
		var names []string
		for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
			names = append(names, p.Name)
		}
		for _, p := range s.Spec.Ports {
			require.Contains(t, names, p.TargetPort.String(), "Service %s: target port", s.Name)
		}
	}
	guarded := map[string]bool{}
	for _, p := range m.pdbs {
		guarded[podLabels("PodDisruptionBudget "+p.Name, p.Spec.Selector.MatchLabels).Name] = true
	}
	for _, d := range m.deployments {
		require.True(t, guarded[d.Name], "Deployment %s has a PodDisruptionBudget", d.Name)
	}
	require.Len(t, m.hpas, 1)
	for _, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		require.Equal(t, "Deployment", ref.Kind)
		i := slices.IndexFunc(m.deployments, func(d appsv1.Deployment) bool { return d.Name == ref.Name })
		require.GreaterOrEqual(t, i, 0, "HPA %s: target", h.Name)
		require.Equal(t, "sender", m.deployments[i].Spec.Template.Spec.Containers[0].Args[0], "HPA %s scales the senders", h.Name)
		require.Greater(t, h.Spec.MaxReplicas, *h.Spec.MinReplicas, "HPA %s: room to scale", h.Name)
	}
	require.Len(t, m.monitors, 1)
	monitored := 0
	for _, s := range m.services {
		if matches(m.monitors[0].Spec.Selector.MatchLabels, s.Labels) {
			monitored++
			for _, e := range m.monitors[0].Spec.Endpoints {
				require.True(t, slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }), "Service %s lacks the monitored port %s", s.Name, e.Port)
			}
		}
	}
	require.Equal(t, len(roles), monitored, "every role's metrics are scraped")
}

// readmeSecrets are the Secrets the README's Kubernetes steps create with
// kubectl create secret generic NAME --from-literal=KEY=..., by name, with
// their keys.
func readmeSecrets(t *testing.T) map[string]corev1.Secret {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	out := map[string]corev1.Secret{}
	lines := strings.Split(string(b), "\n")
	create := regexp.MustCompile(`kubectl .*create secret generic ([a-z0-9-]+)`)
	literal := regexp.MustCompile(`--from-literal=([A-Z0-9_]+)=`)
	for i, line := range lines {
		m := create.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		command := line
		for j := i; strings.HasSuffix(strings.TrimSpace(lines[j]), "\\") && j+1 < len(lines); j++ {
			command += "\n" + lines[j+1]
		}
		s := corev1.Secret{StringData: map[string]string{}}
		for _, l := range literal.FindAllStringSubmatch(command, -1) {
			s.StringData[l[1]] = "set by the operator"
		}
		out[m[1]] = s
	}
	return out
}
