package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gossh "golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/tokens"
)

// Names the fixture creates (the application and template are named after
// the run, so a run can also target an existing database).
const (
	loadGroup   = "load"
	driverLogin = "driver" // approves and denies; never holds a session
	actor       = "jitload"
)

// fixture is a fresh database with one application, one Approve template
// decided by the group "load", the driver approver and, for SSH runs,
// approvers with keys.
type fixture struct {
	path   string
	db     *store.DB
	svc    *approvals.Service
	app    approvals.Application
	issuer string
	tmpl   string                        // the template's key
	keys   map[string]ed25519.PrivateKey // SSH approvers' keys by login
}

// newFixture builds the database in dir (or adds to the one at path when
// path is set). sshApprovers approvers named ssh001… get an Ed25519 key each.
func newFixture(ctx context.Context, dir, path, issuer, run string, sshApprovers int) (*fixture, error) {
	if path == "" {
		path = filepath.Join(dir, "jitdesk.db")
	}
	db, err := store.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	f := &fixture{path: path, db: db, issuer: issuer, tmpl: "load-" + run, keys: map[string]ed25519.PrivateKey{}}
	f.svc = approvals.New(db, approvals.Options{Issuer: issuer})
	if err := f.setup(ctx, sshApprovers); err != nil {
		db.Close()
		return nil, fmt.Errorf("fixture: %w", err)
	}
	return f, nil
}

func (f *fixture) setup(ctx context.Context, sshApprovers int) error {
	svc := f.svc
	if _, err := svc.Init(ctx, actor); err != nil {
		return err
	}
	app, err := svc.CreateApplication(ctx, actor, f.tmpl, "https://load.example")
	if err != nil {
		return err
	}
	f.app = app
	// The load generator is one application doing what a whole fleet
	// would: lift its per-application limits so they do not cap the run.
	unlimited := approvals.AppLimits{MaxPending: 1_000_000, RatePerSecond: 100_000, Burst: 1_000_000, MaxLongPolls: 100_000}
	if _, err := svc.UpdateApp(ctx, actor, app.ID, approvals.AppUpdate{Limits: &unlimited}); err != nil {
		return err
	}
	err = svc.AddApprover(ctx, actor, approvals.Approver{Login: driverLogin, Name: "Load Driver", Groups: []string{loadGroup}})
	if err != nil && !errors.Is(err, approvals.ErrConflict) { // an earlier run's driver
		return err
	}
	for i := 1; i <= sshApprovers; i++ {
		login := fmt.Sprintf("ssh%03d", i)
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		sp, err := gossh.NewPublicKey(pub)
		if err != nil {
			return err
		}
		k, err := approvals.ParseSSHKey(string(gossh.MarshalAuthorizedKey(sp)))
		if err != nil {
			return err
		}
		if err := svc.AddApprover(ctx, actor, approvals.Approver{Login: login, Name: fmt.Sprintf("Session %03d", i), Groups: []string{loadGroup}, SSHKeys: []approvals.SSHKey{k}}); err != nil {
			return err
		}
		f.keys[login] = priv
	}
	return svc.AddTemplate(ctx, actor, approvals.Template{
		Key: f.tmpl, AppID: app.ID, Title: "Load exec", Type: approvals.TypeApprove,
		Groups: []string{loadGroup}, DefaultTTL: 30 * time.Minute, MaxTTL: 8 * time.Hour, PendingTimeout: 2 * time.Hour,
		Fields: []approvals.MetadataField{{Name: "namespace"}},
	})
}

func (f *fixture) Close() error { return f.db.Close() }

// minter signs intake tokens for the fixture's application: each with its
// own jti, sub = the run's requester, valid for four minutes.
type minter struct {
	app    approvals.Application
	issuer string
	sub    string
	run    string
	n      int
}

func (m *minter) mint() (string, error) {
	m.n++
	now := time.Now()
	return tokens.SignIntake(m.app.Secret, tokens.IntakeClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: m.app.ID, Subject: m.sub, Audience: jwt.ClaimStrings{m.issuer},
		ID:       fmt.Sprintf("%s-%d", m.run, m.n),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(4 * time.Minute)),
	}})
}

// mintN signs n tokens ahead of a timed phase.
func (m *minter) mintN(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		t, err := m.mint()
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// historyRequesters are the requester names of seeded requests.
var historyRequesters = []string{"priya", "pablo", "mei", "tomas", "zoe", "omar", "grace", "ivan", "jordan", "samir", "lena", "kofi"}

// addHistory stores n requests through the Service's rules and the store's
// batch path (as `jitdesk demo seed` does): the newest pending ones pending
// (created in the last half hour), the rest expired history spread over the
// past year.
func (f *fixture) addHistory(ctx context.Context, n, pending int) error {
	pending = min(pending, n)
	history := n - pending
	now := f.svc.Now()
	start := now.Add(-365 * 24 * time.Hour)
	step := time.Duration(0)
	if history > 0 {
		step = (360 * 24 * time.Hour) / time.Duration(history)
	}
	const batch = 10_000
	for done := 0; done < n; {
		size := min(batch, n-done)
		ins := make([]approvals.NewRequest, size)
		at := make([]time.Time, size)
		for i := range ins {
			k := done + i
			ins[i] = approvals.NewRequest{TemplateKey: f.tmpl, Requester: historyRequesters[k%len(historyRequesters)],
				Reason: fmt.Sprintf("seeded request %d", k), Metadata: map[string]string{"namespace": "ns" + fmt.Sprint(k%50)}}
			if k < history {
				at[i] = start.Add(time.Duration(k) * step)
			} else {
				at[i] = now.Add(-30 * time.Minute).Add(time.Duration(k-history) * 30 * time.Minute / time.Duration(max(pending, 1)))
			}
		}
		reqs, evs, err := f.svc.PrepareRequests(ctx, ins, at)
		if err != nil {
			return fmt.Errorf("seed history: %w", err)
		}
		for i := range reqs {
			if done+i >= history {
				continue
			}
			r := &reqs[i]
			r.Status, r.DecidedAt, r.DecidedBy = approvals.StatusExpired, r.ExpiresAt, approvals.SystemSweeper
			ev, err := approvals.NewAuditEvent(r.ExpiresAt, approvals.SystemSweeper, approvals.NewRequestExpired(*r))
			if err != nil {
				return fmt.Errorf("seed history: %w", err)
			}
			evs = append(evs, ev)
		}
		if err := f.db.BulkInsertRequests(ctx, reqs, evs); err != nil {
			return fmt.Errorf("seed history: %w", err)
		}
		done += size
	}
	return nil
}
