package tokens

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// Each package operation is benchmarked beside the raw primitive it wraps,
// so the overhead of JSON, base64 and the checks is visible as a ratio.

func benchAccess(b *testing.B) (Key, string) {
	k := mustKey(b, EdDSA)
	tok, err := IssueAccess(k, accessClaims())
	if err != nil {
		b.Fatal(err)
	}
	return k, tok
}

func BenchmarkEd25519SignRaw(b *testing.B) {
	k, tok := benchAccess(b)
	input := []byte(tok[:strings.LastIndexByte(tok, '.')])
	priv := k.Private.(ed25519.PrivateKey)
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(priv, input)
	}
}

func BenchmarkIssueAccessEdDSA(b *testing.B) {
	k, _ := benchAccess(b)
	c := accessClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := IssueAccess(k, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519VerifyRaw(b *testing.B) {
	k, tok := benchAccess(b)
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, _ := b64.DecodeString(tok[i+1:])
	pub := k.PublicKey().Key.(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkVerifyAccessEdDSA(b *testing.B) {
	k, tok := benchAccess(b)
	opts := verifyOpts(k)
	opts.IsRevoked = func(string) (bool, error) { return false, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyAccess(tok, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func benchIntake(b *testing.B) ([]byte, string) {
	secret, _ := NewSecret()
	tok, err := SignIntake(secret, intakeClaims())
	if err != nil {
		b.Fatal(err)
	}
	return secret, tok
}

func BenchmarkHMACRaw(b *testing.B) {
	secret, tok := benchIntake(b)
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, _ := b64.DecodeString(tok[i+1:])
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		if !hmac.Equal(m.Sum(nil), sig) {
			b.Fatal("bad mac")
		}
	}
}

func BenchmarkVerifyIntake(b *testing.B) {
	secret, tok := benchIntake(b)
	opts := intakeOpts(map[string][]byte{"app_1": secret})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyIntake(tok, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// The paired benchmarks below run the operation and its raw primitive in
// alternation within one loop and report their ratio: "x-raw" by wall
// clock and, where the platform has getrusage, "cpu-x-raw" by the
// process's CPU time (every thread's, so garbage collection the operation
// causes is counted). On a shared or throttled machine the separate
// benchmarks above can drift between runs by more than the overhead being
// measured; alternating puts both halves of a ratio under the same
// conditions, and CPU time leaves out time spent waiting for a core.

// pairedRatio times op and raw alternately, swapping which goes first each
// iteration so neither always runs with a warmer cache.
func pairedRatio(b *testing.B, op, raw func()) {
	b.Helper()
	var wallOp, wallRaw, cpuOp, cpuRaw time.Duration
	timed := func(f func(), wall, cpu *time.Duration) {
		c, w := processCPU(), time.Now()
		f()
		*wall += time.Since(w)
		*cpu += processCPU() - c
	}
	first := true
	b.ReportAllocs()
	for b.Loop() {
		if first {
			timed(op, &wallOp, &cpuOp)
			timed(raw, &wallRaw, &cpuRaw)
		} else {
			timed(raw, &wallRaw, &cpuRaw)
			timed(op, &wallOp, &cpuOp)
		}
		first = !first
	}
	if wallRaw > 0 {
		b.ReportMetric(float64(wallOp)/float64(wallRaw), "x-raw")
	}
	if cpuRaw > 0 {
		b.ReportMetric(float64(cpuOp)/float64(cpuRaw), "cpu-x-raw")
	}
}

func BenchmarkPairedIssueAccessEdDSAVsRawSign(b *testing.B) {
	k, tok := benchAccess(b)
	input := []byte(tok[:strings.LastIndexByte(tok, '.')])
	priv := k.Private.(ed25519.PrivateKey)
	c := accessClaims()
	pairedRatio(b, func() {
		if _, err := IssueAccess(k, c); err != nil {
			b.Fatal(err)
		}
	}, func() { ed25519.Sign(priv, input) })
}

func BenchmarkPairedVerifyAccessEdDSAVsRawVerify(b *testing.B) {
	k, tok := benchAccess(b)
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, _ := b64.DecodeString(tok[i+1:])
	pub := k.PublicKey().Key.(ed25519.PublicKey)
	opts := verifyOpts(k)
	opts.IsRevoked = func(string) (bool, error) { return false, nil }
	pairedRatio(b, func() {
		if _, err := VerifyAccess(tok, opts); err != nil {
			b.Fatal(err)
		}
	}, func() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("bad signature")
		}
	})
}

func BenchmarkPairedVerifyIntakeVsRawHMAC(b *testing.B) {
	secret, tok := benchIntake(b)
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, _ := b64.DecodeString(tok[i+1:])
	opts := intakeOpts(map[string][]byte{"app_1": secret})
	pairedRatio(b, func() {
		if _, err := VerifyIntake(tok, opts); err != nil {
			b.Fatal(err)
		}
	}, func() {
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		if !hmac.Equal(m.Sum(nil), sig) {
			b.Fatal("bad mac")
		}
	})
}
