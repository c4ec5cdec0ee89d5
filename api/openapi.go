package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc describes every route of the API; TestOpenAPIMatchesRoutes
// keeps it in step with routeTable.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI handles GET /v1/openapi.json.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
	return nil
}
