package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookstream/hookstream/internal/broker"
)

const natsUsage = `Usage: hookstream nats [flags]

Runs one embedded NATS server with JetStream, for small deployments and
tests: standalone, or one node of a cluster (--cluster-name, --cluster-listen
and --routes, the same cluster name and routes on every node), or as a
nats-server configuration file says (--config; the flags given override
it, so one file can serve every node).
The roles connect to it with --nats. SIGINT or SIGTERM shuts it down
cleanly (lame duck: clients move to the other nodes first).

Example, three nodes:
  hookstream nats --data /var/lib/n1 --server-name n1 --listen 0.0.0.0:4222 \
    --cluster-name hookstream --cluster-listen 0.0.0.0:6222 \
    --routes nats-route://n1:6222,nats-route://n2:6222,nats-route://n3:6222`

func runNATS(ctx context.Context, args []string, stdio IO) error {
	var cfg broker.EmbeddedConfig
	var routes string
	var logs logFlags
	var mem memoryFlags
	f := newFlags("nats", natsUsage, stdio.Stderr)
	f.str(&cfg.ConfigFile, "config", "HOOKSTREAM_NATS_CONFIG", "", "nats-server configuration file (optional)")
	f.str(&cfg.StoreDir, "data", "HOOKSTREAM_DATA", "./hookstream-nats", "directory for JetStream data (default with --config: the file's jetstream.store_dir)")
	f.str(&cfg.Listen, "listen", "HOOKSTREAM_NATS_LISTEN", "127.0.0.1:4222", "client address, host:port")
	f.str(&cfg.ServerName, "server-name", "HOOKSTREAM_NATS_SERVER_NAME", "", "unique name of this node (required in a cluster)")
	f.str(&cfg.Cluster.Name, "cluster-name", "HOOKSTREAM_NATS_CLUSTER", "", "cluster name, the same on every node (empty: standalone)")
	f.str(&cfg.Cluster.Listen, "cluster-listen", "HOOKSTREAM_NATS_CLUSTER_LISTEN", "0.0.0.0:6222", "route address of this node, host:port")
	f.str(&routes, "routes", "HOOKSTREAM_NATS_ROUTES", "", "route URLs of the cluster's nodes, comma-separated (nats-route://host:6222)")
	f.str(&cfg.MonitorListen, "monitor", "HOOKSTREAM_NATS_MONITOR", "", "address of the monitoring endpoints (/healthz, /jsz), host:port (off when empty)")
	logs.register(f)
	mem.register(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if cfg.ConfigFile != "" {
		// The file says where to listen and keep data unless a flag (or
		// its environment variable) says otherwise; defaults do not.
		if !f.isSet("data", "HOOKSTREAM_DATA") {
			cfg.StoreDir = ""
		}
		if !f.isSet("listen", "HOOKSTREAM_NATS_LISTEN") {
			cfg.Listen = ""
		}
		if !f.isSet("cluster-listen", "HOOKSTREAM_NATS_CLUSTER_LISTEN") {
			cfg.Cluster.Listen = ""
		}
	}
	if cfg.Cluster.Name != "" {
		if cfg.ServerName == "" {
			return badUsage("--server-name is required in a cluster")
		}
		for _, r := range strings.Split(routes, ",") {
			if r = strings.TrimSpace(r); r != "" {
				cfg.Cluster.Routes = append(cfg.Cluster.Routes, r)
			}
		}
		if len(cfg.Cluster.Routes) == 0 {
			return badUsage("--routes is required in a cluster")
		}
	} else if routes != "" {
		return badUsage("--routes needs --cluster-name")
	}
	logger, err := logs.logger(stdio.Stderr)
	if err != nil {
		return err
	}
	if err := mem.apply(logger); err != nil {
		return err
	}
	cfg.Logger = logger
	srv, err := broker.StartEmbedded(cfg)
	if err != nil {
		return err
	}
	mode := "standalone"
	if cfg.Cluster.Name != "" || srv.ClusterName() != "" {
		mode = "cluster " + srv.ClusterName()
	}
	fmt.Fprintf(stdio.Stdout, "Hookstream %s nats %s (%s): clients at %s, JetStream data in %s.\n",
		Version, srv.Name(), mode, srv.ClientURL(), srv.JetStreamConfig().StoreDir)
	<-ctx.Done()
	if mode == "standalone" {
		srv.Shutdown()
	} else {
		srv.LameDuckShutdown() // clients move to the other nodes first
	}
	srv.WaitForShutdown()
	logger.Info("stopped")
	return nil
}
