# TruTac's webhook body (TruTac webhooks, "Payloads"): the action, and the
# object it happened to under its entity's name, with camelCase keys:
#   {"action": "created", "clocking": {"id", "driverId",
#    "clockingTimeStamp", "isClockIn"}}
# The entity is the event type's family (clocking, employee, sync, ...); for
# a clocking it is data.clocking, for the other types the event's data.
def camel:
  {clocking_timestamp: "clockingTimeStamp"}[.]
  // (split("_") | .[0] + ([.[1:][] | (.[:1] | ascii_upcase) + .[1:]] | join("")));
def camelkeys:
  if type == "object" then with_entries(.key |= camel | .value |= camelkeys)
  elif type == "array" then map(camelkeys)
  else . end;
.event as $e
| ($e.data // {}) as $d
| ($e.type | split(".")) as [$family, $action]
| {
    action: ($d.action // $action),
    ($family): ((if $d[$family] | type == "object" then $d[$family] else $d end) | camelkeys)
  }
