package httpapi

import (
	_ "embed"
	"net/http"
	"strconv"
)

// OpenAPIDocument is the OpenAPI 3 contract of the /v0.1 API, kept in the
// repository as openapi.json and served at /openapi.json.
//
//go:embed openapi.json
var OpenAPIDocument []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(OpenAPIDocument)))
	_, _ = w.Write(OpenAPIDocument)
}
