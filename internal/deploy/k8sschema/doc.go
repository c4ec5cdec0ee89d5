// Command k8sschema writes the JSON schemas that kubeconform checks
// deploy/k8s against, without the network kubeconform would otherwise use:
// one file per kind, named as kubeconform's
// -schema-location '<dir>/{{.ResourceKind}}{{.KindSuffix}}.json' expects.
//
// The Kubernetes kinds come from the OpenAPI document
// (api/openapi-spec/swagger.json) of the Kubernetes release that matches the
// k8s.io/api version in go.mod (v0.X.Y is Kubernetes v1.X.Y), the
// ServiceMonitor and the other Prometheus Operator kinds from its CRDs; both
// modules come from the Go module proxy through `go mod download`. The
// schemas are strict, as kubeconform's published ones are: an object with
// listed properties admits no others, so a misspelt field is an error.
//
//	go run ./internal/deploy/k8sschema -out /tmp/k8s-schemas
//
// deploy/k8s/validate runs it and kubeconform; .ci/run runs that.
package main
