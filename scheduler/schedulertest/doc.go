// Package schedulertest has test support for the scheduler: a fake Clock
// that moves only when the test says so. Production code must not import it.
package schedulertest
