package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/webhook"
)

func TestWebhookAddListLogAndRemoveFromTheCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 1, "approve")
	var hook struct {
		ID, URL, Secret string
		Events          []string
	}
	out := mustOK(t, jitdesk(t, db, "webhook", "add", "https://hooks.example/jitdesk", "--event", "request.decided", "--event", "grant.revoked,breakglass.used", "--json"))
	if err := json.Unmarshal([]byte(out), &hook); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hook.ID, "wh_") || !strings.HasPrefix(hook.Secret, "whsec_") || strings.Join(hook.Events, ",") != "request.decided,grant.revoked,breakglass.used" {
		t.Fatalf("webhook add --json: %s", out)
	}
	all := mustOK(t, jitdesk(t, db, "webhook", "add", "http://127.0.0.1:9/hook"))
	if !strings.Contains(all, "secret:  whsec_") || !strings.Contains(all, "shown once") {
		t.Fatalf("webhook add: %s", all)
	}
	list := mustOK(t, jitdesk(t, db, "webhook", "list"))
	if strings.Contains(list, "whsec_") || !strings.Contains(list, hook.ID) || !strings.Contains(list, "active") {
		t.Fatalf("webhook list must show hooks and never a secret: %s", list)
	}
	// Wrong input: one line, exit 1, naming what is allowed.
	r := jitdesk(t, db, "webhook", "add", "https://x.example", "--event", "request.approved")
	if r.code != 1 || !strings.Contains(r.stderr, "request.created, request.escalated, request.decided") {
		t.Fatalf("unknown event: exit %d %s", r.code, r.stderr)
	}
	for _, bad := range []string{"ftp://x.example/", "/relative", "https://user:pw@x.example/"} {
		if r := jitdesk(t, db, "webhook", "add", bad); r.code != 1 || !strings.Contains(r.stderr, "webhook url") || strings.Contains(r.stderr, "pw@") {
			t.Fatalf("url %s: exit %d %s", bad, r.code, r.stderr)
		}
	}
	if r := jitdesk(t, db, "webhook", "add"); r.code != 2 {
		t.Fatalf("add without URL: exit %d", r.code)
	}
	if r := jitdesk(t, db, "webhook", "log", "--limit", "0"); r.code != 2 {
		t.Fatalf("log --limit 0: exit %d", r.code)
	}
	// id was created before the hooks: only its decision is announced.
	// id2 is created after: the catch-all hook gets its creation, then its
	// decision waiting behind it; the filtered hook gets its decision.
	id2 := strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "bob", "--reason", "rotate certs", "--meta", "ticket=OPS-2")))
	mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0"))
	mustOK(t, jitdesk(t, db, "approve", id2, "--as", "op0"))
	logOut := mustOK(t, jitdesk(t, db, "webhook", "log"))
	if strings.Count(logOut, "pending") != 5 || strings.Count(logOut, "after earlier event") != 1 || strings.Count(logOut, "request.created") != 1 {
		t.Fatalf("webhook log: %s", logOut)
	}
	var page []map[string]any
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "webhook", "log", "--hook", hook.ID, "--limit", "1"))), &page); err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0]["type"] != "request.decided" || page[0]["request"] != id2 || page[0]["hook"] != hook.ID {
		t.Fatalf("log --hook --json: %v", page)
	}
	if out := mustOK(t, jitdesk(t, db, "webhook", "test", hook.ID)); !strings.Contains(out, "queued evt_") {
		t.Fatalf("webhook test: %s", out)
	}
	if out := mustOK(t, jitdesk(t, db, "webhook", "log", "--hook", hook.ID, "--limit", "1")); !strings.Contains(out, "webhook.test") {
		t.Fatalf("log after webhook test: %s", out)
	}
	mustOK(t, jitdesk(t, db, "webhook", "remove", hook.ID))
	if r := jitdesk(t, db, "webhook", "remove", hook.ID); r.code != 1 || !strings.Contains(r.stderr, "already removed") {
		t.Fatalf("second remove: exit %d %s", r.code, r.stderr)
	}
	if out := mustOK(t, jitdesk(t, db, "webhook", "log", "--hook", hook.ID)); !strings.Contains(out, "cancelled") {
		t.Fatalf("log after remove: %s", out)
	}
	if r := jitdesk(t, db, "webhook", "log", "--hook", "wh_nope"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("log of an unknown hook: exit %d %s", r.code, r.stderr)
	}
	mustOK(t, jitdesk(t, db, "audit", "verify"))
}

// TestServeDeliversWebhooksAndStopsOnSIGTERM runs a real jitdesk serve
// against a receiver in this process: the CLI's approval reaches it signed,
// a receiver's hostile error text is shown inert by webhook log, and SIGTERM
// ends serve cleanly.
func TestServeDeliversWebhooksAndStopsOnSIGTERM(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 1, "approve")
	var mu sync.Mutex
	var got []string
	var secret string
	var bad []string
	first := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if first && r.Header.Get(webhook.HeaderEvent) == "request.decided" && bytes.Contains(body, []byte(id)) {
			// A hostile answer: retried later, shown inert meanwhile.
			first = false
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "\x1b]52;c;aGk=\x07boom")
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now(), webhook.DefaultTolerance); err != nil {
			bad = append(bad, err.Error())
		}
		got = append(got, r.Header.Get(webhook.HeaderEvent))
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	var hook struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "webhook", "add", srv.URL+"/in"))), &hook); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = hook.Secret
	mu.Unlock()
	mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0"))
	other := strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "bob", "--reason", "rotate certs", "--meta", "ticket=OPS-2")))

	cmd := exec.Command(os.Args[0], "--db", db, "serve", "--http", "127.0.0.1:0", "--ssh", "")
	cmd.Env = append(os.Environ(), "JITDESK_TEST_MAIN=1", "JITDESK_ISSUER=https://jitdesk.test")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The first request's decision fails with a 500 (its retry waits out a
	// backoff of 5-10s); the other request's creation is delivered meanwhile.
	deadline := time.Now().Add(20 * time.Second)
	var logOut string
	for time.Now().Before(deadline) {
		logOut = mustOK(t, jitdesk(t, db, "webhook", "log"))
		if strings.Contains(logOut, "boom") && strings.Contains(logOut, "delivered") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logOut, other) || !strings.Contains(logOut, "delivered") {
		t.Fatalf("the other request's event was not delivered: %s", logOut)
	}
	if !strings.Contains(logOut, `HTTP 500 Internal Server Error: \x1b]52;c;aGk=\aboom`) {
		t.Fatalf("log must show the receiver's error inert: %q", logOut)
	}
	if strings.Contains(logOut, "\x1b") {
		t.Fatal("raw escape reached the terminal")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 || len(got) == 0 {
		t.Fatalf("verified %v, failed %v", got, bad)
	}
	if !strings.Contains(stderr.String(), "webhook delivery failed; will retry") {
		t.Fatalf("serve log: %s", stderr.String())
	}
	if strings.Contains(stderr.String(), hook.Secret) {
		t.Fatal("serve logged the webhook secret")
	}
}
