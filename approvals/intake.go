package approvals

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
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
	proof IntakeProof // when ok, the token was verified already: only its jti is burned
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
	return s.submitJob(ctx, &intakeJob{token: token, in: in, res: make(chan intakeResult, 1)})
}

// SubmitIntakeProof stores the request an already verified intake token
// asks for (see VerifyIntakeToken): the group-committed writer burns the
// token's jti and stores the request, without verifying the signature
// again — the writer is the bottleneck of intake, so the HTTP goroutines do
// the verification.
func (s *Service) SubmitIntakeProof(ctx context.Context, p IntakeProof, in NewRequest) (Request, error) {
	if !p.ok {
		return Request{}, fmt.Errorf("%w: no verified intake token", ErrUnauthenticated)
	}
	r, _, err := s.submitJob(ctx, &intakeJob{proof: p, in: in, res: make(chan intakeResult, 1)})
	return r, err
}

func (s *Service) submitJob(ctx context.Context, job *intakeJob) (Request, Caller, error) {
	s.intake.once.Do(func() {
		s.intake.jobs = make(chan *intakeJob, 4*maxIntakeBatch)
		go s.runIntake()
	})
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
	if err == nil {
		s.observeIntakeBatch(len(batch))
	}
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
	var caller Caller
	var err error
	if j.proof.ok {
		caller, err = s.burnProof(tx, c.application, j.proof, now)
	} else {
		caller, err = s.authenticate(tx, c.application, j.token, now)
	}
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
	if err := c.pendingRoom(s, t.AppID); err != nil {
		return intakeResult{caller: caller}, fmt.Errorf("submit request: %w", err)
	}
	if err := tx.InsertRequest(req); err != nil {
		return intakeResult{}, errAbortBatch{err}
	}
	if err := s.audit(tx, now, "app:"+t.AppID, NewRequestCreated(req, t)); err != nil {
		return intakeResult{}, errAbortBatch{err}
	}
	return intakeResult{req: req, caller: caller}, nil
}

// authenticate verifies an intake token inside tx and burns its jti. A
// refused token or a replay writes nothing and returns ErrUnauthenticated; a
// failed write returns errAbortBatch.
func (s *Service) authenticate(tx Tx, application func(string) (Application, error), token string, now time.Time) (Caller, error) {
	claims, err := s.verifyIntake(application, token, now)
	if err != nil {
		return Caller{}, err
	}
	if err := tx.UseIntakeJTI(claims.Issuer, claims.ID, claims.ExpiresAt.Time, now); err != nil {
		if errors.Is(err, ErrReplay) {
			return Caller{}, fmt.Errorf("%w: %w: jti %q was already used; sign a fresh token per call", ErrUnauthenticated, ErrReplay, claims.ID)
		}
		return Caller{}, errAbortBatch{err}
	}
	return Caller{AppID: claims.Issuer, Subject: claims.Subject}, nil
}

