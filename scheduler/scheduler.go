package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/broker"
)

// Defaults of Config.
const (
	DefaultRetention     = 7 * 24 * time.Hour
	DefaultLeaseTTL      = time.Minute
	DefaultRetryInterval = time.Minute
)

// Config configures a Scheduler.
type Config struct {
	// JS reads where DEADLETTERS ends when a run starts. Required.
	JS jetstream.JetStream
	// Runs is the scheduler KV bucket (broker.Broker.Scheduler): one key
	// "run.<id>" per run with its lease and progress. Required.
	Runs jetstream.KeyValue
	// Replayer replays the dead letters of each run. Required.
	Replayer *Replayer
	// At is the local time of the end-of-day replay, "HH:MM". Optional;
	// default DefaultAt.
	At string
	// Location is the time zone of At; the run of a day is named after its
	// date there ("2026-11-24"). Optional; default UTC.
	Location *time.Location
	// Retention is how long a dead letter waits for a replay: each run
	// removes older ones (by the time they were dead-lettered), each after
	// an audit record. Keep it below the DEADLETTERS stream's MaxAge
	// (broker.Topology.DeadLetterRetention, which adds a day) or the stream
	// drops them first, unrecorded. Optional; default DefaultRetention.
	Retention time.Duration
	// LeaseTTL is how long a run's owner holds it without renewing; it
	// renews every third of it while it works, and another replica takes
	// over a run whose lease has lapsed. Optional; default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// RetryInterval is the wait before a failed run is tried again.
	// Optional; default DefaultRetryInterval.
	RetryInterval time.Duration
	// Owner names this replica in run records and logs. Optional; default
	// the host name and a random suffix.
	Owner string
	// Clock is the time source of the schedule, the leases and the
	// retention. Optional; default SystemClock.
	Clock Clock
	// Logger. Optional; default slog.Default().
	Logger *slog.Logger
	// OnRun is called after each run this replica takes up: whether it
	// replayed it, found it done by another replica, or failed. For metrics
	// and tests; it must not block. Optional.
	OnRun func(Report)

	// hooks lets tests stop a run at a chosen point (see export_test.go).
	hooks progress
}

// Report is what became of one run on one replica.
type Report struct {
	// ID names the run: its date in the schedule's zone.
	ID string
	// At is when the run was due.
	At time.Time
	// Acted is true when this replica replayed the run (or the rest of it);
	// false when another replica had done it.
	Acted bool
	// Result is what this replica did.
	Result Result
	// Err is why the run failed; it is tried again after RetryInterval, or
	// resumed by another replica once the lease lapses.
	Err error
}

// Scheduler replays the dead letters at the end of each day. Any number of
// replicas may run; one acts per run (see the package documentation).
type Scheduler struct {
	js        jetstream.JetStream
	runs      jetstream.KeyValue
	replayer  *Replayer
	at        TimeOfDay
	loc       *time.Location
	retention time.Duration
	leaseTTL  time.Duration
	retry     time.Duration
	owner     string
	clock     Clock
	logger    *slog.Logger
	onRun     func(Report)
	hooks     progress
}

// New returns a Scheduler; it does no I/O. Run starts it.
func New(cfg Config) (*Scheduler, error) {
	if cfg.JS == nil || cfg.Runs == nil || cfg.Replayer == nil {
		return nil, errors.New("scheduler: Config.JS, Config.Runs and Config.Replayer are required")
	}
	at, err := ParseTimeOfDay(orDefault(cfg.At, DefaultAt))
	if err != nil {
		return nil, err
	}
	for name, d := range map[string]time.Duration{"Retention": cfg.Retention, "LeaseTTL": cfg.LeaseTTL, "RetryInterval": cfg.RetryInterval} {
		if d < 0 {
			return nil, fmt.Errorf("scheduler: Config.%s is negative (%s)", name, d)
		}
	}
	s := &Scheduler{
		js: cfg.JS, runs: cfg.Runs, replayer: cfg.Replayer, at: at, loc: cfg.Location,
		retention: orDefault(cfg.Retention, DefaultRetention), leaseTTL: orDefault(cfg.LeaseTTL, DefaultLeaseTTL),
		retry: orDefault(cfg.RetryInterval, DefaultRetryInterval), owner: cfg.Owner, clock: cfg.Clock,
		logger: cfg.Logger, onRun: cfg.OnRun, hooks: cfg.hooks,
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.owner == "" {
		s.owner = defaultOwner()
	}
	if s.clock == nil {
		s.clock = SystemClock{}
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.logger = s.logger.With("component", "scheduler", "owner", s.owner)
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "scheduler"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// Next returns when the next end-of-day replay is due.
func (s *Scheduler) Next() time.Time { return NextRun(s.clock.Now(), s.at, s.loc) }

// Owner returns the name of this replica in run records.
func (s *Scheduler) Owner() string { return s.owner }

// Run replays the dead letters every day at the configured time until ctx
// is done, and returns nil then. On start it first takes up the latest run
// that was due, when it is not done: a replica that was down at the end of
// the day catches up at once, and a run interrupted by a crash or a
// restart resumes. A run that fails is tried again after RetryInterval.
func (s *Scheduler) Run(ctx context.Context) error {
	s.logger.Info("scheduler started", "at", s.at.String(), "zone", s.loc.String(), "next", s.Next().Format(time.RFC3339))
	var handled time.Time // the latest run this replica saw to completion
	for {
		now := s.clock.Now()
		if due := prevSlot(now, s.at, s.loc); due.at.After(handled) {
			err := s.runOnce(ctx, due)
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, errLeaseLost):
				s.logger.Warn("replay run taken over by another replica", "run", due.id)
				continue // wait for the new owner to finish (or to lapse)
			case err != nil:
				s.logger.Error("replay run failed; will try again", "run", due.id, "retry_in", s.retry.String(), "err", err)
				if !s.sleep(ctx, s.retry) {
					return nil
				}
				continue
			}
			handled = due.at
			continue // a long run may have reached the next one
		}
		next := nextSlot(now, s.at, s.loc)
		if !s.sleep(ctx, next.at.Sub(now)) {
			return nil
		}
	}
}

// sleep waits d on the clock; false means ctx is done.
func (s *Scheduler) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-s.clock.After(d):
		return true
	}
}

