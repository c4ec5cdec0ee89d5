// Package scheduler sits at the end of the delivery flow: it takes what the
// senders gave up on from the DEADLETTERS stream and re-enqueues it on
// DELIVERIES, at the end of every day and on demand.
//
//	sender ──gave up──▶ DEADLETTERS ──▶ scheduler (end of day, or now) ──▶ DELIVERIES ──▶ sender
//	                                        │ expired, replay runs ──▶ AUDIT
//	                                        │ run leases ──▶ KV scheduler
//
// # Replaying
//
// A Replayer walks DEADLETTERS oldest first and, for each dead letter the
// Filter selects, publishes its delivery again with a fresh attempt budget
// (no attempts, no history, Replays+1) and the same delivery id, so the
// receiver sees the same webhook-id and can deduplicate. It then removes the
// dead letter. The delivery continues the trace (traceparent) the dead
// letter carries. Dead letters of deleted or disabled webhooks are kept and
// counted by reason (KeptReason): re-enable the webhook and replay them.
// The API (POST /v1/dead-letters/replay) and `hookstream replay` use a
// Replayer scoped to one tenant.
//
// Each replayed delivery carries Nats-Msg-Id "<delivery id>:r<dead letter
// sequence>". Publishing comes before removing, so nothing is lost when a
// replay stops between the two, and the id makes the stream drop the second
// copy when the replay is run again, or when two replays race over the same
// dead letter, within the DELIVERIES dedupe window (broker.Topology
// .DedupeWindow, 10 minutes by default). A run resumed later than that can
// queue at most the one dead letter that was in between twice; receivers
// still see the same webhook-id.
//
// # The end-of-day run
//
// A Scheduler runs a replay of every tenant's dead letters once a day at a
// local time (Config.At, default 23:59) in a time zone (Config.Location,
// default UTC). The run of a day is named after its date in that zone, and
// recorded in the scheduler KV bucket under "run.<date>":
//
//	{"owner", "lease_until", "up_to", "done", "replayed", "kept", "expired", "started_at", "finished_at"}
//
// Any number of replicas may run the scheduler; exactly one acts per run.
// The first to create the record (KV Create) owns the run and renews its
// lease (LeaseTTL, default one minute) every third of it while it works; the
// others wait. A replica takes over a run only when its lease has lapsed, by
// a KV Update against the record's revision, so two replicas cannot both
// take over, and an owner whose renewal loses that race stops. up_to, the
// last dead-letter sequence when the run started, is kept across takeovers:
// a resumed run replays exactly what the first attempt would have, and
// dead letters written since wait for the next day. An owner stopped by
// its context releases the lease at once so the next start resumes the run
// without waiting for it to lapse.
//
// On start, a scheduler takes up the latest run that was due if it is not
// done, so a run missed while every replica was down (or interrupted)
// happens as soon as one is back. Only the latest: a run replays every dead
// letter, so it covers the runs it missed.
//
// Each run also removes the dead letters older than Config.Retention
// (default 7 days), each after a schemas.AuditDeadLetterExpired record, and
// every replay writes one schemas.AuditReplayRun record per tenant touched.
//
// # Time
//
// The schedule, the leases and the retention read a Clock. Tests inject
// schedulertest.Clock and move a whole day on without waiting; NextRun is
// the schedule as a pure function, for the API's next_replay_at.
package scheduler
