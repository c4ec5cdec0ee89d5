// Package storetest is the conformance suite every subscription.Store
// implementation must pass. It is test support: production code must not
// import it.
package storetest
