package server

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddressThroughTrustedProxies(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		peer   string
		xff    []string
		trust  []netip.Prefix
		client string
	}{
		{"no proxies configured: XFF is ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"untrusted peer sending XFF is ignored (spoofing)", "203.0.113.9:5000", []string{"198.51.100.1"}, trusted, "203.0.113.9"},
		{"trusted proxy: its forwarded client", "10.1.2.3:5000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"client-prepended entries to the left are not believed", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"a chain of trusted proxies is walked right to left", "10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.1, 192.0.2.7", "10.9.9.9"}, trusted, "198.51.100.1"},
		{"a spoofed trusted address on the left cannot hide the client", "10.1.2.3:5000", []string{"10.0.0.1, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"all hops trusted: the leftmost", "10.1.2.3:5000", []string{"10.7.7.7, 10.8.8.8"}, trusted, "10.7.7.7"},
		{"garbage hop ends the walk at the proxy that recorded it", "10.1.2.3:5000", []string{"198.51.100.1, <script>, 10.8.8.8"}, trusted, "10.8.8.8"},
		{"garbage right after the peer: the peer", "10.1.2.3:5000", []string{"not-an-ip"}, trusted, "10.1.2.3"},
		{"trusted proxy without XFF: the proxy", "10.1.2.3:5000", nil, trusted, "10.1.2.3"},
		{"IPv6 peer and hop with port", "[2001:db8::5]:443", []string{"[2001:db8:ffff::1]:1234, [2a00::7]:55"}, trusted, "2a00::7"},
		{"IPv4-mapped peer is unmapped before matching", "[::ffff:10.1.2.3]:5000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, c.trust); got.String() != c.client {
				t.Fatalf("client %s, want %s", got, c.client)
			}
		})
	}
}

func TestParseTrustedProxiesRefusesWhatNeverMatches(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "::ffff:10.0.0.0/104", "fe80::1%eth0"} {
		if _, err := ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		} else if _, ok := err.(*ProxyError); !ok {
			t.Errorf("%q: error %T, want *ProxyError", bad, err)
		}
	}
	p, err := ParseTrustedProxies([]string{"10.1.2.3/8"})
	if err != nil || p[0].String() != "10.0.0.0/8" {
		t.Fatalf("10.1.2.3/8 parsed as %v, %v; want the masked 10.0.0.0/8", p, err)
	}
}

func TestAccessLogUsesTheForwardedClientOnlyFromATrustedProxy(t *testing.T) {
	trusted, _ := ParseTrustedProxies([]string{"127.0.0.1/32"})
	e := newEnvWith(t, func(c *HTTPConfig) { c.TrustedProxies = trusted })
	h := http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.23"}}
	e.doHeader("GET", "/healthz", h, nil)
	lines := e.logLines("http")
	if len(lines) == 0 {
		t.Fatal("no access-log line")
	}
	last := lines[len(lines)-1]
	if last["remote"] != "198.51.100.23" || !strings.HasPrefix(last["peer"].(string), "127.0.0.1:") {
		t.Fatalf("access log remote %v peer %v, want the forwarded client and the proxy", last["remote"], last["peer"])
	}

	// Without trusted proxies the same header changes nothing.
	e2 := newEnv(t, 0)
	e2.doHeader("GET", "/healthz", h, nil)
	lines = e2.logLines("http")
	last = lines[len(lines)-1]
	if last["remote"] != "127.0.0.1" || last["peer"] != nil {
		t.Fatalf("untrusted X-Forwarded-For was believed: remote %v peer %v", last["remote"], last["peer"])
	}
}
