package webhook_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/webhook"
)

// TestNodeReceiverExampleVerifiesDeliveriesAndRefusesForgeries runs
// examples/node/webhook-receiver.mjs (npm standardwebhooks) as a receiver
// of a real Deliverer: the delivery is accepted and printed once, the same
// delivery again is acknowledged as a duplicate, and a copy with a changed
// body or no signature is refused with 401.
func TestNodeReceiverExampleVerifiesDeliveriesAndRefusesForgeries(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH; the example receiver needs Node.js")
	}
	dir, err := filepath.Abs(filepath.Join("..", "examples", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		missingNPM(t, "examples/node", err)
	}
	f := newFixture(t)

	// The hook's URL is needed before its secret exists, and the receiver
	// needs the secret to start: register a local front that forwards to the
	// receiver once it runs.
	var mu sync.Mutex
	var forward *httputil.ReverseProxy
	var sent []struct {
		header http.Header
		body   []byte
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		p := forward
		mu.Unlock()
		if p == nil {
			http.Error(w, "receiver not started", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	}))
	defer front.Close()
	h := f.hook(front.URL + "/hooks/jitdesk")

	cmd := exec.CommandContext(t.Context(), node, filepath.Join(dir, "webhook-receiver.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "JITDESK_WEBHOOK_SECRET="+h.Secret, "LISTEN=127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("receiver ended before listening: %s", stderr.String())
	}
	addr, ok := strings.CutPrefix(lines.Text(), "listening on ")
	if !ok {
		t.Fatalf("receiver said %q", lines.Text())
	}
	target, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	inner := proxy.Director
	proxy.Director = func(r *http.Request) {
		// Keep what the deliverer sent, to replay and forge below.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		sent = append(sent, struct {
			header http.Header
			body   []byte
		}{r.Header.Clone(), body})
		mu.Unlock()
		inner(r)
	}
	mu.Lock()
	forward = proxy
	mu.Unlock()

	// The receiver checks timestamps against its own (real) clock.
	f.clock.Set(time.Now())
	f.submit("mallory")
	if r := f.drain(f.deliverer(webhook.Options{})); r.Delivered != 1 {
		t.Fatalf("round %+v; receiver: %s", r, stderr.String())
	}
	if !lines.Scan() {
		t.Fatalf("receiver printed nothing for the delivery: %s", stderr.String())
	}
	var printed struct{ ID, Type, Request string }
	if err := json.Unmarshal(lines.Bytes(), &printed); err != nil {
		t.Fatalf("receiver printed %q: %v", lines.Text(), err)
	}
	mu.Lock()
	first := sent[0]
	mu.Unlock()
	if printed.ID != first.header.Get(webhook.HeaderID) || printed.Type != "request.created" || printed.Request == "" {
		t.Fatalf("receiver printed %+v for webhook-id %q", printed, first.header.Get(webhook.HeaderID))
	}

	post := func(header http.Header, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, addr, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, text := post(first.header, first.body); code != http.StatusOK || text != "duplicate" {
		t.Fatalf("the same delivery again: %d %q, want 200 duplicate", code, text)
	}
	forged := bytes.Replace(first.body, []byte("mallory"), []byte("mallorx"), 1)
	if code, _ := post(first.header, forged); code != http.StatusUnauthorized {
		t.Fatalf("changed body: %d, want 401", code)
	}
	unsigned := first.header.Clone()
	unsigned.Del(webhook.HeaderSignature)
	if code, _ := post(unsigned, first.body); code != http.StatusUnauthorized {
		t.Fatalf("no signature: %d, want 401", code)
	}
	// Nothing but the one real event was handled.
	_ = cmd.Process.Kill()
	for lines.Scan() {
		t.Errorf("receiver handled more than the one delivery: %q", lines.Text())
	}
	_ = cmd.Wait()
	stopped = true
}