// verifyIntake checks an intake token's signature and claims against every
// secret the application may use now (see intakeSecrets), without burning
// its jti. The subject must follow the identity profile.
func (s *Service) verifyIntake(application func(string) (Application, error), token string, now time.Time) (tokens.IntakeClaims, error) {
	var firstErr error
	for i := 0; ; i++ {
		more := false
		var app Application
		claims, err := tokens.VerifyIntake(token, tokens.IntakeOptions{
			Issuer: s.issuer,
			Secret: func(appID string) ([]byte, error) {
				a, err := application(appID)
				if err != nil {
					// An unknown application is checked against a decoy
					// secret, so it fails exactly like a wrong secret:
					// nobody learns which application ids exist.
					return s.decoySecret, nil
				}
				app = a
				keys, err := s.intakeSecrets(a, now)
				if err != nil {
					return nil, err
				}
				more = i+1 < len(keys)
				return keys[min(i, len(keys)-1)], nil
			},
			Now:    func() time.Time { return now },
			Leeway: 30 * time.Second,
		})
		if err == nil {
			// Only a caller who holds the secret learns the application is
			// disabled.
			if app.Disabled {
				return tokens.IntakeClaims{}, fmt.Errorf("%w: %w: application %s is disabled; an operator can enable it (jitdesk app enable %s)", ErrUnauthenticated, ErrDisabled, app.ID, app.Name)
			}
			sub, err := CanonicalSubject("the intake token's sub (the user asking)", claims.Subject)
			if err != nil {
				return tokens.IntakeClaims{}, err
			}
			claims.Subject = sub
			return claims, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if !more {
			return tokens.IntakeClaims{}, fmt.Errorf("%w: %w", ErrUnauthenticated, firstErr)
		}
	}
}

// intakeSecrets are the HMAC keys an application may sign intake tokens
// with at now: its secret as printed; for a secret made before that rule
// (raw bytes printed as base64url) also the decoded bytes; and the previous
// secret likewise while a rotation's overlap lasts.
func (s *Service) intakeSecrets(app Application, now time.Time) ([][]byte, error) {
	cur, err := s.unseal(sealAppSecret, app.ID, app.Secret)
	if err != nil {
		return nil, err
	}
	keys := secretForms(cur, app.SecretFormat)
	if len(app.PreviousSecret) > 0 && now.Before(app.PreviousSecretUntil) {
		prev, err := s.unseal(sealAppSecret, app.ID, app.PreviousSecret)
		if err != nil {
			return nil, err
		}
		keys = append(keys, secretForms(prev, app.PreviousSecretFormat)...)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("application %q has no secret", app.ID)
	}
	return keys, nil
}

// secretForms are the HMAC keys one stored secret stands for.
func secretForms(secret []byte, format string) [][]byte {
	if len(secret) == 0 {
		return nil
	}
	if format == SecretRaw {
		return [][]byte{[]byte(base64.RawURLEncoding.EncodeToString(secret)), secret}
	}
	return [][]byte{secret}
}

// PrintedSecret is the secret string an application signs with, as
// `jitdesk app add` and `app secret rotate` print it.
func PrintedSecret(secret []byte, format string) string {
	if format == SecretRaw {
		return base64.RawURLEncoding.EncodeToString(secret)
	}
	return string(secret)
}

// IntakeProof is an intake token VerifyIntakeToken verified (signature,
// claims, subject), not yet burned. Only this package makes one.
type IntakeProof struct {
	caller Caller
	jti    string
	exp    time.Time
	ok     bool
}

// Caller is the application and user the proven token speaks for.
func (p IntakeProof) Caller() Caller { return p.caller }

// VerifyIntakeToken verifies an intake token (signature, claims, subject)
// without burning its jti, so the HTTP layer can apply the calling
// application's limits before the request joins the writer, and then hand
// the proof to SubmitIntakeProof or BurnIntake. It returns the application's
// limits too (zero fields = defaults; see AppLimits.Effective).
func (s *Service) VerifyIntakeToken(ctx context.Context, token string) (IntakeProof, AppLimits, error) {
	var p IntakeProof
	var limits AppLimits
	err := s.store.View(ctx, func(tx ReadTx) error {
		var app Application
		claims, err := s.verifyIntake(func(id string) (Application, error) {
			a, err := tx.Application(id)
			app = a
			return a, err
		}, token, s.Now())
		if err != nil {
			return err
		}
		p = IntakeProof{caller: Caller{AppID: claims.Issuer, Subject: claims.Subject}, jti: claims.ID, exp: claims.ExpiresAt.Time, ok: true}
		limits = app.Limits
		return nil
	})
	return p, limits, err
}

// IntakeCaller is VerifyIntakeToken for callers that need only who calls.
func (s *Service) IntakeCaller(ctx context.Context, token string) (Caller, AppLimits, error) {
	p, limits, err := s.VerifyIntakeToken(ctx, token)
	return p.caller, limits, err
}

// BurnIntake records a verified token's jti, so the token can never be
// used again (ErrUnauthenticated wrapping ErrReplay when it already was).
func (s *Service) BurnIntake(ctx context.Context, p IntakeProof) error {
	if !p.ok {
		return fmt.Errorf("%w: no verified intake token", ErrUnauthenticated)
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		_, err := s.burnProof(tx, tx.Application, p, s.Now())
		return err
	})
	var abort errAbortBatch
	if errors.As(err, &abort) {
		return abort.err
	}
	return err
}

