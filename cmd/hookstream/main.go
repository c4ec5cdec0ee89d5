package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // --replay-tz works on images without a zoneinfo database

	"github.com/hookstream/hookstream/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
