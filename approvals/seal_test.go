package approvals_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/tokens"
)

func TestSecretsAreSealedAtRestAndOpenOnlyWithTheMasterKey(t *testing.T) {
	be := newBackend(t)
	db := be.open(t)
	key, _ := tokens.GenerateMasterKey()
	clock := approvals.NewManualClock(t0)
	svc := approvals.New(db, approvals.Options{Clock: clock, Issuer: "https://jitdesk.test", Sealer: tokens.NewSealer(key)})
	ctx := t.Context()
	if _, err := svc.SealSecrets(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Init(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	app, err := svc.CreateApplication(ctx, "test", "payments", "https://payments.test")
	if err != nil {
		t.Fatal(err)
	}
	hook, err := svc.AddWebhook(ctx, "test", "https://hooks.example/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	for q, secret := range map[string][]byte{
		`SELECT secret FROM applications`:  app.Secret,
		`SELECT secret FROM webhooks`:      []byte(hook.Secret),
		`SELECT private FROM signing_keys`: nil,
	} {
		stored := rawColumn(t, be, db, q)
		if !tokens.IsSealed(stored) || (secret != nil && bytes.Contains(stored, secret)) {
			t.Errorf("%s: stored in the clear (%.20q…)", q, stored)
		}
	}
	// The application authenticates with its secret as printed.
	if _, err := svc.AuthenticateClient(ctx, app.ID, approvals.PrintedSecret(app.Secret, app.SecretFormat)); err != nil {
		t.Fatalf("client credentials with sealed secret: %v", err)
	}
	// Another process without the key, or with another key, cannot use them.
	noKey := approvals.New(db, approvals.Options{Clock: clock, Issuer: "https://jitdesk.test"})
	if _, err := noKey.AuthenticateClient(ctx, app.ID, approvals.PrintedSecret(app.Secret, app.SecretFormat)); !errors.Is(err, approvals.ErrSealed) {
		t.Fatalf("without the master key: %v, want ErrSealed", err)
	}
	other, _ := tokens.GenerateMasterKey()
	wrong := approvals.New(db, approvals.Options{Clock: clock, Issuer: "https://jitdesk.test", Sealer: tokens.NewSealer(other)})
	if _, err := wrong.SealSecrets(ctx, "test"); !errors.Is(err, approvals.ErrSealed) {
		t.Fatalf("another master key: %v, want ErrSealed naming the key", err)
	}
}

func TestSealSecretsMigratesAPlaintextDatabase(t *testing.T) {
	f := newFixture(t) // made without a master key: plaintext secrets
	if tokens.IsSealed(rawColumn(t, f.be, f.db, `SELECT secret FROM applications`)) {
		t.Fatal("fixture secrets are already sealed")
	}
	key, _ := tokens.GenerateMasterKey()
	svc := approvals.New(f.db, approvals.Options{Clock: f.clock, Issuer: "https://jitdesk.test", Sealer: tokens.NewSealer(key)})
	rep, err := svc.SealSecrets(f.ctx, "test")
	if err != nil || rep.Applications != 1 || rep.SigningKeys != 1 {
		t.Fatalf("seal: %+v %v", rep, err)
	}
	if !tokens.IsSealed(rawColumn(t, f.be, f.db, `SELECT secret FROM applications`)) || !tokens.IsSealed(rawColumn(t, f.be, f.db, `SELECT private FROM signing_keys`)) {
		t.Fatal("secrets still in the clear after SealSecrets")
	}
	// The application's old secret still works, and tokens are still signed.
	if _, err := svc.AuthenticateClient(f.ctx, f.app.ID, approvals.PrintedSecret(f.app.Secret, f.app.SecretFormat)); err != nil {
		t.Fatalf("after migration: %v", err)
	}
	fs := &fixture{t: t, ctx: f.ctx, svc: svc, db: f.db, be: f.be, clock: f.clock, app: f.app}
	r := fs.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	out, err := fs.approve(r.ID, "alice")
	if err != nil || out.Token == "" {
		t.Fatalf("approve with the sealed signing key: %v", err)
	}
	// The stored token is sealed too: a copy of the file yields no live token.
	if stored := rawColumn(t, f.be, f.db, `SELECT token FROM grants`); !tokens.IsSealed(stored) || bytes.Contains(stored, []byte(out.Token)) {
		t.Fatal("the access token is stored in the clear")
	}
	if g, err := svc.Token(f.ctx, r.ID, f.app.ID); err != nil || g.Token != out.Token {
		t.Fatalf("pick-up of a sealed token: %v", err)
	}
	if g, err := svc.RevealToken(f.ctx, approvals.RevealInput{ID: r.ID, Viewer: "alice", Use: approvals.TokenShown}); err != nil || g.Token != out.Token {
		t.Fatalf("reveal of a sealed token: %v", err)
	}
	if again, err := svc.SealSecrets(f.ctx, "test"); err != nil || again != (approvals.SealReport{}) {
		t.Fatalf("second run: %+v %v", again, err)
	}
	if _, err := svc.VerifyAudit(f.ctx); err != nil {
		t.Fatal(err)
	}
}
