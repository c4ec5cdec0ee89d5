// Package testproc is what the tests that run the hookstream binary as a
// process share: a TestMain that builds into a temporary directory and
// checks for leaked goroutines, the module's root, and a buffer a process
// may write while a test reads it. It sits outside the delivery flow; only
// tests import it.
package testproc
