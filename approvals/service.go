package approvals

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/tokens"
)

// DefaultIssuer is the iss of access tokens and the aud of intake tokens
// when the operator configures none.
const DefaultIssuer = "urn:jitdesk"

// Limits on request input. Anything larger is refused with ErrInvalid, so a
// hostile application cannot fill the database or the approver's screen.
const (
	MaxRequesterLen = 128
	MaxReasonLen    = 2000
	MaxMetadataKeys = 32
	MaxMetadataKey  = 64
	MaxMetadataVal  = 1024
	MaxCommentLen   = 2000
)

// Options configure a Service.
type Options struct {
	// Clock is the time source; SystemClock when nil.
	Clock Clock
	// Issuer is the iss of access tokens and the required aud of intake tokens.
	Issuer string
	// Entropy feeds id generation; crypto/rand when nil.
	Entropy io.Reader
	// Sealer seals secrets at rest with the master key kept outside the
	// database; nil stores new secrets in plaintext (tests) and cannot
	// open sealed ones.
	Sealer *tokens.Sealer
	// UserCA vouches for the SSH user certificates approvers log in and
	// key-sign with (serve --ssh-user-ca); nil trusts no certificate.
	UserCA UserCA
	// Observers hear every committed change (metrics, the security log).
	Observers []Observer
}

// Service is the only way to change jitdesk's state. Every rule is checked
// inside the same store transaction as the write it guards.
type Service struct {
	store  Store
	clock  Clock
	issuer string
	sealer *tokens.Sealer
	// decoySecret stands in for an unknown application's secret (see
	// verifyIntake).
	decoySecret []byte

	// The id source and the parsed-key cache are shared with the
	// transaction-scoped copies Administer makes, hence pointers.
	idMu    *sync.Mutex
	entropy *ulid.MonotonicEntropy

	keyMu *sync.Mutex
	keys  map[string]tokens.Key // parsed private keys by kid; key material never changes

	intake *intakeBatcher

	hookRound *atomic.Uint64 // rotates which hook webhook claims start from (shared like idMu)

	userCA    UserCA
	observers []Observer
}

// New returns a Service over store.
func New(store Store, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Issuer == "" {
		opts.Issuer = DefaultIssuer
	}
	if opts.Entropy == nil {
		opts.Entropy = rand.Reader
	}
	decoy, err := tokens.NewSecret()
	if err != nil {
		panic(fmt.Sprintf("approvals: no randomness for the decoy secret: %v", err))
	}
	if len(opts.Observers) > 0 {
		store = observedStore{Store: store, observers: opts.Observers}
	}
	return &Service{
		userCA:      opts.UserCA,
		observers:   opts.Observers,
		decoySecret: decoy,
		store:       store,
		clock:       opts.Clock,
		issuer:      opts.Issuer,
		sealer:      opts.Sealer,
		idMu:        &sync.Mutex{},
		entropy:     ulid.Monotonic(opts.Entropy, 0),
		keyMu:       &sync.Mutex{},
		keys:        map[string]tokens.Key{},
		intake:      &intakeBatcher{},
		hookRound:   &atomic.Uint64{},
	}
}

// Issuer is the iss of the access tokens this service issues.
func (s *Service) Issuer() string { return s.issuer }

// Now is the service clock's current time (UTC), for callers that render
// countdowns against the same clock the rules use.
func (s *Service) Now() time.Time { return s.clock.Now().UTC() }

// Subscribe returns a channel that receives a value soon after anything is
// written to the store by any process, and a function to stop.
func (s *Service) Subscribe() (<-chan struct{}, func()) { return s.store.Subscribe() }

func (s *Service) newID() string { return s.newIDAt(s.clock.Now()) }

// newIDAt returns a ULID for time t: ids sort by creation time.
func (s *Service) newIDAt(t time.Time) string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), s.entropy).String()
}

// audit appends one event in tx, and enqueues the webhook event announcing
// it when it is one (see webhook.go). Payload values must never include
// tokens or secrets.
func (s *Service) audit(tx Tx, at time.Time, actor string, rec AuditRecord) error {
	ev, err := NewAuditEvent(at, actor, rec)
	if err != nil {
		return err
	}
	if ev, err = tx.AppendAudit(ev); err != nil {
		return fmt.Errorf("audit %s: %w", rec.Action(), err)
	}
	// The webhook outbox commits with the change and its audit event, or not at all.
	if err := s.enqueueWebhooks(tx, ev, rec); err != nil {
		return fmt.Errorf("audit %s: %w", rec.Action(), err)
	}
	return nil
}

