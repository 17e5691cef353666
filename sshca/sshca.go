// Package sshca decides whether an SSH user certificate authenticates an
// approver: trusted CAs, validity, principals, revocation.
//
// An operator who already runs an SSH user CA can let its certificates log in
// to the jitdesk console without registering each approver's key: a
// certificate is accepted when it is a user certificate signed by one of the
// trusted CA keys, valid now, carries no critical option jitdesk cannot honour,
// is not revoked, and names a principal that maps to a login. [Authority.Check]
// returns that login, or a [*RefusedError] whose [Reason] the server logs. The
// server then checks that the login is an active approver.
//
// The three operator files are read by [LoadCAKeys] (authorized_keys format),
// [LoadPrincipalMap] ("principal login" lines) and [LoadRevocations] (an
// OpenSSH KRL, as `ssh-keygen -k` writes it, or a plain text list).
package sshca

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Reason classifies why a certificate was refused, for callers that branch
// on it and for logs.
type Reason int

// The reasons a certificate is refused.
const (
	// NotCertificate: a plain key, not a certificate.
	NotCertificate Reason = iota + 1
	// WrongType: a host certificate offered for user authentication.
	WrongType
	// UnknownAuthority: signed by a CA that is not trusted.
	UnknownAuthority
	// BadSignature: claims a trusted CA, but its signature does not verify.
	BadSignature
	// Expired: the validity period has ended (or is empty).
	Expired
	// NotYetValid: the validity period has not started.
	NotYetValid
	// NoPrincipal: no principal maps to a login.
	NoPrincipal
	// Revoked: listed in the revocations (serial, key id, key or CA key).
	Revoked
	// BadOption: a critical option that cannot be honoured, or a
	// source-address that the connection does not come from.
	BadOption
)

var reasonNames = [...]string{
	NotCertificate:   "not a certificate",
	WrongType:        "not a user certificate",
	UnknownAuthority: "unknown certificate authority",
	BadSignature:     "bad CA signature",
	Expired:          "expired",
	NotYetValid:      "not yet valid",
	NoPrincipal:      "no principal maps to a login",
	Revoked:          "revoked",
	BadOption:        "unsupported or unmet critical option",
}

// String names the reason in words.
func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// RefusedError reports a key that does not authenticate an approver.
type RefusedError struct {
	// Reason is what callers branch on.
	Reason Reason
	// Detail says what about the certificate, for the log; text that came
	// from the certificate is quoted.
	Detail string
}

// Error returns a one-line human description.
func (e *RefusedError) Error() string {
	if e.Detail == "" {
		return "sshca: certificate refused: " + e.Reason.String()
	}
	return "sshca: certificate refused: " + e.Reason.String() + ": " + e.Detail
}

