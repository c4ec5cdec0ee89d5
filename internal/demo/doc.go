// Package demo sits in front of the pipeline in `hookstream dev --demo`: it
// plays an HRMS sync service and two customers' endpoints, so a newcomer who
// opens the console sees live deliveries, a failing endpoint and its dead
// letters without writing anything.
//
//	simulated syncs ──producer.StartSync──▶ EVENTS ──▶ router ──▶ DELIVERIES ──▶ sender
//	                                                                   ├──POST──▶ sample receiver (verifies signatures, 200)
//	                                                                   └──POST──▶ failing endpoint (always 503) ──▶ retries ──▶ DEADLETTERS
//
// Run starts both endpoints on loopback ports, creates (or, after a restart,
// takes over) one webhook to each through the REST API, then publishes sync
// sessions until its context ends: sync.started, a few pages of
// employee.created or employee.updated, then sync.completed or, now and then,
// sync.failed, a few events a second. Nothing bypasses the pipeline: events
// go through the producer, deliveries through the router and the senders.
package demo
