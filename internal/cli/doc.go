// Package cli is the hookstream command: one binary with a subcommand per role.
// cmd/hookstream/main.go only calls Main.
package cli
