# Tartan's webhook body (docs.hypersync.tartanhq.com, "Webhook events"): one
# flat object with camelCase keys. Values the event does not have are left
# out. requestId is the delivery's id (the same across retries), vendor.orgId
# the tenant, body the employee records (for the types Tartan does not name:
# the data model's changes, the sync's error, or the event's data).
# Times to the millisecond, as most parsers take them (Python before 3.11
# refuses nine digits).
def millis: sub("(?<ms>\\.[0-9]{3})[0-9]+"; "\(.ms)");
.event as $e
| ($e.data // {}) as $d
| ($e.type | split(".")) as [$family, $action]
| {requestId: .delivery.id}
+ ({
    event: .event_name,
    eventType: $family,
    syncSessionId: $d.sync_session_id,
    webhookCounter: $d.webhook_counter,
    orgId: (if $e.org_id == "" then null else $e.org_id end),
    orgName: $d.org_name,
    hrms: $d.hrms,
    status: ($d.status // $action),
    recordCount: $d.record_count,
    newRecords: $d.new_records,
    updatedRecords: $d.updated_records,
    invitedBy: $d.invited_by,
    acceptedBy: $d.accepted_by,
    terminatedBy: $d.terminated_by,
    remote_org_id: $d.remote_org_id,
    timeStamp: ($e.occurred_at | millis),
    vendor: {orgId: $e.tenant_id},
    body: (
      if $family == "employee" then $d.records
      elif $family == "datamodel" then $d.changes
      elif $family == "sync" then $d.error
      elif $family == "connection" then null
      else $e.data end),
    statusCode: ($d.status_code // (if $e.type == "sync.failed" then 500 else 200 end))
  } | with_entries(select(.value != null)))
