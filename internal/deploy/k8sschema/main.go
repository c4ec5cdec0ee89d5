package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	out := flag.String("out", "", "directory to write the schemas to (created)")
	kube := flag.String("kubernetes", "", "Kubernetes release whose OpenAPI document to use (default: the one matching k8s.io/api in go.mod)")
	promOp := flag.String("prometheus-operator", "v0.85.0", "Prometheus Operator release whose CRDs to use")
	flag.Parse()
	if err := run(*out, *kube, *promOp); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
}

func run(out, kube, promOp string) error {
	if out == "" {
		return errors.New("-out is required")
	}
	if kube == "" {
		v, err := kubernetesRelease("go.mod")
		if err != nil {
			return err
		}
		kube = v
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir, err := download("k8s.io/kubernetes@" + kube)
	if err != nil {
		return err
	}
	n, err := writeBuiltins(filepath.Join(dir, "api", "openapi-spec", "swagger.json"), out)
	if err != nil {
		return err
	}
	dir, err = download("github.com/prometheus-operator/prometheus-operator@" + promOp)
	if err != nil {
		return err
	}
	crds, err := filepath.Glob(filepath.Join(dir, "example", "prometheus-operator-crd", "*.yaml"))
	if err != nil {
		return err
	}
	m := 0
	for _, f := range crds {
		k, err := writeCRD(f, out)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		m += k
	}
	fmt.Printf("k8sschema: %d schemas of Kubernetes %s and %d of Prometheus Operator %s in %s\n", n, kube, m, promOp, out)
	return nil
}

// kubernetesRelease reads k8s.io/api's version from go.mod: v0.X.Y is v1.X.Y.
func kubernetesRelease(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/api v0\.(\d+\.\d+)\s`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s does not require k8s.io/api; give -kubernetes", gomod)
	}
	return "v1." + string(m[1]), nil
}

// download fetches a module from the Go module proxy and returns its directory.
func download(modVersion string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(b, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", modVersion, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", modVersion, err)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in %s", modVersion, b)
	}
	return info.Dir, nil
}

type schema = map[string]any

// fileName is kubeconform's {{.ResourceKind}}{{.KindSuffix}}.json: the kind
// in lower case, the group's first label (none for the core group) and the
// version.
func fileName(group, version, kind string) string {
	suffix := "-" + version
	if group != "" {
		first, _, _ := strings.Cut(group, ".")
		suffix = "-" + first + suffix
	}
	return strings.ToLower(kind + suffix + ".json")
}

// writeBuiltins writes a standalone schema for every kind in a Kubernetes
// OpenAPI v2 document: the kind's definition with the definitions it refers
// to, transitively, under "definitions" (where its $refs already point).
func writeBuiltins(swagger, out string) (int, error) {
	b, err := os.ReadFile(swagger)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Definitions map[string]schema `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", swagger, err)
	}
	defs := doc.Definitions
	for name, d := range defs {
		defs[name] = strict(d).(schema)
	}
	// Types that marshal as more than one JSON type.
	for name, d := range defs {
		switch {
		case d["format"] == "int-or-string":
			defs[name] = schema{"description": d["description"], "oneOf": []any{schema{"type": "string"}, schema{"type": "integer"}}}
		case strings.HasSuffix(name, ".api.resource.Quantity"):
			defs[name] = schema{"description": d["description"], "oneOf": []any{schema{"type": "string"}, schema{"type": "number"}}}
		}
	}
	n := 0
	for _, name := range sortedKeys(defs) {
		gvks, _ := defs[name]["x-kubernetes-group-version-kind"].([]any)
		if len(gvks) == 0 {
			continue
		}
		closure := map[string]any{}
		refs(defs[name], defs, closure)
		s := schema{"$schema": "http://json-schema.org/draft-04/schema#", "definitions": closure}
		for k, v := range defs[name] {
			s[k] = v
		}
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			if err := writeJSON(filepath.Join(out, fileName(group, version, kind)), s); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// refs adds to closure every definition v refers to, transitively.
func refs(v any, defs map[string]schema, closure map[string]any) {
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			name := strings.TrimPrefix(r, "#/definitions/")
			if _, seen := closure[name]; !seen {
				if d, ok := defs[name]; ok {
					closure[name] = d
					refs(d, defs, closure)
				}
			}
		}
		for _, e := range v {
			refs(e, defs, closure)
		}
	case []any:
		for _, e := range v {
			refs(e, defs, closure)
		}
	}
}

// strict closes every object schema that lists its properties (and does not
// say it keeps unknown fields), turns x-kubernetes-int-or-string into the two
// types, and drops OpenAPI v3's nullable by admitting null.
func strict(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "properties" {
				if props, ok := e.(map[string]any); ok {
					for p, ps := range props {
						props[p] = strict(ps)
					}
					continue
				}
			}
			v[k] = strict(e)
		}
		if _, ok := v["properties"]; ok {
			if _, set := v["additionalProperties"]; !set && v["x-kubernetes-preserve-unknown-fields"] != true {
				v["additionalProperties"] = false
			}
		}
		if v["x-kubernetes-int-or-string"] == true {
			delete(v, "type")
			v["oneOf"] = []any{schema{"type": "string"}, schema{"type": "integer"}}
		}
		if v["nullable"] == true {
			if t, ok := v["type"].(string); ok {
				v["type"] = []any{t, "null"}
			}
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = strict(e)
		}
	}
	return v
}

// writeCRD writes a schema for each version a CustomResourceDefinition serves.
func writeCRD(path, out string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var crd struct {
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind string `json:"kind"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema schema `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return 0, err
	}
	n := 0
	for _, v := range crd.Spec.Versions {
		if v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		s := strict(v.Schema.OpenAPIV3Schema).(schema)
		s["$schema"] = "http://json-schema.org/draft-04/schema#"
		if err := writeJSON(filepath.Join(out, fileName(crd.Spec.Group, v.Name, crd.Spec.Names.Kind)), s); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("no version with a schema")
	}
	return n, nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
