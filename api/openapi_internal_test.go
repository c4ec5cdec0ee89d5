package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenAPIMatchesRoutes keeps openapi.json in step with routeTable: every
// route is documented, every documented operation is served, and the
// security of each matches who may call it.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI  string `json:"openapi"`
		Security []map[string][]string
		Paths    map[string]map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal(openAPIDoc, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))

	type op struct {
		Security  *[]map[string][]string `json:"security"`
		Responses map[string]any         `json:"responses"`
	}
	documented := map[string]op{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var o op
			require.NoError(t, json.Unmarshal(raw, &o), "%s %s", method, path)
			require.NotEmpty(t, o.Responses, "%s %s has responses", method, path)
			documented[strings.ToUpper(method)+" "+path] = o
		}
	}
	var served []string
	for _, rt := range (&Server{}).routeTable() {
		key := rt.method + " " + rt.path
		served = append(served, key)
		o, ok := documented[key]
		require.True(t, ok, "route %s is missing from openapi.json", key)
		switch rt.access {
		case public:
			require.NotNil(t, o.Security, "%s is public: security: []", key)
			require.Empty(t, *o.Security, "%s is public", key)
		case admin:
			require.NotNil(t, o.Security, "%s needs the admin token", key)
			require.Equal(t, []map[string][]string{{"admin": {}}}, *o.Security, key)
		case tenant:
			require.Nil(t, o.Security, "%s uses the default (tenant bearer) security", key)
		}
	}
	for key := range documented {
		require.True(t, slices.Contains(served, key), "openapi.json documents %s, which is not served", key)
	}
}