// burnProof burns a proof's jti in tx, once the application is still there
// and enabled (it may have been disabled since the proof was made).
func (s *Service) burnProof(tx Tx, application func(string) (Application, error), p IntakeProof, now time.Time) (Caller, error) {
	app, err := application(p.caller.AppID)
	if err != nil {
		return Caller{}, fmt.Errorf("%w: the application is gone", ErrUnauthenticated)
	}
	if app.Disabled {
		return Caller{}, fmt.Errorf("%w: %w: application %s is disabled; an operator can enable it (jitdesk app enable %s)", ErrUnauthenticated, ErrDisabled, app.ID, app.Name)
	}
	if !now.Before(p.exp.Add(30 * time.Second)) {
		return Caller{}, fmt.Errorf("%w: the intake token expired while waiting; sign a fresh one", ErrUnauthenticated)
	}
	if err := tx.UseIntakeJTI(p.caller.AppID, p.jti, p.exp, now); err != nil {
		if errors.Is(err, ErrReplay) {
			return Caller{}, fmt.Errorf("%w: %w: jti %q was already used; sign a fresh token per call", ErrUnauthenticated, ErrReplay, p.jti)
		}
		return Caller{}, errAbortBatch{err}
	}
	return p.caller, nil
}

// AuthenticateClient checks RFC 6749 client credentials (HTTP Basic with
// the application id and its secret as printed), as off-the-shelf OAuth
// clients send them to introspection and revocation. Any mismatch is
// ErrUnauthenticated without saying which part was wrong.
func (s *Service) AuthenticateClient(ctx context.Context, appID, secret string) (Caller, error) {
	var c Caller
	err := s.store.View(ctx, func(tx ReadTx) error {
		app, err := tx.Application(appID)
		if err != nil || app.Disabled {
			return fmt.Errorf("%w: client credentials do not match an enabled application", ErrUnauthenticated)
		}
		now := s.Now()
		cur, err := s.unseal(sealAppSecret, app.ID, app.Secret)
		if err != nil {
			return err
		}
		ok := subtle.ConstantTimeCompare([]byte(secret), []byte(PrintedSecret(cur, app.SecretFormat))) == 1
		if !ok && len(app.PreviousSecret) > 0 && now.Before(app.PreviousSecretUntil) {
			prev, err := s.unseal(sealAppSecret, app.ID, app.PreviousSecret)
			if err != nil {
				return err
			}
			ok = subtle.ConstantTimeCompare([]byte(secret), []byte(PrintedSecret(prev, app.PreviousSecretFormat))) == 1
		}
		if !ok {
			return fmt.Errorf("%w: client credentials do not match an enabled application", ErrUnauthenticated)
		}
		c = Caller{AppID: app.ID}
		return nil
	})
	return c, err
}

// checkPendingLimit refuses a new request of an application already at
// its pending limit.
func (s *Service) checkPendingLimit(tx Tx, appID string) error {
	app, err := tx.Application(appID)
	if err != nil {
		return err
	}
	limit := app.Limits.Effective(0).MaxPending
	n, err := tx.CountPendingForApp(appID, limit)
	if err != nil {
		return err
	}
	if n >= limit {
		return pendingLimitError(app, limit)
	}
	return nil
}

// pendingLimitError says an application has as many pending requests as it may.
func pendingLimitError(app Application, limit int) error {
	return fmt.Errorf("%w: application %s already has %d pending requests, its limit; decide or cancel some first, or raise it (jitdesk app update %s --max-pending N)", ErrLimit, app.Name, limit, app.Name)
}

// batchReads caches the applications and templates one intake batch reads.
type batchReads struct {
	tx        Tx
	apps      map[string]Application
	templates map[string]Template
	pending   map[string]int // pending requests per application, counted once per batch
}

// pendingRoom refuses a request beyond the application's pending limit,
// counting the requests this batch already added.
func (c *batchReads) pendingRoom(s *Service, appID string) error {
	app, err := c.application(appID)
	if err != nil {
		return err
	}
	limit := app.Limits.Effective(0).MaxPending
	if c.pending == nil {
		c.pending = map[string]int{}
	}
	n, ok := c.pending[appID]
	if !ok {
		if n, err = c.tx.CountPendingForApp(appID, limit); err != nil {
			return errAbortBatch{err}
		}
	}
	if n >= limit {
		return pendingLimitError(app, limit)
	}
	c.pending[appID] = n + 1
	return nil
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