var (
	loginRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	keyRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	nameRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)
	fieldRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)
)

// ValidLogin reports whether login is acceptable as an approver login or group
// name: lower-case letters, digits, '.', '_' and '-', up to 64, starting with a
// letter or digit.
func ValidLogin(login string) bool { return loginRe.MatchString(login) }

// CreateApplication registers an application and returns it with its intake
// secret, which is shown once and cannot be read back through the CLI.
func (s *Service) CreateApplication(ctx context.Context, actor, name, audience string) (Application, error) {
	name = strings.TrimSpace(name)
	audience = strings.TrimSpace(audience)
	if !nameRe.MatchString(name) {
		return Application{}, invalidf("application name %q: use 1-64 letters, digits, spaces, '.', '_' or '-'", name)
	}
	if audience == "" || len(audience) > 256 || hasControl(audience) {
		return Application{}, invalidf("audience %q: give the aud that services expect in tokens (1-256 printable characters)", audience)
	}
	secret, err := newPrintedSecret()
	if err != nil {
		return Application{}, fmt.Errorf("create application %s: %w", name, err)
	}
	now := s.Now()
	app := Application{ID: "app_" + strings.ToLower(s.newID()), Name: name, Audience: audience, Secret: secret, SecretFormat: SecretPrinted, CreatedAt: now}
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.ApplicationByName(name); err == nil {
			return fmt.Errorf("%w: application %q", ErrConflict, name)
		}
		stored := app
		var err error
		if stored.Secret, err = s.seal(sealAppSecret, app.ID, app.Secret); err != nil {
			return err
		}
		if err := tx.InsertApplication(stored); err != nil {
			return err
		}
		return s.audit(tx, now, actor, NewConfigChange(ActionApplicationCreated, app.ID, NewApplicationState(app), nil))
	})
	if err != nil {
		return Application{}, fmt.Errorf("create application %s: %w", name, err)
	}
	return app, nil
}

// ParseSSHKey parses one authorized_keys line and computes its fingerprint.
func ParseSSHKey(line string) (SSHKey, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return SSHKey{}, invalidf("ssh public key: %v (give one line in OpenSSH authorized_keys format)", err)
	}
	return SSHKey{Fingerprint: ssh.FingerprintSHA256(pub), AuthorizedKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))}, nil
}

// AddApprover registers an approver.
func (s *Service) AddApprover(ctx context.Context, actor string, a Approver) error {
	a.Name = strings.TrimSpace(a.Name)
	a.Email = strings.TrimSpace(a.Email)
	if !ValidLogin(a.Login) {
		return invalidf("approver login %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", a.Login)
	}
	if ReservedLogin(a.Login) {
		return invalidf("approver login %q is reserved for jitdesk's own actors (the sweeper, the issuer, applications, operators); choose the person's own login", a.Login)
	}
	if err := checkPersonName(a.Login, a.Name); err != nil {
		return err
	}
	if err := checkEmail(a.Login, a.Email); err != nil {
		return err
	}
	for _, g := range a.Groups {
		if !ValidLogin(g) {
			return invalidf("approver %s: group %q: use lower-case letters, digits, '.', '_' or '-'", a.Login, g)
		}
	}
	a.Groups = dedupe(a.Groups)
	a.CreatedAt = s.Now()
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Approver(a.Login); err == nil {
			return fmt.Errorf("%w: approver %q", ErrConflict, a.Login)
		}
		if err := tx.InsertApprover(a); err != nil {
			return err
		}
		return s.audit(tx, a.CreatedAt, actor, NewConfigChange(ActionApproverAdded, a.Login, NewApproverState(a), nil))
	})
	if err != nil {
		return fmt.Errorf("add approver %s: %w", a.Login, err)
	}
	return nil
}

// Template defaults applied when a template leaves them unset.
const (
	DefaultGrantTTL       = time.Hour
	DefaultMaxGrantTTL    = 8 * time.Hour
	DefaultPendingTimeout = 24 * time.Hour
)

