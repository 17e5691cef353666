package approvals_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/tokens"
)

func TestConcurrentIntakeSharesCommitsWithoutLosingOrMixingRequests(t *testing.T) {
	f := newFixture(t)
	const n = 64
	toks := make([]string, n)
	for i := range toks {
		tok, err := tokens.SignIntake(f.app.Secret, intakeClaims(f.app.ID, fmt.Sprintf("user%d", i), fmt.Sprintf("jti-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = tok
	}
	// Job 7 replays job 3's token; job 11 names an unknown template.
	toks[7] = toks[3]
	var wg sync.WaitGroup
	errs := make([]error, n)
	reqs := make([]approvals.Request, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tmpl := "iam"
			if i == 11 {
				tmpl = "nope"
			}
			reqs[i], _, errs[i] = f.svc.SubmitIntake(context.Background(), toks[i], approvals.NewRequest{TemplateKey: tmpl, Reason: "concurrent intake"})
		}(i)
	}
	wg.Wait()
	ok := 0
	replays := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if reqs[i].Requester != fmt.Sprintf("user%d", i) && i != 3 && i != 7 {
				t.Errorf("job %d got request of %s", i, reqs[i].Requester)
			}
		case errors.Is(err, approvals.ErrReplay):
			replays++
		case i == 11 && errors.Is(err, approvals.ErrNotFound):
		default:
			t.Errorf("job %d: %v", i, err)
		}
	}
	if ok != n-2 || replays != 1 {
		t.Fatalf("ok=%d replays=%d, want %d and 1", ok, replays, n-2)
	}
	count, err := f.svc.Count(f.ctx, approvals.RequestQuery{Scope: approvals.ScopeAll})
	if err != nil || count != n-2 {
		t.Fatalf("stored %d requests, want %d (%v)", count, n-2, err)
	}
	if _, err := f.svc.VerifyAudit(f.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestIntakeOfAnotherApplicationsTemplateIsNotFound(t *testing.T) {
	f := newFixture(t)
	other, err := f.svc.CreateApplication(f.ctx, "test", "other", "https://other.test")
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := tokens.SignIntake(other.Secret, intakeClaims(other.ID, "eve", "x1"))
	_, _, err = f.svc.SubmitIntake(f.ctx, tok, approvals.NewRequest{TemplateKey: "iam", Reason: "borrowing a template"})
	if !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	bad, _ := tokens.SignIntake(other.Secret, intakeClaims(f.app.ID, "eve", "x2")) // signed with the wrong app's secret
	if _, _, err := f.svc.SubmitIntake(f.ctx, bad, approvals.NewRequest{TemplateKey: "iam", Reason: "forged"}); !errors.Is(err, approvals.ErrUnauthenticated) {
		t.Fatalf("forged: %v", err)
	}
}

// proofIntake is the HTTP layer's path: verify (limits apply here), then
// hand the proof to the group-committed writer.
func proofIntake(f *fixture, svc *approvals.Service, tok, reason string) (approvals.Request, error) {
	p, _, err := svc.VerifyIntakeToken(f.ctx, tok)
	if err != nil {
		return approvals.Request{}, err
	}
	return svc.SubmitIntakeProof(f.ctx, p, approvals.NewRequest{TemplateKey: "iam", Reason: reason})
}

func TestVerifiedIntakeProofsAreBurnedOnceEachInABatch(t *testing.T) {
	f := newFixture(t)
	used, _ := tokens.SignIntake(f.app.Secret, intakeClaims(f.app.ID, "erin", "used-before"))
	if _, err := proofIntake(f, f.svc, used, "first use"); err != nil {
		t.Fatal(err)
	}
	// Proofs verified first and submitted together, so they share
	// batches: every token twice, and the one already burned again.
	const n = 40
	var proofs []approvals.IntakeProof
	for i := range n {
		tok, _ := tokens.SignIntake(f.app.Secret, intakeClaims(f.app.ID, fmt.Sprintf("user%d", i), fmt.Sprintf("batch-%d", i)))
		for range 2 {
			p, _, err := f.svc.VerifyIntakeToken(f.ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			proofs = append(proofs, p)
		}
	}
	again, _, err := f.svc.VerifyIntakeToken(f.ctx, used)
	if err != nil {
		t.Fatal(err)
	}
	proofs = append(proofs, again)
	errs := make([]error, len(proofs))
	reqs := make([]approvals.Request, len(proofs))
	var wg sync.WaitGroup
	for i, p := range proofs {
		wg.Go(func() {
			reqs[i], errs[i] = f.svc.SubmitIntakeProof(f.ctx, p, approvals.NewRequest{TemplateKey: "iam", Reason: "batched"})
		})
	}
	wg.Wait()
	stored := map[string]int{}
	replays := 0
	for i, err := range errs {
		switch {
		case err == nil:
			stored[reqs[i].Requester]++
		case errors.Is(err, approvals.ErrReplay):
			replays++
		default:
			t.Errorf("proof %d: %v", i, err)
		}
	}
	if len(stored) != n || replays != n+1 {
		t.Fatalf("%d requesters stored, %d replays; want %d and %d", len(stored), replays, n, n+1)
	}
	for who, k := range stored {
		if k != 1 {
			t.Errorf("%s stored %d times", who, k)
		}
	}
	if count, err := f.svc.Count(f.ctx, approvals.RequestQuery{Scope: approvals.ScopeAll}); err != nil || count != n+1 {
		t.Fatalf("stored %d requests, want %d (%v)", count, n+1, err)
	}
	if _, err := f.svc.VerifyAudit(f.ctx); err != nil {
		t.Fatal(err)
	}
}

// A token is verified against the application as this process last read
// it; a change another process made since (a rotated secret, a disabled
// application) must still decide whether the token is burned and stored.
func TestIntakeSeesAnotherProcessesApplicationChange(t *testing.T) {
	f := newFixture(t)
	other := approvals.New(f.be.open(t), approvals.Options{Clock: f.clock, Issuer: "https://jitdesk.test"})
	warm, _ := tokens.SignIntake(f.app.Secret, intakeClaims(f.app.ID, "erin", "warm"))
	if _, err := proofIntake(f, f.svc, warm, "reads the application into this process"); err != nil {
		t.Fatal(err)
	}
	rotated, err := other.RotateAppSecret(f.ctx, "test", "payments", 0)
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := tokens.SignIntake(f.app.Secret, intakeClaims(f.app.ID, "erin", "old-secret"))
	if _, err := proofIntake(f, f.svc, stale, "signed with the rotated-out secret"); !errors.Is(err, approvals.ErrUnauthenticated) {
		t.Fatalf("a token signed with the secret another process rotated out: %v, want ErrUnauthenticated", err)
	}
	fresh, _ := tokens.SignIntake(rotated.Secret, intakeClaims(f.app.ID, "erin", "new-secret"))
	if _, err := proofIntake(f, f.svc, fresh, "signed with the new secret"); err != nil {
		t.Fatalf("a token signed with the new secret: %v", err)
	}
	if _, err := other.SetAppEnabled(f.ctx, "test", "payments", false); err != nil {
		t.Fatal(err)
	}
	late, _ := tokens.SignIntake(rotated.Secret, intakeClaims(f.app.ID, "erin", "disabled"))
	if _, err := proofIntake(f, f.svc, late, "after the application was disabled"); !errors.Is(err, approvals.ErrDisabled) {
		t.Fatalf("a token of an application another process disabled: %v, want ErrDisabled", err)
	}
	if n, err := f.svc.Count(f.ctx, approvals.RequestQuery{Scope: approvals.ScopeAll}); err != nil || n != 2 {
		t.Fatalf("stored %d requests, want 2 (%v)", n, err)
	}
}