// record is the value of "run.<id>" in the scheduler bucket.
type record struct {
	Owner string `json:"owner"`
	// LeaseUntil is when the owner's lease lapses (by the owner's clock);
	// zero once the owner let go.
	LeaseUntil time.Time `json:"lease_until"`
	// UpTo is the last DEADLETTERS sequence when the run started: the run
	// replays up to it, however often it is resumed.
	UpTo uint64 `json:"up_to"`
	Done bool   `json:"done"`
	// Replayed and Expired add up the attempts of the run, each as of its
	// last save (every third of the lease, every 100 dead letters, and when
	// it stops): a killed attempt's last few are not counted. Kept is what
	// the attempt that finished left in place.
	Replayed   int       `json:"replayed"`
	Kept       int       `json:"kept"`
	Expired    int       `json:"expired"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Resumes counts the takeovers of an interrupted run.
	Resumes int `json:"resumes,omitempty"`
}

// errLeaseLost stops a run whose lease another replica took over.
var errLeaseLost = errors.New("scheduler: lease lost to another replica")

func runKey(id string) string { return "run." + id }

// runOnce sees run sl to completion: it replays it, resumes it, or waits
// for the replica that holds it, and returns nil once the run is done.
func (s *Scheduler) runOnce(ctx context.Context, sl slot) (err error) {
	rep := Report{ID: sl.id, At: sl.at}
	defer func() {
		if s.onRun != nil && ctx.Err() == nil {
			rep.Err = err
			s.onRun(rep)
		}
	}()
	key := runKey(sl.id)
	for {
		now := s.clock.Now()
		entry, err := s.runs.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			upTo, err := s.lastDeadLetter(ctx)
			if err != nil {
				return err
			}
			rec := record{Owner: s.owner, LeaseUntil: now.Add(s.leaseTTL), UpTo: upTo, StartedAt: now}
			rev, err := s.runs.Create(ctx, key, mustJSON(&rec))
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // another replica started it first
			}
			if err != nil {
				return fmt.Errorf("scheduler: start run %s: %w", sl.id, err)
			}
			s.logger.Info("end-of-day replay started", "run", sl.id, "up_to", upTo)
			rep.Acted = true
			rep.Result, err = s.work(ctx, sl, &lease{key: key, rec: rec, rev: rev})
			return err
		}
		if err != nil {
			return fmt.Errorf("scheduler: read run %s: %w", sl.id, err)
		}
		var rec record
		if err := json.Unmarshal(entry.Value(), &rec); err != nil {
			return fmt.Errorf("scheduler: run %s: undecodable record: %w", sl.id, err)
		}
		if rec.Done {
			return nil
		}
		if rec.Owner != s.owner && rec.LeaseUntil.After(now) {
			s.logger.Debug("run held by another replica", "run", sl.id, "holder", rec.Owner, "lease_until", rec.LeaseUntil)
			if !s.waitLease(ctx, key, entry.Revision(), rec.LeaseUntil.Sub(now)) {
				return ctx.Err()
			}
			continue
		}
		// The holder is gone (or it is this replica, after a failure): take over.
		previous := rec.Owner
		rec.Owner, rec.LeaseUntil = s.owner, now.Add(s.leaseTTL)
		rec.Resumes++
		rev, err := s.runs.Update(ctx, key, mustJSON(&rec), entry.Revision())
		if revisionMismatch(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("scheduler: take over run %s: %w", sl.id, err)
		}
		s.logger.Info("end-of-day replay resumed", "run", sl.id, "up_to", rec.UpTo, "previous_owner", previous)
		rep.Acted = true
		rep.Result, err = s.work(ctx, sl, &lease{key: key, rec: rec, rev: rev})
		return err
	}
}

// waitLease waits until the lease of run key lapses (d from now) or the
// record changes after revision rev; false means ctx is done.
func (s *Scheduler) waitLease(ctx context.Context, key string, rev uint64, d time.Duration) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var changed <-chan jetstream.KeyValueEntry
	if w, err := s.runs.Watch(wctx, key); err == nil {
		defer func() { _ = w.Stop() }()
		changed = w.Updates()
	}
	lapsed := s.clock.After(d)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-lapsed:
			return true
		case e, ok := <-changed:
			if !ok {
				changed = nil // watch ended: wait for the lease alone
				continue
			}
			if e != nil && e.Revision() > rev {
				return true
			}
		}
	}
}

// lastDeadLetter is the last sequence of DEADLETTERS.
func (s *Scheduler) lastDeadLetter(ctx context.Context) (uint64, error) {
	st, err := s.js.Stream(ctx, broker.StreamDeadLetters)
	if err != nil {
		return 0, fmt.Errorf("scheduler: dead letters: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("scheduler: dead letters: %w", err)
	}
	return info.State.LastSeq, nil
}

// lease is this replica's hold on a run.
type lease struct {
	key     string
	rec     record
	rev     uint64
	renewAt time.Time
	saved   int // dead letters handled at the last save
}

// work replays run sl up to its UpTo under lease l, renewing the lease as
// it goes, and marks the run done.
func (s *Scheduler) work(ctx context.Context, sl slot, l *lease) (Result, error) {
	now := s.clock.Now()
	l.renewAt = now.Add(s.leaseTTL / 3)
	base := l.rec // counts of earlier, interrupted attempts
	f := Filter{UpTo: l.rec.UpTo, ExpireBefore: now.Add(-s.retention), Origin: "end-of-day replay " + sl.id}
	var res Result
	var err error
	if l.rec.UpTo > 0 {
		res, err = s.replayer.replay(ctx, f, progress{
			afterPublish: s.hooks.afterPublish,
			afterItem: func(ctx context.Context, sofar *Result) error {
				if s.hooks.afterItem != nil {
					if err := s.hooks.afterItem(ctx, sofar); err != nil {
						return err
					}
				}
				return s.renew(ctx, l, base, sofar)
			},
		})
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			s.release(ctx, l, base, &res)
		}
		return res, err
	}
	now = s.clock.Now()
	l.rec.Done, l.rec.FinishedAt, l.rec.LeaseUntil = true, now, now
	l.rec.Replayed, l.rec.Kept, l.rec.Expired = base.Replayed+res.Replayed, res.Kept, base.Expired+res.Expired
	if _, err := s.runs.Update(ctx, l.key, mustJSON(&l.rec), l.rev); err != nil {
		if revisionMismatch(err) {
			// Whoever took over finds nothing left to replay and says so.
			return res, errLeaseLost
		}
		return res, fmt.Errorf("scheduler: finish run %s: %w", sl.id, err)
	}
	s.logger.Info("end-of-day replay done", "run", sl.id, "up_to", l.rec.UpTo, "result", res.String(),
		"replayed_in_run", l.rec.Replayed)
	return res, nil
}

// checkpointEvery is how many handled dead letters make the owner save its
// progress even when the lease does not need renewing yet.
const checkpointEvery = 100

// renew extends the lease when a third of it has passed, and saves the
// progress then and every checkpointEvery dead letters; it fails with
// errLeaseLost when another replica took over.
func (s *Scheduler) renew(ctx context.Context, l *lease, base record, sofar *Result) error {
	now := s.clock.Now()
	handled := sofar.Replayed + sofar.Kept + sofar.Expired
	if now.Before(l.renewAt) && handled-l.saved < checkpointEvery {
		return nil
	}
	l.saved = handled
	l.rec.LeaseUntil = now.Add(s.leaseTTL)
	l.rec.Replayed, l.rec.Expired = base.Replayed+sofar.Replayed, base.Expired+sofar.Expired
	rev, err := s.runs.Update(ctx, l.key, mustJSON(&l.rec), l.rev)
	if revisionMismatch(err) {
		return errLeaseLost
	}
	if err != nil {
		return fmt.Errorf("scheduler: renew lease of %s: %w", l.key, err)
	}
	l.rev, l.renewAt = rev, now.Add(s.leaseTTL/3)
	return nil
}

// release gives up the lease of a run stopped by a shutdown, with the
// progress so far, so that another replica (or the next start) resumes it
// at once instead of when the lease lapses.
func (s *Scheduler) release(ctx context.Context, l *lease, base record, sofar *Result) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	l.rec.LeaseUntil = time.Time{}
	l.rec.Replayed, l.rec.Expired = base.Replayed+sofar.Replayed, base.Expired+sofar.Expired
	if _, err := s.runs.Update(ctx, l.key, mustJSON(&l.rec), l.rev); err != nil {
		s.logger.Warn("could not release the run's lease; it lapses by itself", "key", l.key, "err", err)
		return
	}
	s.logger.Info("end-of-day replay interrupted; released for another replica to resume", "key", l.key)
}

func revisionMismatch(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// mustJSON encodes a record, which always encodes.
func mustJSON(rec *record) []byte {
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	return b
}
