package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// flags wraps a FlagSet so each flag can take its default from a HOOKSTREAM_*
// environment variable, and --help names that variable.
type flags struct {
	*flag.FlagSet
	errs []error
}

func newFlags(name, usage string, stderr interface{ Write([]byte) (int, error) }) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &flags{FlagSet: fs}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags (each also read from the environment variable shown):\n", strings.TrimSpace(usage))
		fs.PrintDefaults()
	}
	return f
}

func envHelp(env, usage string) string {
	if env == "" {
		return usage
	}
	return usage + " [$" + env + "]"
}

func (f *flags) str(p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok && env != "" {
		def = v
	}
	f.StringVar(p, name, def, envHelp(env, usage))
}

func (f *flags) integer(p *int, name, env string, def int, usage string) {
	if v, ok := os.LookupEnv(env); ok && env != "" {
		if _, err := fmt.Sscan(v, &def); err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %q is not a number", env, v))
		}
	}
	f.IntVar(p, name, def, envHelp(env, usage))
}

func (f *flags) duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(env); ok && env != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %w", env, err))
		}
		def = d
	}
	f.DurationVar(p, name, def, envHelp(env, usage))
}

func (f *flags) boolean(p *bool, name, env string, def bool, usage string) {
	if v, ok := os.LookupEnv(env); ok && env != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %q is not true or false", env, v))
		}
		def = b
	}
	f.BoolVar(p, name, def, envHelp(env, usage))
}

// isSet reports whether the flag name was given on the command line or
// through its environment variable env.
func (f *flags) isSet(name, env string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	if _, ok := os.LookupEnv(env); ok && env != "" {
		set = true
	}
	return set
}

// parse parses args. Its errors are flag.ErrHelp, errUsage (the flag
// package has printed why) or a *usageError for Main to print.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(f.errs) > 0 {
		return badUsage("%v", f.errs[0])
	}
	if f.NArg() > 0 {
		return badUsage("unexpected argument %q", f.Arg(0))
	}
	return nil
}