// AddTemplate registers a template after checking it can ever be satisfied.
func (s *Service) AddTemplate(ctx context.Context, actor string, t Template) error {
	t.CreatedAt = s.Now()
	t.CreatedBy = actor
	t.Version = 1
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Template(t.Key); err == nil {
			return fmt.Errorf("%w: template %q", ErrConflict, t.Key)
		}
		if err := s.checkTemplate(tx, &t); err != nil {
			return err
		}
		if err := tx.InsertTemplate(t); err != nil {
			return err
		}
		return s.audit(tx, t.CreatedAt, actor, NewConfigChange(ActionTemplateAdded, t.Key, NewTemplateState(t), nil))
	})
	if err != nil {
		return fmt.Errorf("add template %s: %w", t.Key, err)
	}
	return nil
}

// templateTerms are a template's terms as audited.
func templateTerms(t Template) map[string]any {
	fields := make([]map[string]any, 0, len(t.Fields))
	for _, f := range t.Fields {
		fields = append(fields, map[string]any{"name": f.Name, "default": f.Default, "required": f.Required})
	}
	sorted := func(ss []string) []string {
		out := append([]string{}, ss...)
		slices.Sort(out)
		return out
	}
	terms := map[string]any{
		"app": t.AppID, "name": t.Name, "title": t.Title, "type": string(t.Type), "quorum": t.Quorum, "approvers": sorted(t.Approvers), "groups": sorted(t.Groups), "oncall": sorted(t.OnCall),
		"fields": fields, "min_reason": t.MinReason,
		"default_ttl": t.DefaultTTL.String(), "max_ttl": t.MaxTTL.String(), "pending_timeout": t.PendingTimeout.String(), "break_glass_max_ttl": t.BreakGlassMaxTTL.String(),
		"break_glass_groups": sorted(t.BreakGlassGroups), "escalate_after": t.EscalateAfter.String(), "escalate_group": t.EscalateGroup, "version": max(t.Version, 1),
	}
	// Only when set, so the terms of templates recorded before the
	// requirement existed read the same as before.
	if t.RequireKeySignature {
		terms["require_key_signature"] = true
	}
	return terms
}

// templateDiff lists the terms that differ between two versions, as
// {"field": {"from": …, "to": …}}.
func templateDiff(a, b Template) map[string]any {
	ta, tb := templateTerms(a), templateTerms(b)
	out := map[string]any{}
	for k, va := range ta {
		if k == "version" {
			continue
		}
		if fmt.Sprint(va) != fmt.Sprint(tb[k]) {
			out[k] = map[string]any{"from": va, "to": tb[k]}
		}
	}
	return out
}

// checkTemplate applies every rule a template's terms must meet (for a new
// template and for each new version), normalising t in place: defaults
// filled, lists deduplicated, the application resolved, named approvers,
// groups and rotations checked, the escalation cap derived.
func (s *Service) checkTemplate(tx Tx, tp *Template) error {
	t := *tp
	if err := normalizeTemplate(&t); err != nil {
		return err
	}
	app, err := s.findApp(tx, t.AppID)
	if err != nil {
		return err
	}
	t.AppID = app.ID
	for _, login := range t.Approvers {
		if _, err := tx.Approver(login); err != nil {
			return fmt.Errorf("approver %q: %w (add them first with: jitdesk approver add %s --name ...)", login, err, login)
		}
	}
	t.EscalateCap = 0
	for _, r := range t.OnCall {
		rot, err := tx.Rotation(r, t.CreatedAt)
		if err != nil {
			return fmt.Errorf("rotation %q: %w (add it first with: jitdesk oncall add %s ...)", r, err, r)
		}
		if t.EscalateAfter > 0 {
			t.EscalateCap = max(t.EscalateCap, len(rot.Members)-1)
		}
	}
	if t.EscalateAfter > 0 && t.EscalateGroup != "" {
		t.EscalateCap = max(t.EscalateCap, 1)
	}
	if len(t.Groups) == 0 && len(t.OnCall) == 0 && t.Quorum > len(t.Approvers) {
		return invalidf("quorum %d needs more approvers than the %d named", t.Quorum, len(t.Approvers))
	}
	*tp = t
	return nil
}

