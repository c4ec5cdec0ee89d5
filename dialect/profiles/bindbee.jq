# Bindbee's webhook body (docs.bindbee.dev, "Webhooks"): the webhook that
# fired, the connector whose data changed, and the affected data.
#   webhook    {webhook_id, url, event}
#   connector  {id, display_name, categories, org_name, connector_status,
#               end_user_name, end_user_email}, from the event's
#               data.connector (and data.org_name); left out without them
#   data       a sync job for sync events ({id, integration_name,
#              initial_sync, category, display_status, last_sync_start_time,
#              ...}); the records for employee events; the model's changes
#              for data model events; the event's data otherwise.
# Values the event does not have are left out.
def compact: with_entries(select(.value != null));
.event as $e
| ($e.data // {}) as $d
| ($d.connector // {}) as $c
| ($e.type | split(".")) as [$family, $action]
| {
    webhook: {webhook_id: .webhook.id, url: .webhook.url, event: .event_name}
  }
+ ({
    connector: ({
      id: $c.id,
      display_name: $c.display_name,
      categories: $c.categories,
      org_name: ($c.org_name // $d.org_name),
      connector_status: $c.status,
      end_user_name: $c.end_user_name,
      end_user_email: $c.end_user_email
    } | compact | if . == {} then null else . end),
    data: (
      if $family == "sync" then {
        id: $d.sync_session_id,
        integration_name: $d.hrms,
        initial_sync: $d.initial_sync,
        category: (($c.categories // ["HRIS"])[0]),
        display_status: ({started: "Syncing", completed: "Synced", failed: "Error"}[$action]),
        last_sync_start_time: $d.started_at,
        last_sync_end_time: $d.completed_at,
        record_count: $d.record_count,
        new_records: $d.new_records,
        updated_records: $d.updated_records,
        error: $d.error
      } | compact
      elif $family == "employee" then {
        model: "employee",
        change: $action,
        sync_session_id: $d.sync_session_id,
        page: $d.webhook_counter,
        record_count: $d.record_count,
        records: $d.records
      } | compact
      elif $family == "datamodel" then {
        model: $d.model,
        integration_name: $d.hrms,
        sync_session_id: $d.sync_session_id,
        changes: $d.changes
      } | compact
      else $e.data end)
  } | compact)
