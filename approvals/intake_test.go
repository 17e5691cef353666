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