// normalizeTemplate is checkTemplate's part that needs no store.
func normalizeTemplate(tp *Template) error {
	t := *tp
	if !keyRe.MatchString(t.Key) {
		return invalidf("template key %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", t.Key)
	}
	t.Title = strings.TrimSpace(t.Title)
	t.Name = strings.TrimSpace(t.Name)
	if t.Title == "" || len(t.Title) > 128 || hasControl(t.Title) {
		return invalidf("template %s: --title is required (1-128 printable characters)", t.Key)
	}
	if t.Name == "" {
		t.Name = t.Title
	}
	if len(t.Name) > 128 || hasControl(t.Name) {
		return invalidf("template %s: name must be 1-128 printable characters", t.Key)
	}
	if err := checkOperatorText("template "+t.Key+" title", t.Title); err != nil {
		return err
	}
	if err := checkOperatorText("template "+t.Key+" name", t.Name); err != nil {
		return err
	}
	for _, g := range t.BreakGlassGroups {
		if !ValidLogin(g) {
			return invalidf("template %s: break-glass group %q: use lower-case letters, digits, '.', '_' or '-'", t.Key, g)
		}
	}
	t.BreakGlassGroups = dedupe(t.BreakGlassGroups)
	if _, err := ParseTemplateType(string(t.Type)); err != nil {
		return fmt.Errorf("template %s: %w", t.Key, err)
	}
	t.Approvers = dedupe(t.Approvers)
	t.Groups = dedupe(t.Groups)
	t.OnCall = dedupe(t.OnCall)
	if len(t.Approvers) == 0 && len(t.Groups) == 0 && len(t.OnCall) == 0 {
		return invalidf("template %s: name at least one --approver, --group or --oncall rotation, or nobody could ever approve it", t.Key)
	}
	if t.Quorum == 0 {
		t.Quorum = 1
	}
	if t.Quorum < 1 || t.Quorum > 20 {
		return invalidf("template %s: quorum %d must be between 1 and 20", t.Key, t.Quorum)
	}
	if t.DefaultTTL == 0 {
		t.DefaultTTL = DefaultGrantTTL
	}
	if t.MaxTTL == 0 {
		t.MaxTTL = max(DefaultMaxGrantTTL, t.DefaultTTL)
	}
	if t.PendingTimeout == 0 {
		t.PendingTimeout = DefaultPendingTimeout
	}
	if t.DefaultTTL < time.Minute || t.MaxTTL < time.Minute || t.PendingTimeout < time.Minute {
		return invalidf("template %s: ttl, max ttl and pending timeout must each be at least 1m", t.Key)
	}
	if t.DefaultTTL > t.MaxTTL {
		return invalidf("template %s: default ttl %s is longer than max ttl %s", t.Key, FormatDuration(t.DefaultTTL), FormatDuration(t.MaxTTL))
	}
	if t.BreakGlassMaxTTL < 0 || (t.BreakGlassMaxTTL > 0 && t.BreakGlassMaxTTL < time.Minute) {
		return invalidf("template %s: break-glass max ttl must be at least 1m", t.Key)
	}
	if t.EscalateAfter != 0 {
		if t.EscalateAfter < time.Minute {
			return invalidf("template %s: escalate-after must be at least 1m", t.Key)
		}
		if len(t.OnCall) == 0 && t.EscalateGroup == "" {
			return invalidf("template %s: escalation needs an --oncall rotation or an --escalate-group to escalate to", t.Key)
		}
	}
	if t.EscalateGroup != "" && !ValidLogin(t.EscalateGroup) {
		return invalidf("template %s: escalate group %q: use lower-case letters, digits, '.', '_' or '-'", t.Key, t.EscalateGroup)
	}
	if t.MinReason < 0 || t.MinReason > MaxReasonLen {
		return invalidf("template %s: min reason %d must be between 0 and %d", t.Key, t.MinReason, MaxReasonLen)
	}
	seen := map[string]bool{}
	for i, f := range t.Fields {
		if !fieldRe.MatchString(f.Name) {
			return invalidf("template %s: field name %q: use letters, digits, '_', '.', '-'", t.Key, f.Name)
		}
		if seen[f.Name] {
			return invalidf("template %s: field %q given twice", t.Key, f.Name)
		}
		if len(f.Default) > MaxMetadataVal || hasControl(f.Default) {
			return invalidf("template %s: default of field %q is too long or has control characters", t.Key, f.Name)
		}
		seen[f.Name] = true
		t.Fields[i] = f
	}
	if len(t.Fields) > MaxMetadataKeys {
		return invalidf("template %s: at most %d fields", t.Key, MaxMetadataKeys)
	}
	*tp = t
	return nil
}

