// Package deploy tests the deployment files against the hookstream binary,
// so they cannot drift from it: docker-compose.yml and deploy/nats/nats.conf
// (every command, flag and HOOKSTREAM_* variable is one the binary knows;
// every host, port, file and volume referred to exists), the Kubernetes
// manifests in deploy/k8s (decoded strictly into the Kubernetes API types;
// selectors, probes, ports and config keys agree), and the compose topology
// run as processes: three `hookstream nats --config deploy/nats/nats.conf`
// nodes, the roles with the compose file's commands and environment, and the
// README's walk-through through them. It has no non-test code; its
// subdirectory k8sschema is the command deploy/k8s/validate uses to make the
// schemas kubeconform checks the manifests against.
package deploy
