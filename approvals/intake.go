package approvals

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jitdesk/jitdesk/tokens"
)

// maxIntakeBatch bounds how many submissions share one commit.
const maxIntakeBatch = 128

// intakeJob is one application submission waiting for a shared commit.
type intakeJob struct {
	token string
	in    NewRequest
	res   chan intakeResult
}

type intakeResult struct {
	req    Request
	caller Caller
	err    error
}

// intakeBatcher groups concurrent submissions into one transaction (group
// commit): with synchronous=FULL every commit costs an fsync, so sharing it
// is how a durable intake path goes fast. Each caller is answered only after
// the commit that holds its own row.
type intakeBatcher struct {
	once sync.Once
	jobs chan *intakeJob
}

// SubmitIntake authenticates an application's intake token (burning its jti)
// and stores the request it asks for, in the same transaction. Concurrent
// calls share a commit; the request is durable when this returns.
// The requester is the token's sub and the application its iss; in.AppID and
// in.Requester are ignored.
func (s *Service) SubmitIntake(ctx context.Context, token string, in NewRequest) (Request, Caller, error) {
	s.intake.once.Do(func() {
		s.intake.jobs = make(chan *intakeJob, 4*maxIntakeBatch)
		go s.runIntake()
	})
	job := &intakeJob{token: token, in: in, res: make(chan intakeResult, 1)}
	select {
	case s.intake.jobs <- job:
	case <-ctx.Done():
		return Request{}, Caller{}, ctx.Err()
	}
	select {
	case r := <-job.res:
		return r.req, r.caller, r.err
	case <-ctx.Done():
		// The job may still commit; the caller gave up waiting for it.
		return Request{}, Caller{}, ctx.Err()
	}
}

func (s *Service) runIntake() {
	for first := range s.intake.jobs {
		batch := []*intakeJob{first}
	drain:
		for len(batch) < maxIntakeBatch {
			select {
			case j := <-s.intake.jobs:
				batch = append(batch, j)
			default:
				// Whatever arrived while the previous commit was flushing
				// rides this one; nothing waits for more.
				break drain
			}
		}
		s.commitIntake(batch)
	}
}

// errAbortBatch marks a write failure that must roll the whole batch back.
type errAbortBatch struct{ err error }

func (e errAbortBatch) Error() string { return e.err.Error() }
func (e errAbortBatch) Unwrap() error { return e.err }

func (s *Service) commitIntake(batch []*intakeJob) {
	results := make([]intakeResult, len(batch))
	err := s.store.Update(context.Background(), func(tx Tx) error {
		// Applications and templates do not change inside the transaction,
		// so each is read once per batch rather than once per job.
		c := &batchReads{tx: tx, apps: map[string]Application{}, templates: map[string]Template{}}
		for i, j := range batch {
			r, err := s.intakeOne(c, j)
			var abort errAbortBatch
			if errors.As(err, &abort) {
				return abort.err
			}
			results[i] = intakeResult{req: r.req, caller: r.caller, err: err}
		}
		return nil
	})
	for i, j := range batch {
		if err != nil {
			results[i] = intakeResult{err: fmt.Errorf("submit request: %w", err)}
		}
		j.res <- results[i]
	}
}

// intakeOne authenticates and stores one job inside the shared transaction.
// Errors that wrote nothing (a refused token, a replay, invalid input) fail
// only this job; a failed write aborts the batch (errAbortBatch), so nothing
// is ever half-stored.
func (s *Service) intakeOne(c *batchReads, j *intakeJob) (intakeResult, error) {
	tx := c.tx
	now := s.Now()
	caller, err := s.authenticate(tx, c.application, j.token, now)
	if err != nil {
		return intakeResult{}, err
	}
	t, err := c.template(j.in.TemplateKey)
	if err != nil || t.AppID != caller.AppID {
		// Another application's template is not even acknowledged to exist.
		return intakeResult{caller: caller}, fmt.Errorf("submit request: template %q: %w", j.in.TemplateKey, ErrNotFound)
	}
	in := j.in
	in.AppID, in.Requester = caller.AppID, caller.Subject
	req, err := s.buildRequest(t, in, now)
	if err != nil {
		return intakeResult{caller: caller}, fmt.Errorf("submit request: %w", err)
	}
	if err := tx.InsertRequest(req); err != nil {
		return intakeResult{}, errAbortBatch{err}
	}
	if err := s.audit(tx, now, "app:"+t.AppID, "request.created", req.ID, map[string]any{
		"template": t.Key, "requester": req.Requester, "ttl": req.TTL.String(), "digest": Digest(req, t),
	}); err != nil {
		return intakeResult{}, errAbortBatch{err}
	}
	return intakeResult{req: req, caller: caller}, nil
}

// authenticate verifies an intake token inside tx and burns its jti. A
// refused token or a replay writes nothing and returns ErrUnauthenticated; a
// failed write returns errAbortBatch.
func (s *Service) authenticate(tx Tx, application func(string) (Application, error), token string, now time.Time) (Caller, error) {
	claims, err := tokens.VerifyIntake(token, tokens.IntakeOptions{
		Issuer: s.issuer,
		Secret: func(appID string) ([]byte, error) {
			app, err := application(appID)
			if err != nil {
				return nil, fmt.Errorf("unknown application %q", appID)
			}
			if app.Disabled {
				return nil, fmt.Errorf("application %q is disabled", appID)
			}
			return app.Secret, nil
		},
		Now:    func() time.Time { return now },
		Leeway: 30 * time.Second,
	})
	if err != nil {
		return Caller{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if err := tx.UseIntakeJTI(claims.Issuer, claims.ID, claims.ExpiresAt.Time, now); err != nil {
		if errors.Is(err, ErrReplay) {
			return Caller{}, fmt.Errorf("%w: %w: jti %q was already used; sign a fresh token per call", ErrUnauthenticated, ErrReplay, claims.ID)
		}
		return Caller{}, errAbortBatch{err}
	}
	return Caller{AppID: claims.Issuer, Subject: claims.Subject}, nil
}

// batchReads caches the applications and templates one intake batch reads.
type batchReads struct {
	tx        Tx
	apps      map[string]Application
	templates map[string]Template
}

func (c *batchReads) application(id string) (Application, error) {
	if a, ok := c.apps[id]; ok {
		return a, nil
	}
	a, err := c.tx.Application(id)
	if err == nil {
		c.apps[id] = a
	}
	return a, err
}

func (c *batchReads) template(key string) (Template, error) {
	if t, ok := c.templates[key]; ok {
		return t, nil
	}
	t, err := c.tx.Template(key)
	if err == nil {
		c.templates[key] = t
	}
	return t, err
}
