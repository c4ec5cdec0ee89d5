package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schemas"
)

const publishUsage = `Usage: hookstream publish [flags]

Publishes one event to the EVENTS stream through the producer package (the
same code as POST /v1/events). The event is JSON: either a whole envelope
({"type", "org_id", "data", "id"?, "occurred_at"?}) from --file or stdin, or
--type, --org and --data. Prints {"id", "sequence", "duplicate"}.

Example:
  hookstream publish --type sync.started --org org_42 \
    --data '{"sync_session_id":"ss_1","hrms":"darwinbox"}'`

func runPublish(ctx context.Context, args []string, stdio IO) error {
	var natsURL, tenant, typ, org, data, file, id string
	var timeout time.Duration
	f := newFlags("publish", publishUsage, stdio.Stderr)
	f.str(&natsURL, "nats", "HOOKSTREAM_NATS_URL", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
	f.str(&tenant, "tenant", "HOOKSTREAM_TENANT", "default", "tenant id")
	f.str(&typ, "type", "", "", "event type, e.g. sync.completed")
	f.str(&org, "org", "", "", "org_id of the connected organisation")
	f.str(&data, "data", "", "", "event data as a JSON object")
	f.str(&file, "file", "", "", "read the event envelope from this file (\"-\" = stdin)")
	f.str(&id, "id", "", "", "event id (generated when empty; a repeated id is a duplicate)")
	f.duration(&timeout, "timeout", "", 10*time.Second, "give up after this long")
	if err := f.parse(args); err != nil {
		return err
	}

	var ev schemas.Event
	switch {
	case file != "":
		var r io.Reader = stdio.Stdin
		if file != "-" {
			fh, err := os.Open(file)
			if err != nil {
				return err
			}
			defer fh.Close()
			r = fh
		}
		dec := json.NewDecoder(io.LimitReader(r, 8<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return fmt.Errorf("read event: %w", err)
		}
	case typ != "":
		ev.Type, ev.OrgID = typ, org
		if data != "" {
			if !json.Valid([]byte(data)) {
				return errors.New("--data is not valid JSON")
			}
			ev.Data = json.RawMessage(data)
		}
	default:
		return badUsage("give --type (with --org and --data) or --file")
	}
	if id != "" {
		ev.ID = id
	}
	if ev.TenantID == "" {
		ev.TenantID = tenant
	}
	if strings.HasPrefix(ev.Type, "webhook.") {
		return fmt.Errorf("type %q is reserved for Hookstream's own ping and test events", ev.Type)
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{URLs: natsURL, Name: "hookstream-publish", CreateOnly: true})
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := producer.New(producer.Config{JS: b.JS})
	if err != nil {
		return err
	}
	res, err := p.Publish(ctx, &ev)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdio.Stdout)
	return enc.Encode(res)
}
