# Teal's webhook body (Teal webhooks, "Webhook Example"): the event, the
# respective user's information, and the payroll data entry under payload
# when the webhook includes the payload (include_payload, off by default).
# When the payroll came from an uploaded payslip account_id is null and
# document_external_id and document_filename are set. For the types Teal
# does not have, the identifying fields are the event's own (its thin data).
# Times to the millisecond, as most parsers take them (Python before 3.11
# refuses nine digits).
def millis: sub("(?<ms>\\.[0-9]{3})[0-9]+"; "\(.ms)");
.event as $e
| ($e.data // {}) as $d
| {
    "payroll.submitted": ["user_id", "account_id", "document_external_id", "document_filename", "payroll_id"]
  }[$e.type] as $ids
| {
    event: .event_name,
    event_id: $e.id,
    created_at: ($e.occurred_at | millis)
  }
+ (if $ids then reduce $ids[] as $k ({}; .[$k] = $d[$k])
   elif .webhook.include_payload then {}
   else $d end)
+ (if .webhook.include_payload and $e.data then {payload: $e.data} else {} end)
