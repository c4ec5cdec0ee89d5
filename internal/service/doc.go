// Package service runs Hookstream's long-lived parts together: every component
// (router, sender, index, API) exposes Run(ctx) error, and Group runs a set of
// them, stopping all when one fails or the context ends.
package service
