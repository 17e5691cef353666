package server

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// CertReloader holds the HTTPS certificate and key, read from files, and
// swaps them on Reload (the operator's SIGHUP after renewing them). New
// TLS handshakes get the new pair; connections already open keep theirs,
// so nothing in flight is dropped. A broken new pair (unreadable, not
// matching, not PEM) is refused and the old one stays in use.
type CertReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]

	mu  sync.Mutex
	log *slog.Logger
}

// NewCertReloader reads the certificate chain and private key (PEM files,
// as for tls.LoadX509KeyPair); an error names the file and the problem.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	c := &CertReloader{certFile: certFile, keyFile: keyFile, log: slog.New(slog.DiscardHandler)}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert.Store(cert)
	return c, nil
}

// SetLogger sets where Reload reports what it loaded or refused.
func (c *CertReloader) SetLogger(log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.mu.Lock()
	c.log = log
	c.mu.Unlock()
}

func (c *CertReloader) logger() *slog.Logger {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log
}

// load reads and checks the pair.
func (c *CertReloader) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, &CertError{CertFile: c.certFile, KeyFile: c.keyFile, Err: err}
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, &CertError{CertFile: c.certFile, KeyFile: c.keyFile, Err: err}
		}
	}
	return &cert, nil
}

// CertError is a certificate and key pair that could not be used.
type CertError struct {
	CertFile, KeyFile string
	Err               error
}

func (e *CertError) Error() string {
	return fmt.Sprintf("TLS certificate %s with key %s: %v", e.CertFile, e.KeyFile, e.Err)
}

func (e *CertError) Unwrap() error { return e.Err }

// Reload reads the files again. On success new handshakes use the new
// pair; on failure the pair in use stays and the error (also logged) says
// why. A pair that has already expired is loaded, with a warning: refusing
// it would not bring the old one back to validity.
func (c *CertReloader) Reload() error {
	log := c.logger()
	cert, err := c.load()
	if err != nil {
		log.Error("tls: certificate not reloaded; still serving the previous one", "err", err.Error())
		return err
	}
	c.cert.Store(cert)
	attrs := []any{"cert", c.certFile, "sha256", certFingerprint(cert)}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		if time.Now().After(cert.Leaf.NotAfter) {
			log.Warn("tls: reloaded certificate has expired", attrs...)
			return nil
		}
	}
	log.Info("tls: certificate reloaded", attrs...)
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the pair loaded last.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// TLSConfig is a server configuration serving the reloader's pair, TLS 1.2
// at least, for http.Server.TLSConfig (then ServeTLS(ln, "", "")) or
// tls.NewListener.
func (c *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// certFingerprint is the SHA-256 of the leaf certificate, for the log.
func certFingerprint(cert *tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return hex.EncodeToString(sum[:])
}
