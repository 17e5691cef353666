package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned writes a fresh self-signed certificate for 127.0.0.1
// with common name cn to certFile and keyFile.
func writeSelfSigned(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsClient trusts any certificate (the test checks which one it got) and
// reports the common name of the certificate each new connection saw.
func tlsClient(seen chan<- string) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen <- cs.PeerCertificates[0].Subject.CommonName
			return nil
		},
	}}}
}

// get fetches url and reports whether the connection was reused.
func get(t *testing.T, c *http.Client, url string) (reused bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	return reused
}

func TestCertReloadSwapsTheCertificateForNewClientsAndKeepsOpenConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile, "first")
	cr, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cr.SetLogger(slog.New(slog.NewJSONHandler(&logs, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		TLSConfig: cr.TLSConfig()}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close(); <-served })
	url := "https://" + ln.Addr().String() + "/"

	seen1 := make(chan string, 4)
	old := tlsClient(seen1)
	get(t, old, url)
	if cn := <-seen1; cn != "first" {
		t.Fatalf("first client saw %q", cn)
	}

	writeSelfSigned(t, certFile, keyFile, "second")
	if err := cr.Reload(); err != nil {
		t.Fatal(err)
	}
	seen2 := make(chan string, 4)
	get(t, tlsClient(seen2), url)
	if cn := <-seen2; cn != "second" {
		t.Fatalf("a client connecting after the reload saw %q, want the new certificate", cn)
	}
	// The connection opened before the reload is still up and still serves.
	if reused := get(t, old, url); !reused {
		t.Fatal("the keep-alive connection from before the reload was not reused")
	}
	select {
	case cn := <-seen1:
		t.Fatalf("the old client made a new handshake (%q) instead of keeping its connection", cn)
	default:
	}
	if !strings.Contains(logs.String(), "certificate reloaded") {
		t.Fatalf("the reload was not logged: %s", logs.String())
	}
}

func TestBrokenCertPairIsRefusedAndTheOldOneStays(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile, "good")
	cr, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cr.SetLogger(slog.New(slog.NewJSONHandler(&logs, nil)))
	before, _ := cr.GetCertificate(nil)

	// A key that does not match the certificate (a half-finished renewal).
	other := t.TempDir()
	writeSelfSigned(t, filepath.Join(other, "c"), filepath.Join(other, "k"), "other")
	k, _ := os.ReadFile(filepath.Join(other, "k"))
	if err := os.WriteFile(keyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	err = cr.Reload()
	var ce *CertError
	if !errors.As(err, &ce) {
		t.Fatalf("mismatched pair: %v, want a *CertError", err)
	}
	if after, _ := cr.GetCertificate(nil); !bytes.Equal(after.Certificate[0], before.Certificate[0]) {
		t.Fatal("a broken pair replaced the certificate in use")
	}
	if !strings.Contains(logs.String(), "not reloaded") {
		t.Fatalf("the refusal was not logged: %s", logs.String())
	}
	if err := os.WriteFile(certFile, []byte("not pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cr.Reload(); !errors.As(err, &ce) {
		t.Fatalf("garbage certificate: %v", err)
	}
	if _, err := NewCertReloader(certFile, keyFile); !errors.As(err, &ce) {
		t.Fatalf("NewCertReloader on a broken pair: %v", err)
	}
}

func TestTLSConfigRefusesTLS11(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile, "x")
	cr, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cr.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}
