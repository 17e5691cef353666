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
		if bt, ok := tx.(BatchTx); ok {
			return s.intakeBatch(c, bt, batch, results)
		}
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

// BatchTx is what a store's write transaction may offer an intake batch
// beyond Tx: each kind of row written several to a statement (the
// group-committed writer is intake's bottleneck, and a statement costs a
// fixed overhead besides its rows). A Tx without it is written row by row,
// with the same outcome.
type BatchTx interface {
	Tx
	// UseIntakeJTIs records each replay id as UseIntakeJTI does (pruning
	// once). fresh[i] is false when jtis[i] was recorded already, before
	// or earlier in jtis.
	UseIntakeJTIs(jtis []IntakeJTI, now time.Time) (fresh []bool, err error)
	// InsertRequests stores requests as that many InsertRequest calls.
	InsertRequests(reqs []Request) error
	// AppendAuditEvents appends evs as that many AppendAudit calls would
	// (the same seqs and hashes, in order) and returns them as stored.
	AppendAuditEvents(evs []AuditEvent) ([]AuditEvent, error)
}

// IntakeJTI is an intake token's replay id: its application, jti and exp.
type IntakeJTI struct {
	AppID, JTI string
	Exp        time.Time
}

// intakeBatch is the batch's jobs through a BatchTx: the same checks in
// the same order as intakeOne job by job, but each kind of write done for
// the whole batch at once — first every replay id (a job's writes all
// follow its burn), then the requests, then their audit events.
func (s *Service) intakeBatch(c *batchReads, tx BatchTx, batch []*intakeJob, results []intakeResult) error {
	nows := make([]time.Time, len(batch))
	callers := make([]Caller, len(batch))
	var jtis []IntakeJTI
	var burning []int // the job of each jtis entry
	for i, j := range batch {
		nows[i] = s.Now()
		var id IntakeJTI
		var err error
		if j.proof.ok {
			callers[i], err = s.checkProof(tx, c.application, j.proof, nows[i])
			id = IntakeJTI{AppID: j.proof.caller.AppID, JTI: j.proof.jti, Exp: j.proof.exp}
		} else {
			var claims tokens.IntakeClaims
			claims, err = s.verifyIntake(c.application, j.token, nows[i])
			callers[i] = Caller{AppID: claims.Issuer, Subject: claims.Subject}
			id = IntakeJTI{AppID: claims.Issuer, JTI: claims.ID}
			if claims.ExpiresAt != nil {
				id.Exp = claims.ExpiresAt.Time
			}
		}
		if err != nil {
			results[i] = intakeResult{err: err}
			continue
		}
		jtis = append(jtis, id)
		burning = append(burning, i)
	}
	if len(jtis) == 0 {
		return nil
	}
	fresh, err := tx.UseIntakeJTIs(jtis, nows[burning[0]])
	if err != nil {
		return err
	}
	var reqs []Request
	var recs []AuditRecord
	var evs []AuditEvent
	var stored []int // the job of each request
	for k, i := range burning {
		if !fresh[k] {
			results[i] = intakeResult{err: replayError(jtis[k].JTI)}
			continue
		}
		req, t, err := s.intakeRequest(c, batch[i], callers[i], nows[i])
		if err != nil {
			var abort errAbortBatch
			if errors.As(err, &abort) {
				return abort.err
			}
			results[i] = intakeResult{caller: callers[i], err: err}
			continue
		}
		rec := NewRequestCreated(req, t)
		ev, err := NewAuditEvent(nows[i], "app:"+t.AppID, rec)
		if err != nil {
			return fmt.Errorf("audit %s: %w", rec.Action(), err)
		}
		reqs, recs, evs, stored = append(reqs, req), append(recs, rec), append(evs, ev), append(stored, i)
	}
	if len(reqs) == 0 {
		return nil
	}
	if err := tx.InsertRequests(reqs); err != nil {
		return err
	}
	evs, err = tx.AppendAuditEvents(evs)
	if err != nil {
		return fmt.Errorf("audit %s: %w", recs[0].Action(), err)
	}
	for k, i := range stored {
		// The webhook outbox commits with the change and its audit event.
		if err := s.enqueueWebhooks(tx, evs[k], recs[k]); err != nil {
			return fmt.Errorf("audit %s: %w", recs[k].Action(), err)
		}
		results[i] = intakeResult{req: reqs[k], caller: callers[i]}
	}
	return nil
}

// intakeRequest checks a job whose token is burned and builds its
// request: the template must be the caller's, the input valid and the
// application below its pending limit (errAbortBatch when counting failed).
func (s *Service) intakeRequest(c *batchReads, j *intakeJob, caller Caller, now time.Time) (Request, Template, error) {
	t, err := c.template(j.in.TemplateKey)
	if err != nil || t.AppID != caller.AppID {
		// Another application's template is not even acknowledged to exist.
		return Request{}, t, fmt.Errorf("submit request: template %q: %w", j.in.TemplateKey, ErrNotFound)
	}
	in := j.in
	in.AppID, in.Requester = caller.AppID, caller.Subject
	req, err := s.buildRequest(t, in, now)
	if err != nil {
		return Request{}, t, fmt.Errorf("submit request: %w", err)
	}
	if err := c.pendingRoom(s, t.AppID); err != nil {
		var abort errAbortBatch
		if errors.As(err, &abort) {
			return Request{}, t, err
		}
		return Request{}, t, fmt.Errorf("submit request: %w", err)
	}
	return req, t, nil
}

