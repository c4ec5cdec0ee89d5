// Package streamlog reads one subject filter of a JetStream stream as a log,
// for the parts that show or walk what the pipeline stored: the API's delivery
// log (ATTEMPTS) and dead-letter listing (DEADLETTERS), and the scheduler's
// replay walk over DEADLETTERS.
//
// Two reads are offered, both on an ephemeral ordered consumer that is
// removed when the read ends:
//
//	Scan        oldest first over a sequence range, calling a function per message
//	ReadNewest  the newest matches first, one page at a time, with a cursor
//
// Both stop at the filter's last message when they start, so a busy subject
// never keeps a read going, and neither blocks on an empty subject or on
// messages deleted while the read is under way. Work-queue streams
// (DELIVERIES) refuse ordered consumers: read those with Stream.GetMsg.
package streamlog