// findApp resolves an application by id or by name.
func (s *Service) findApp(tx ReadTx, idOrName string) (Application, error) {
	if idOrName == "" {
		return Application{}, invalidf("application is required")
	}
	if app, err := tx.Application(idOrName); err == nil {
		return app, nil
	}
	app, err := tx.ApplicationByName(idOrName)
	if err != nil {
		return Application{}, fmt.Errorf("application %q: %w", idOrName, err)
	}
	return app, nil
}

// Application returns an application by id or name.
func (s *Service) Application(ctx context.Context, idOrName string) (Application, error) {
	var app Application
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		app, err = s.findApp(tx, idOrName)
		return err
	})
	return app, err
}

// Approver returns an approver by login.
func (s *Service) Approver(ctx context.Context, login string) (Approver, error) {
	var a Approver
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		a, err = tx.Approver(login)
		return err
	})
	if err != nil {
		return Approver{}, err // the store's error names the approver
	}
	return a, nil
}

// ApproverBySSHKey returns the approver who owns the key with this
// fingerprint, if that key still authenticates: a removed key is
// ErrNotFound, a disabled approver ErrDisabled. The SSH console calls it at
// login and again whenever anything changes, ending sessions it refuses.
func (s *Service) ApproverBySSHKey(ctx context.Context, fingerprint string) (Approver, error) {
	var a Approver
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		a, err = tx.ApproverBySSHKey(fingerprint)
		return err
	})
	if err != nil {
		return Approver{}, err // the store's error names the key
	}
	for _, k := range a.SSHKeys {
		if k.Fingerprint == fingerprint && !k.Active() {
			return Approver{}, fmt.Errorf("ssh key %s: %w: it was removed from %s at %s", fingerprint, ErrNotFound, a.Login, k.RemovedAt.Format(time.RFC3339))
		}
	}
	if a.Disabled() {
		return Approver{}, fmt.Errorf("ssh key %s: %w: approver %s was disabled at %s", fingerprint, ErrDisabled, a.Login, a.DisabledAt.Format(time.RFC3339))
	}
	return a, nil
}

// Template returns a template by key.
func (s *Service) Template(ctx context.Context, key string) (Template, error) {
	var t Template
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		t, err = tx.Template(key)
		return err
	})
	if err != nil {
		return Template{}, err // the store's error names the template
	}
	return t, nil
}

// Templates lists templates by key after afterKey.
func (s *Service) Templates(ctx context.Context, afterKey string, limit int) ([]Template, error) {
	var ts []Template
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		ts, err = tx.Templates(afterKey, limit)
		return err
	})
	return ts, err
}

// Applications lists applications by name after afterName.
func (s *Service) Applications(ctx context.Context, afterName string, limit int) ([]Application, error) {
	var as []Application
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		as, err = tx.Applications(afterName, limit)
		return err
	})
	return as, err
}

// Approvers lists approvers by login after afterLogin.
func (s *Service) Approvers(ctx context.Context, afterLogin string, limit int) ([]Approver, error) {
	var as []Approver
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		as, err = tx.Approvers(afterLogin, limit)
		return err
	})
	return as, err
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

// hasControl reports whether s holds C0/C1 control characters or invalid UTF-8;
// operator-entered names must be plain text.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd {
			return true
		}
	}
	return false
}

// FormatDuration renders d compactly for people: "30m", "1h30m", "2h", "45s".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = d.Round(time.Second)
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	sec := (d % time.Minute) / time.Second
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 && h == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// ParseDuration accepts Go durations ("90m", "1h30m") and days ("2d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		var n int
		if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && n > 0 && n <= 3650 && fmt.Sprintf("%dd", n) == s {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, invalidf("duration %q: use a positive duration like 30m, 1h30m or 2d", s)
	}
	return d, nil
}

// newPrintedSecret returns a fresh application secret in the form it is
// printed and signed with: "jds_" and 32 random bytes in base64url.
func newPrintedSecret() ([]byte, error) {
	raw, err := tokens.NewSecret()
	if err != nil {
		return nil, err
	}
	return []byte("jds_" + base64.RawURLEncoding.EncodeToString(raw)), nil
}

// Over returns a Service with this one's options — clock, issuer, master
// key, trusted CA — over another store: a backup copy checked with the key
// that sealed it. Observers are not carried over.
func (s *Service) Over(store Store) *Service {
	inner := *s
	inner.store = store
	inner.observers = nil
	inner.intake = &intakeBatcher{}
	return &inner
}