func refuse(r Reason, format string, args ...any) *RefusedError {
	return &RefusedError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Config configures an Authority.
type Config struct {
	// CAKeys are the trusted user CA public keys; at least one.
	CAKeys []ssh.PublicKey
	// PrincipalMap maps a certificate principal to a jitdesk login; a
	// principal not in it is taken as the login itself.
	PrincipalMap map[string]string
	// Revoked lists revoked certificates and keys; nil revokes nothing.
	Revoked *Revocations
	// Now is the clock validity is checked against; nil means time.Now.
	Now func() time.Time
	// KnownLogin, when set, reports whether a login exists; then the first
	// principal whose login it accepts wins, instead of the first principal.
	// Leaving it nil leaves the existence check to the caller.
	KnownLogin func(login string) bool
}

// Authority checks user certificates against its Config. It is safe for
// concurrent use; it does not change after New.
type Authority struct {
	cas        map[string]bool
	principals map[string]string
	revoked    *Revocations
	now        func() time.Time
	known      func(string) bool
}

// New returns an Authority for cfg. It refuses a config without CA keys and
// a certificate given as a CA key.
func New(cfg Config) (*Authority, error) {
	if len(cfg.CAKeys) == 0 {
		return nil, errors.New("sshca: no CA keys")
	}
	a := &Authority{
		cas:        make(map[string]bool, len(cfg.CAKeys)),
		principals: make(map[string]string, len(cfg.PrincipalMap)),
		revoked:    cfg.Revoked,
		now:        cfg.Now,
		known:      cfg.KnownLogin,
	}
	for i, k := range cfg.CAKeys {
		if k == nil {
			return nil, fmt.Errorf("sshca: CA key %d is nil", i)
		}
		if _, ok := k.(*ssh.Certificate); ok {
			return nil, fmt.Errorf("sshca: CA key %d is a certificate, not a CA public key", i)
		}
		a.cas[string(k.Marshal())] = true
	}
	for p, l := range cfg.PrincipalMap {
		a.principals[p] = l
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

func (a *Authority) isUserAuthority(k ssh.PublicKey) bool {
	return a.cas[string(k.Marshal())]
}

// IsRevoked reports whether key, a certificate or a plain key, is revoked.
func (a *Authority) IsRevoked(key ssh.PublicKey) bool {
	return a.revoked.IsRevoked(key)
}

// Check returns the login that key, as offered at authentication, stands
// for, or a *RefusedError. The login is the CA's text (a principal, or its
// PrincipalMap entry): the caller still checks it is an active approver's.
// A certificate restricted by source-address is refused here, since the
// address is unknown: use CheckFrom.
func (a *Authority) Check(key ssh.PublicKey) (login string, err error) {
	return a.CheckFrom(key, nil)
}

// maxListed bounds how many principals a refusal lists, so that a
// certificate with thousands cannot flood the log.
const maxListed = 8

// CheckFrom is Check for a connection from remote, which lets certificates
// restricted by the source-address critical option through when remote is
// one of the listed addresses. remote may be nil.
func (a *Authority) CheckFrom(key ssh.PublicKey, remote net.Addr) (login string, err error) {
	return a.check(key, remote, false)
}

// CheckSigner is Check for a certificate whose key made a signature rather
// than a login: every check but source-address, which restricts where a
// login may come from (OpenSSH applies it to authentication only), not
// what the key may sign. A decision signed in a session was made by a
// login that passed it; one signed through a local agent has no address.
func (a *Authority) CheckSigner(key ssh.PublicKey) (login string, err error) {
	return a.check(key, nil, true)
}

func (a *Authority) check(key ssh.PublicKey, remote net.Addr, signer bool) (login string, err error) {
	if key == nil {
		return "", refuse(NotCertificate, "no key")
	}
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		return "", refuse(NotCertificate, "plain %s key %s", key.Type(), ssh.FingerprintSHA256(key))
	}
	if cert.CertType != ssh.UserCert {
		if cert.CertType == ssh.HostCert {
			return "", refuse(WrongType, "host certificate %q", cert.KeyId)
		}
		return "", refuse(WrongType, "certificate type %d", cert.CertType)
	}
	if !a.isUserAuthority(cert.SignatureKey) {
		return "", refuse(UnknownAuthority, "certificate %q signed by CA %s", cert.KeyId, ssh.FingerprintSHA256(cert.SignatureKey))
	}
	if err := a.verifySignature(cert); err != nil {
		return "", err
	}
	// From here on the certificate's contents are the CA's word.
	if a.revoked.IsRevoked(cert) {
		return "", refuse(Revoked, "certificate %q serial %d by CA %s", cert.KeyId, cert.Serial, ssh.FingerprintSHA256(cert.SignatureKey))
	}
	for _, name := range sortedKeys(cert.CriticalOptions) {
		if name != "source-address" {
			return "", refuse(BadOption, "certificate %q has critical option %q", cert.KeyId, name)
		}
		if signer {
			if _, err := parseSourceAddress(cert.CriticalOptions[name]); err != nil {
				return "", refuse(BadOption, "certificate %q: %v", cert.KeyId, err)
			}
			continue
		}
		if err := checkSourceAddress(cert.CriticalOptions[name], remote); err != nil {
			return "", refuse(BadOption, "certificate %q: %v", cert.KeyId, err)
		}
	}
	now := a.now().Unix()
	if now < int64(cert.ValidAfter) {
		return "", refuse(NotYetValid, "certificate %q valid from %s", cert.KeyId, unixUTC(cert.ValidAfter))
	}
	if cert.ValidBefore != ssh.CertTimeInfinity && now >= int64(cert.ValidBefore) {
		return "", refuse(Expired, "certificate %q expired at %s", cert.KeyId, unixUTC(cert.ValidBefore))
	}
	for _, p := range cert.ValidPrincipals {
		if p == "" {
			continue
		}
		login, ok := a.principals[p]
		if !ok {
			login = p
		}
		if a.known == nil || a.known(login) {
			return login, nil
		}
	}
	listed := cert.ValidPrincipals
	if len(listed) > maxListed {
		listed = listed[:maxListed]
	}
	return "", refuse(NoPrincipal, "certificate %q principals %q (%d) name no login", cert.KeyId, listed, len(cert.ValidPrincipals))
}

// verifySignature checks the CA signature with ssh.CertChecker before any of
// the certificate's contents are reported or acted on, so a forged
// certificate is refused as such rather than as, say, "revoked". CheckCert
// also checks time, principal and options, which are checked afterwards with
// distinct reasons; here it is given a clock, principal and options that the
// certificate itself satisfies, so that only its signature can fail. A
// certificate that cannot satisfy them is useless anyway and refused at once.
func (a *Authority) verifySignature(cert *ssh.Certificate) error {
	principal := ""
	for _, p := range cert.ValidPrincipals {
		if p != "" {
			principal = p
			break
		}
	}
	if principal == "" {
		return refuse(NoPrincipal, "certificate %q names no principal", cert.KeyId)
	}
	if cert.ValidAfter > math.MaxInt64 {
		return refuse(NotYetValid, "certificate %q valid from beyond the year 292277026596", cert.KeyId)
	}
	if cert.ValidBefore != ssh.CertTimeInfinity && (cert.ValidBefore > math.MaxInt64 || cert.ValidBefore <= cert.ValidAfter) {
		return refuse(Expired, "certificate %q has an empty validity period", cert.KeyId)
	}
	validFrom := time.Unix(int64(cert.ValidAfter), 0)
	probe := ssh.CertChecker{
		IsUserAuthority:          a.isUserAuthority,
		SupportedCriticalOptions: sortedKeys(cert.CriticalOptions),
		Clock:                    func() time.Time { return validFrom },
	}
	if err := probe.CheckCert(principal, cert); err != nil {
		return refuse(BadSignature, "certificate %q claims CA %s", cert.KeyId, ssh.FingerprintSHA256(cert.SignatureKey))
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func unixUTC(t uint64) string {
	return time.Unix(int64(t), 0).UTC().Format(time.RFC3339)
}

// checkSourceAddress enforces the source-address critical option: a
// comma-separated list of addresses and CIDR prefixes, as in OpenSSH.
func checkSourceAddress(list string, remote net.Addr) error {
	allowed, err := parseSourceAddress(list)
	if err != nil {
		return err
	}
	if remote == nil {
		return errors.New("source-address restricted, and the connection's address is unknown")
	}
	addr, err := remoteAddr(remote)
	if err != nil {
		return err
	}
	for _, pfx := range allowed {
		if pfx.Contains(addr) {
			return nil
		}
	}
	return fmt.Errorf("connection from %s not in source-address %q", addr, list)
}

// parseSourceAddress parses a source-address list: addresses (each a
// prefix of its full length) and CIDR prefixes, comma-separated. Any entry
// that is neither makes the whole list an error, as in OpenSSH, which
// refuses such a certificate.
func parseSourceAddress(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if strings.Contains(entry, "/") {
			pfx, err := netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("source-address entry %q is not a prefix", entry)
			}
			out = append(out, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return nil, fmt.Errorf("source-address entry %q is not an address", entry)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func remoteAddr(remote net.Addr) (netip.Addr, error) {
	if tcp, ok := remote.(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(tcp.IP); ok {
			return a.Unmap(), nil
		}
	}
	host, _, err := net.SplitHostPort(remote.String())
	if err != nil {
		host = remote.String()
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("connection address %q is not an IP address", remote.String())
	}
	return a.Unmap(), nil
}

// Current is the Authority in use where it can be replaced whole while
// checks run (serve rereads its CA files when they change): a check sees
// the old Authority or the new one, never half of each. The zero value
// holds none; use it only after Set.
type Current struct {
	a atomic.Pointer[Authority]
}

// Set makes a the Authority checks use from now on.
func (c *Current) Set(a *Authority) { c.a.Store(a) }

// CheckFrom is Authority.CheckFrom on the current Authority.
func (c *Current) CheckFrom(key ssh.PublicKey, remote net.Addr) (string, error) {
	return c.a.Load().CheckFrom(key, remote)
}

// CheckSigner is Authority.CheckSigner on the current Authority.
func (c *Current) CheckSigner(key ssh.PublicKey) (string, error) {
	return c.a.Load().CheckSigner(key)
}