// replayError refuses a token whose jti was used already.
func replayError(jti string) error {
	return fmt.Errorf("%w: %w: jti %q was already used; sign a fresh token per call", ErrUnauthenticated, ErrReplay, jti)
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
	req, t, err := s.intakeRequest(c, j, caller, now)
	if err != nil {
		return intakeResult{caller: caller}, err
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
			return Caller{}, replayError(claims.ID)
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
	// token and version: when the proof was made from cached
	// configuration (version), the token itself, to verify again in the
	// writer should the configuration have moved. A pointer, so that
	// printing a proof shows an address, never the token.
	token   *string
	version int64
}

// Caller is the application and user the proven token speaks for.
func (p IntakeProof) Caller() Caller { return p.caller }

// VerifyIntakeToken verifies an intake token (signature, claims, subject)
// without burning its jti, so the HTTP layer can apply the calling
// application's limits before the request joins the writer, and then hand
// the proof to SubmitIntakeProof or BurnIntake. It returns the application's
// limits too (zero fields = defaults; see AppLimits.Effective).
func (s *Service) VerifyIntakeToken(ctx context.Context, token string) (IntakeProof, AppLimits, error) {
	if p, limits, ok := s.verifyIntakeCached(token); ok {
		return p, limits, nil
	}
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

// verifyIntakeCached verifies token against the application as the
// store's configuration cache holds it, without a transaction. Only a
// success counts (ok): a token refused there may be refused because the
// cache is behind (a rotated secret, an enabled application), so the
// caller then verifies in a transaction, whose answer is the one given.
func (s *Service) verifyIntakeCached(token string) (IntakeProof, AppLimits, bool) {
	cs, ok := s.store.(cachedApplications)
	if !ok {
		return IntakeProof{}, AppLimits{}, false
	}
	var app Application
	var version int64
	hit := false
	claims, err := s.verifyIntake(func(id string) (Application, error) {
		a, v, ok := cs.CachedApplication(id)
		if !ok {
			return Application{}, ErrNotFound
		}
		app, version, hit = a, v, true
		return a, nil
	}, token, s.Now())
	if err != nil || !hit || claims.Issuer != app.ID {
		return IntakeProof{}, AppLimits{}, false
	}
	p := IntakeProof{caller: Caller{AppID: claims.Issuer, Subject: claims.Subject}, jti: claims.ID, exp: claims.ExpiresAt.Time, ok: true,
		token: &token, version: version}
	return p, app.Limits, true
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

// burnProof burns a proof's jti in tx, once checkProof passes.
func (s *Service) burnProof(tx Tx, application func(string) (Application, error), p IntakeProof, now time.Time) (Caller, error) {
	caller, err := s.checkProof(tx, application, p, now)
	if err != nil {
		return Caller{}, err
	}
	if err := tx.UseIntakeJTI(p.caller.AppID, p.jti, p.exp, now); err != nil {
		if errors.Is(err, ErrReplay) {
			return Caller{}, replayError(p.jti)
		}
		return Caller{}, errAbortBatch{err}
	}
	return caller, nil
}

// checkProof is what a proof must still pass in the transaction that burns
// it: the application is still there and enabled (it may have been
// disabled since the proof was made), the token has not expired while it
// waited, and a proof made from cached configuration is verified again
// when the configuration has changed since (or cannot be compared).
func (s *Service) checkProof(tx Tx, application func(string) (Application, error), p IntakeProof, now time.Time) (Caller, error) {
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
	if p.token != nil {
		if cv, ok := tx.(configVersioned); !ok || !sameVersion(cv, p.version) {
			claims, err := s.verifyIntake(application, *p.token, now)
			if err != nil {
				return Caller{}, err
			}
			if claims.Issuer != p.caller.AppID || claims.Subject != p.caller.Subject || claims.ID != p.jti {
				return Caller{}, fmt.Errorf("%w: the intake token no longer verifies as it did", ErrUnauthenticated)
			}
		}
	}
	return p.caller, nil
}

func sameVersion(cv configVersioned, v int64) bool {
	have, ok := cv.ConfigVersion()
	return ok && have == v
}

// configVersioned is a transaction that can tell the configuration
// version it sees (the SQLite store's; see cachedApplications).
type configVersioned interface {
	ConfigVersion() (version int64, ok bool)
}

// cachedApplications is a store that can hand out an application from its
// per-process configuration cache without a transaction, with the
// configuration version it was read at, so an intake token is verified in
// the HTTP goroutine without opening a read transaction per request; the
// burning transaction compares the version (checkProof).
type cachedApplications interface {
	CachedApplication(id string) (app Application, version int64, ok bool)
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
