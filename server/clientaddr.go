package server

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries are read; a
// real chain of proxies is a handful long.
const maxForwardedHops = 32

// clientAddr is the address of the party that sent r: the TCP peer, or,
// when the peer is one of the trusted proxies, the rightmost
// X-Forwarded-For entry that is not itself a trusted proxy. Entries to the
// left of that one were written by whoever the untrusted party was and are
// never believed. An entry that does not parse ends the walk at the proxy
// that recorded it: a garbled hop is no address to blame or to limit. With
// no trusted proxies X-Forwarded-For is ignored entirely.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if !peer.IsValid() || !inPrefixes(peer, trusted) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, v := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(v))
		}
	}
	if len(hops) > maxForwardedHops {
		hops = hops[len(hops)-maxForwardedHops:]
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseHost(hops[i])
		if !a.IsValid() {
			return client
		}
		client = a
		if !inPrefixes(a, trusted) {
			return a
		}
	}
	return client
}

// parseHost reads an address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "[2001:db8::1]:443", "2001:db8::1"), IPv4-mapped IPv6
// unmapped, zones dropped; the zero Addr when it is none of those.
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap().WithZone("")
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(h); err == nil {
			return a.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies parses --trusted-proxy values: CIDR prefixes
// ("10.0.0.0/8", "2001:db8::/32") or single addresses (taken as /32 or
// /128). IPv4-mapped IPv6 prefixes are refused: peers are compared
// unmapped, so such a prefix would never match.
func ParseTrustedProxies(values []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(values))
	for _, v := range values {
		v = strings.TrimSpace(v)
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil || a.Zone() != "" {
				return nil, &ProxyError{Value: v}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if !p.IsValid() || p.Addr().Is4In6() {
			return nil, &ProxyError{Value: v}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ProxyError is a --trusted-proxy value that is not a CIDR prefix or an
// address.
type ProxyError struct{ Value string }

func (e *ProxyError) Error() string {
	return "trusted proxy " + quoteShort(e.Value) + " is not a CIDR prefix (10.0.0.0/8) or an address (192.0.2.7)"
}

// quoteShort quotes a value from the operator or a client for a message,
// bounded so it cannot flood whatever shows it.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strconv.Quote(s)
}
