package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schemas"
)

// org is a simulated customer organisation and the HRMS it syncs from.
type org struct{ id, name, hrms string }

var orgs = []org{
	{"org_acme", "Acme Logistics", "darwinbox"},
	{"org_globex", "Globex Retail", "keka"},
	{"org_initech", "Initech Software", "bamboohr"},
}

func orgIDs() []string {
	out := make([]string, len(orgs))
	for i, o := range orgs {
		out[i] = o.id
	}
	return out
}

var (
	firstNames  = []string{"Asha", "Ravi", "Meera", "Kiran", "Priya", "Arjun", "Nisha", "Vikram", "Leela", "Sanjay", "Divya", "Rahul"}
	lastNames   = []string{"Iyer", "Sharma", "Nair", "Patel", "Reddy", "Gupta", "Menon", "Das", "Rao", "Singh"}
	departments = []string{"Engineering", "Sales", "Finance", "Operations", "People", "Support"}
	titles      = []string{"Analyst", "Engineer", "Manager", "Associate", "Lead", "Specialist"}
)

// simulate publishes sync sessions until ctx is done. A failed publish is
// logged and the next session starts a little later.
func (d *Demo) simulate(ctx context.Context) {
	for n := 0; ctx.Err() == nil; n++ {
		if err := d.session(ctx, orgs[n%len(orgs)]); err != nil && ctx.Err() == nil {
			d.logger.Warn("demo sync session failed to publish", "err", err)
			if !d.pause(ctx, 10*d.cfg.EventInterval) {
				return
			}
		}
		if !d.pause(ctx, 3*d.cfg.EventInterval) {
			return
		}
	}
}

// session publishes one sync session of o: started, two to five pages of
// employee changes, then completed or (at FailureRate) failed.
func (d *Demo) session(ctx context.Context, o org) error {
	s, err := d.cfg.Producer.StartSync(ctx, producer.SyncConfig{TenantID: d.cfg.TenantID, OrgID: o.id, OrgName: o.name, HRMS: o.hrms, PageSize: 25})
	if err != nil {
		return err
	}
	d.count(func(c *Counts) int { c.Sessions++; return c.Sessions })
	pages := 2 + rand.IntN(4)
	for i := range pages {
		if !d.pause(ctx, d.cfg.EventInterval) {
			return ctx.Err()
		}
		records := employees(o, 5+rand.IntN(21))
		if i == 0 || rand.IntN(2) == 0 {
			err = s.Created(ctx, records)
		} else {
			err = s.Updated(ctx, records)
		}
		if err != nil {
			return err
		}
	}
	if !d.pause(ctx, d.cfg.EventInterval) {
		return ctx.Err()
	}
	if rand.Float64() < d.cfg.FailureRate {
		_, err = s.Fail(ctx, "hrms_timeout", o.hrms+" did not answer within 60 s; the next sync resumes where this one stopped")
	} else {
		_, err = s.Complete(ctx)
	}
	if err != nil {
		return err
	}
	d.count(func(c *Counts) int { c.Finished++; return c.Finished })
	return nil
}

// pause waits for dur; it returns false when ctx ends first.
func (d *Demo) pause(ctx context.Context, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// employees makes n plausible employee records of o.
func employees(o org, n int) []schemas.Employee {
	out := make([]schemas.Employee, n)
	for i := range out {
		first, last := firstNames[rand.IntN(len(firstNames))], lastNames[rand.IntN(len(lastNames))]
		num := rand.IntN(90000) + 10000
		out[i] = schemas.Employee{
			ID:               fmt.Sprintf("emp_%s_%d", o.id[len("org_"):], num),
			RemoteID:         fmt.Sprintf("%s-%d", o.hrms, num),
			FirstName:        first,
			LastName:         last,
			Email:            fmt.Sprintf("%s.%s%d@%s.example", strings.ToLower(first), strings.ToLower(last), num%100, o.id[len("org_"):]),
			EmploymentStatus: "active",
			JobTitle:         titles[rand.IntN(len(titles))],
			Department:       departments[rand.IntN(len(departments))],
			StartDate:        time.Now().AddDate(0, 0, -rand.IntN(2000)).Format(time.DateOnly),
		}
	}
	return out
}
