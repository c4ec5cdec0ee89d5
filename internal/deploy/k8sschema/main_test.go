package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFileNameIsKubeconforms(t *testing.T) {
	require.Equal(t, "service-v1.json", fileName("", "v1", "Service"))
	require.Equal(t, "deployment-apps-v1.json", fileName("apps", "v1", "Deployment"))
	require.Equal(t, "horizontalpodautoscaler-autoscaling-v2.json", fileName("autoscaling", "v2", "HorizontalPodAutoscaler"))
	require.Equal(t, "servicemonitor-monitoring-v1.json", fileName("monitoring.coreos.com", "v1", "ServiceMonitor"))
}

func TestStrictClosesObjects(t *testing.T) {
	var s schema
	require.NoError(t, json.Unmarshal([]byte(`{"type":"object","properties":{
		"port":{"x-kubernetes-int-or-string":true,"type":"string"},
		"labels":{"type":"object","additionalProperties":{"type":"string"}},
		"free":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"a":{"type":"string"}}},
		"note":{"type":"string","nullable":true},
		"properties":{"type":"object","properties":{"x":{"type":"string"}}}}}`), &s))
	s = strict(s).(schema)
	props := s["properties"].(map[string]any)
	require.Equal(t, false, s["additionalProperties"])
	require.NotContains(t, props["port"], "type")
	require.Len(t, props["port"].(map[string]any)["oneOf"], 2)
	require.Equal(t, map[string]any{"type": "string"}, props["labels"].(map[string]any)["additionalProperties"])
	require.NotContains(t, props["free"], "additionalProperties")
	require.Equal(t, []any{"string", "null"}, props["note"].(map[string]any)["type"])
	require.Equal(t, false, props["properties"].(map[string]any)["additionalProperties"], "a property named properties is a schema too")
}

func TestRefsFollowsDefinitionsTransitively(t *testing.T) {
	defs := map[string]schema{
		"A": {"properties": map[string]any{"b": map[string]any{"$ref": "#/definitions/B"}}},
		"B": {"items": map[string]any{"$ref": "#/definitions/C"}},
		"C": {"type": "string"},
		"D": {"type": "string"},
	}
	closure := map[string]any{}
	refs(defs["A"], defs, closure)
	require.Len(t, closure, 2)
	require.Contains(t, closure, "B")
	require.Contains(t, closure, "C")
}
